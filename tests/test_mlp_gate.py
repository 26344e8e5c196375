"""MLPGate: the neural gate, alone and inside a small EM loop."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from skmoe._kernels import _mlp_xp, _numba, _xp
from skmoe._mlp_gate import MLPGate, mlp_kernels

BACKENDS = ["numpy", "numba"]


def _softmax(logits):
    return np.exp(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))


def circle_targets(n_samples, seed=0):
    """Soft targets of a gate no linear softmax can draw: a disc against the rest."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n_samples, 2))
    radius2 = np.sum(X**2, axis=1)
    logits = np.column_stack([np.zeros(n_samples), 4 * (1 - radius2), 2 * X[:, 0]])
    sample_weight = rng.uniform(0.5, 1.5, n_samples)
    return X, _softmax(logits), sample_weight


def cross_entropy(log_proba, targets, sample_weight):
    """``sum_i w_i sum_k R_ik log g_ik`` per unit of weight."""
    return sample_weight @ np.sum(targets * log_proba, axis=1) / sample_weight.sum()


@pytest.fixture(scope="module")
def circle():
    return circle_targets(1500)


@pytest.fixture(scope="module")
def fitted(circle):
    X, targets, sample_weight = circle
    return MLPGate(hidden_layer_sizes=(8,), random_state=0).fit(
        X, targets, sample_weight
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_objective_never_decreases(circle, backend):
    X, targets, sample_weight = circle
    gate = MLPGate(max_iter=2, backend=backend, random_state=0)
    gate.initialize(n_experts=3, n_features=2)
    objectives = []
    for _ in range(10):
        gate.m_step(X, targets, sample_weight)
        objectives.append(gate.objective_)
        assert gate.n_iter_ <= 2
    assert np.all(np.diff(objectives) >= 0)
    assert objectives[-1] > objectives[0] + 1.0


def test_objective_is_that_of_the_weights(circle):
    X, targets, sample_weight = circle
    gate = MLPGate(hidden_layer_sizes=(5, 4), activation="tanh", alpha=0.5)
    gate.initialize(3, 2, random_state=1).m_step(X, targets, sample_weight)
    params = _mlp_xp.pack(gate.coefs_, gate.intercepts_)
    weights = params[_mlp_xp.weight_mask((2, 5, 4, 3))]
    expected = sample_weight @ np.sum(
        targets * gate.log_proba(X), axis=1
    ) - 0.25 * np.sum(weights**2)
    assert gate.objective_ == pytest.approx(expected, rel=1e-10)


def test_close_to_entropy_floor_and_beats_linear_softmax(circle):
    X, targets, sample_weight = circle
    # The largest value the cross-entropy can reach: that of the targets.
    floor = cross_entropy(np.log(targets), targets, sample_weight)
    gate = MLPGate(max_iter=300, random_state=0).fit(X, targets, sample_weight)
    neural = cross_entropy(gate.predict_log_proba(X), targets, sample_weight)

    n_experts = targets.shape[1]
    linear = LogisticRegression(C=1e6, max_iter=1000).fit(
        np.tile(X, (n_experts, 1)),
        np.repeat(np.arange(n_experts), X.shape[0]),
        sample_weight=(targets * sample_weight[:, None]).T.ravel(),
    )
    logistic = cross_entropy(linear.predict_log_proba(X), targets, sample_weight)

    assert floor - neural < 0.005  # nats per unit of weight
    assert floor - logistic > 0.15
    # Without hidden layers the gate is that same linear softmax.
    no_hidden = MLPGate(hidden_layer_sizes=(), max_iter=500).fit(
        X, targets, sample_weight
    )
    assert cross_entropy(
        no_hidden.predict_log_proba(X), targets, sample_weight
    ) == pytest.approx(logistic, abs=1e-5)


def test_integer_weights_are_repeated_rows():
    X, targets, _ = circle_targets(60, seed=3)
    counts = np.random.RandomState(4).randint(0, 4, X.shape[0])
    repeated = np.repeat(np.arange(X.shape[0]), counts)
    layer_sizes = (2, 6, 3)
    params = np.random.RandomState(5).randn(_mlp_xp.n_params(layer_sizes))
    mean, scale = _mlp_xp.weighted_standardisation(X, counts.astype(float))
    mean_r, scale_r = _mlp_xp.weighted_standardisation(
        X[repeated], np.ones(repeated.size)
    )
    np.testing.assert_allclose(mean, mean_r, rtol=1e-12)
    np.testing.assert_allclose(scale, scale_r, rtol=1e-12)
    for backend in BACKENDS:
        kernels = mlp_kernels(backend)
        weighted = kernels.mlp_objective(
            X, mean, scale, params, layer_sizes, "relu", targets, counts * 1.0, 0.1
        )
        rows = kernels.mlp_objective(
            X[repeated],
            mean,
            scale,
            params,
            layer_sizes,
            "relu",
            targets[repeated],
            np.ones(repeated.size),
            0.1,
        )
        assert weighted.value == pytest.approx(rows.value, rel=1e-10)
        np.testing.assert_allclose(weighted.gradient, rows.gradient, rtol=1e-10)

    gates = [
        MLPGate(hidden_layer_sizes=(6,), max_iter=20).initialize(3, 2, random_state=0)
        for _ in range(2)
    ]
    gates[0].m_step(X, targets, counts)
    gates[1].m_step(X[repeated], targets[repeated])
    assert gates[0].objective_ == pytest.approx(gates[1].objective_, rel=1e-8)
    np.testing.assert_allclose(
        gates[0].predict_proba(X), gates[1].predict_proba(X), atol=1e-6
    )


def test_backends_agree(circle):
    X, targets, sample_weight = circle
    gates = [
        MLPGate(backend=backend, max_iter=5)
        .initialize(3, 2, random_state=0)
        .m_step(X, targets, sample_weight)
        for backend in BACKENDS
    ]
    np.testing.assert_allclose(
        gates[0].log_proba(X), gates[1].log_proba(X, kernels="numpy"), atol=1e-7
    )
    np.testing.assert_allclose(
        gates[1].log_proba(X, kernels="numba"),
        gates[1].log_proba(X, kernels="numpy"),
        atol=1e-12,
    )
    # The EM loop may pass its own kernel module: the gate's twin is used.
    assert mlp_kernels(_numba).__name__.endswith("_mlp_numba")
    assert mlp_kernels(_xp) is _mlp_xp
    np.testing.assert_array_equal(
        gates[0].log_proba(X, kernels=_xp), gates[0].log_proba(X, kernels="numpy")
    )


def test_probabilities(fitted, circle):
    X = circle[0]
    log_proba = fitted.log_proba(X)
    assert log_proba.shape == (X.shape[0], 3)
    np.testing.assert_allclose(np.logaddexp.reduce(log_proba, axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(fitted.predict_proba(X).sum(axis=1), 1, atol=1e-12)
    np.testing.assert_array_equal(fitted.predict_log_proba(X), log_proba)
    assert fitted.n_experts_ == 3
    assert fitted.n_features_in_ == 2
    assert [coef.shape for coef in fitted.coefs_] == [(2, 8), (8, 3)]
    assert [intercept.shape for intercept in fitted.intercepts_] == [(8,), (3,)]


def test_standardisation_is_fixed_at_the_first_m_step(circle):
    X, targets, sample_weight = circle
    gate = MLPGate(max_iter=2).initialize(3, 2, random_state=0)
    assert gate.feature_mean_ is None
    gate.m_step(X, targets, sample_weight)
    mean, scale = gate.feature_mean_.copy(), gate.feature_scale_.copy()
    np.testing.assert_allclose(mean, np.average(X, axis=0, weights=sample_weight))
    gate.m_step(X[:100] * 10, targets[:100])
    np.testing.assert_array_equal(gate.feature_mean_, mean)
    np.testing.assert_array_equal(gate.feature_scale_, scale)
    gate.initialize(3, 2)
    assert gate.feature_mean_ is None


def test_keep_experts(fitted, circle):
    X = circle[0]
    gate = pickle.loads(pickle.dumps(fitted))
    before = gate.predict_proba(X)
    n_parameters = gate.n_parameters
    keep = np.array([True, False, True])
    assert gate.keep_experts(keep) is gate
    assert gate.n_experts_ == 2
    assert gate.coefs_[-1].shape == (8, 2)
    assert gate.intercepts_[-1].shape == (2,)
    # The kept outputs are unchanged: their probabilities are renormalised.
    expected = before[:, keep] / before[:, keep].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(gate.predict_proba(X), expected, rtol=1e-10)
    assert gate.n_parameters == n_parameters - 9
    gate.m_step(X, expected)  # the next M-step works at the new size
    assert gate.keep_experts(np.array([False, True])).n_parameters == 0
    with pytest.raises(ValueError, match="boolean mask of shape"):
        gate.keep_experts(np.array([1, 0]))
    with pytest.raises(ValueError, match="at least one"):
        gate.keep_experts(np.array([False]))


def test_n_parameters():
    gate = MLPGate(hidden_layer_sizes=(16, 4)).initialize(3, 2)
    # All weights and intercepts but one output unit's (softmax shift).
    assert gate.n_parameters == (2 + 1) * 16 + (16 + 1) * 4 + (4 + 1) * 3 - (4 + 1)
    assert MLPGate(hidden_layer_sizes=()).initialize(3, 2).n_parameters == 2 * 3
    with pytest.raises(NotFittedError):
        MLPGate().n_parameters  # noqa: B018


def test_pickle_round_trip(fitted, circle):
    X, targets, sample_weight = circle
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    # Training continues from the same weights to the same place.
    copy = pickle.loads(pickle.dumps(fitted))
    restored.m_step(X, targets, sample_weight)
    copy.m_step(X, targets, sample_weight)
    np.testing.assert_array_equal(restored.predict_proba(X), copy.predict_proba(X))


def test_repr_and_clone(fitted):
    assert repr(MLPGate()) == "MLPGate()"
    assert repr(MLPGate(alpha=0.1, hidden_layer_sizes=(4,))) == (
        "MLPGate(alpha=0.1, hidden_layer_sizes=(4,))"
    )
    fresh = clone(fitted)
    assert fresh.get_params() == fitted.get_params()
    assert not hasattr(fresh, "coefs_")
    assert MLPGate.uses_design is False


def test_random_state(circle):
    first = MLPGate(random_state=0).initialize(3, 2)
    second = MLPGate(random_state=0).initialize(3, 2)
    other = MLPGate(random_state=0).initialize(3, 2, random_state=1)
    np.testing.assert_array_equal(first.coefs_[0], second.coefs_[0])
    assert not np.array_equal(first.coefs_[0], other.coefs_[0])
    bound = np.sqrt(6 / (2 + 16))
    assert np.all(np.abs(first.coefs_[0]) <= bound)


def test_feature_names(circle):
    X, targets, _ = circle
    frame = pd.DataFrame(X, columns=["a", "b"])
    gate = MLPGate(max_iter=2).fit(frame, targets)
    np.testing.assert_array_equal(gate.feature_names_in_, ["a", "b"])
    with pytest.raises(ValueError, match="feature names"):
        gate.predict_proba(frame[["b", "a"]])


def test_inputs_are_not_modified(circle):
    X, targets, sample_weight = (array.copy() for array in circle)
    gate = MLPGate(max_iter=3).initialize(3, 2, random_state=0)
    gate.m_step(X, targets, sample_weight)
    gate.log_proba(X)
    for array, original in zip((X, targets, sample_weight), circle):
        np.testing.assert_array_equal(array, original)


def test_bad_input(fitted, circle):
    X, targets, _ = circle
    with_nan = X.copy()
    with_nan[3, 1] = np.nan
    gate = pickle.loads(pickle.dumps(fitted))
    with pytest.raises(ValueError, match="NaN"):
        gate.m_step(with_nan, targets)
    with pytest.raises(ValueError, match="NaN"):
        gate.predict_proba(with_nan)
    with pytest.raises(ValueError, match="3 features"):
        gate.predict_proba(np.ones((4, 3)))
    with pytest.raises(ValueError, match="3 features"):
        gate.m_step(np.ones((4, 3)), targets[:4])
    with pytest.raises(ValueError, match="responsibilities must have shape"):
        gate.m_step(X, targets[:, :2])
    with pytest.raises(ValueError, match="non-negative"):
        gate.m_step(X, -targets)
    with pytest.raises(ValueError, match="NaN"):
        gate.m_step(X, np.where(targets > 0.5, np.nan, targets))
    with pytest.raises(ValueError, match="Negative values"):
        gate.m_step(X, targets, -np.ones(X.shape[0]))
    with pytest.raises(ValueError, match="non-zero"):
        gate.m_step(X, targets, np.zeros(X.shape[0]))
    with pytest.raises(ValueError, match="kernels must be"):
        gate.log_proba(X, kernels="cuda")


def test_bad_parameters_and_order():
    with pytest.raises(NotFittedError, match="initialize"):
        MLPGate().m_step(np.ones((3, 2)), np.ones((3, 2)) / 2)
    with pytest.raises(NotFittedError):
        MLPGate().predict_proba(np.ones((3, 2)))
    with pytest.raises(NotFittedError, match="m_step"):
        MLPGate().initialize(2, 2).predict_proba(np.ones((3, 2)))
    with pytest.raises(ValueError, match="alpha"):
        MLPGate(alpha=-1.0).initialize(2, 2)
    with pytest.raises(ValueError, match="activation"):
        MLPGate(activation="sigmoid").initialize(2, 2)
    with pytest.raises(ValueError, match="positive integers"):
        MLPGate(hidden_layer_sizes=(4, 0)).initialize(2, 2)
    with pytest.raises(ValueError, match="n_experts"):
        MLPGate().initialize(0, 2)


# A tiny EM, independent of the estimators: a mixture of two linear
# regressions whose regime is a disc, x0^2 + x1^2 < 1.


def disc_regimes(n_samples, rng):
    X = rng.uniform(-2, 2, size=(n_samples, 2))
    inside = np.sum(X**2, axis=1) < 1
    mean = np.where(inside, 3 - 2 * X[:, 1], -1 + X[:, 0] + X[:, 1])
    return X, mean + 0.2 * rng.randn(n_samples)


def mixture_em(X, y, gate, responsibilities, n_iter):
    """EM: weighted least squares experts, Gaussian noise, ``gate`` as the gate."""
    design = np.column_stack([X, np.ones(X.shape[0])])
    gate.initialize(responsibilities.shape[1], X.shape[1], random_state=0)
    log_likelihood_path = []
    for _ in range(n_iter):
        root = np.sqrt(responsibilities)
        coef = np.column_stack(
            [np.linalg.lstsq(design * r[:, None], y * r, rcond=None)[0] for r in root.T]
        )
        residuals = y[:, None] - design @ coef
        variance = np.sum(responsibilities * residuals**2, axis=0)
        variance = np.maximum(variance / responsibilities.sum(axis=0), 1e-8)
        gate.m_step(X, responsibilities)
        joint = gate.log_proba(X) - 0.5 * (
            np.log(2 * np.pi * variance) + residuals**2 / variance
        )
        log_likelihood = np.logaddexp.reduce(joint, axis=1)
        responsibilities = np.exp(joint - log_likelihood[:, None])
        log_likelihood_path.append(log_likelihood.sum())
    return np.array(log_likelihood_path), coef


def test_em_with_mlp_gate_finds_a_disc_regime():
    rng = np.random.RandomState(0)
    X, y = disc_regimes(1500, rng)
    X_test, y_test = disc_regimes(2000, rng)
    start = rng.dirichlet([1.0, 1.0], size=X.shape[0])
    results = {}
    for name, hidden in (("neural", (16,)), ("linear", ())):
        gate = MLPGate(hidden_layer_sizes=hidden, random_state=0)
        path, coef = mixture_em(X, y, gate, start, n_iter=60)
        # Exact expert M-steps and a gate step that never lowers its
        # objective: the log-likelihood never falls (generalised EM).
        assert np.all(np.diff(path) >= -1e-8 * np.abs(path[1:]))
        design = np.column_stack([X_test, np.ones(X_test.shape[0])])
        prediction = np.sum(gate.predict_proba(X_test) * (design @ coef), axis=1)
        rmse = np.sqrt(np.mean((prediction - y_test) ** 2))
        results[name] = path[-1], rmse
    (neural_ll, neural_rmse), (linear_ll, linear_rmse) = results.values()
    assert neural_ll > linear_ll + 500
    assert neural_rmse < 0.5  # the noise alone gives 0.2
    assert linear_rmse > 3 * neural_rmse
