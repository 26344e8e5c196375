"""SplineGate alone, and the protocol gates (SplineGate, MLPGate) inside the
estimators."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.utils._param_validation import InvalidParameterError

from skmoe import (
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
    MLPGate,
    SplineGate,
)
from skmoe._gate import SoftmaxGate
from skmoe._kernels import _numba, _xp
from skmoe.datasets import load_mcycle


def _softmax(logits):
    return np.exp(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))


def additive_targets(n_samples, seed=0):
    """Soft targets of an additive gate: a disc against a band in x0."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n_samples, 2))
    logits = np.column_stack(
        [np.zeros(n_samples), 3 * (1 - np.sum(X**2, axis=1)), np.sin(2 * X[:, 0])]
    )
    return X, _softmax(logits), rng.uniform(0.5, 1.5, n_samples)


def disc_regimes(n_samples, seed):
    """Two linear regressions whose regime is the disc x0^2 + x1^2 < 1."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n_samples, 2))
    inside = np.sum(X**2, axis=1) < 1
    mean = np.where(inside, 3 - 2 * X[:, 1], -1 + X[:, 0] + X[:, 1])
    return X, mean + 0.2 * rng.randn(n_samples), inside


def cross_entropy(proba, targets, sample_weight):
    return sample_weight @ np.sum(targets * np.log(proba), axis=1) / sample_weight.sum()


def test_fits_additive_soft_targets_to_their_optimum():
    """Targets drawn from an additive gate: the fit reaches their entropy
    (the optimum) closely, which a linear softmax cannot."""
    X, targets, weight = additive_targets(3000)
    gate = SplineGate(n_knots=8).fit(X, targets, weight)
    proba = gate.predict_proba(X)
    floor = cross_entropy(targets, targets, weight)
    assert floor - cross_entropy(proba, targets, weight) < 0.01
    assert np.max(np.abs(proba - targets)) < 0.1
    linear = LogisticRegression(C=1e4).fit(
        np.repeat(X, 3, axis=0),
        np.tile(np.arange(3), len(X)),
        sample_weight=(targets * weight[:, None]).ravel(),
    )
    assert floor - cross_entropy(linear.predict_proba(X), targets, weight) > 0.1


def test_m_step_never_lowers_the_objective_and_backends_agree():
    X, targets, weight = additive_targets(1000)
    values = {}
    for kernels in (_xp, _numba):
        gate = SplineGate().initialize(3, 2)
        path = []
        for _ in range(6):
            gate.m_step(X, targets, weight, kernels)
            path.append(cross_entropy(gate.predict_proba(X), targets, weight))
        assert np.all(np.diff(path) >= -1e-12)
        values[kernels] = gate.predict_proba(X)
    np.testing.assert_allclose(values[_xp], values[_numba], atol=1e-10)


def test_state_pickle_clone_and_keep_experts():
    X, targets, weight = additive_targets(800)
    gate = SplineGate().fit(X, targets, weight)
    assert gate.coef_.shape == (gate.splines_.n_features_out_, 3)
    assert gate.intercept_.shape == (3,)
    assert gate.n_parameters == 2 * (gate.splines_.n_features_out_ + 1)
    restored = pickle.loads(pickle.dumps(gate))
    np.testing.assert_array_equal(restored.predict_proba(X), gate.predict_proba(X))
    assert clone(gate).get_params() == gate.get_params()
    assert not hasattr(clone(gate), "splines_")
    gate.keep_experts(np.array([True, False, True]))
    proba = gate.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_unpenalised_gate_and_pickling_leaves_the_gate_as_it_is():
    X, targets, weight = additive_targets(400)
    unpenalised = SplineGate(C=np.inf).fit(X, targets, weight)
    penalised = SplineGate().fit(X, targets, weight)
    floor = cross_entropy(targets, targets, weight)
    for gate in (unpenalised, penalised):
        assert floor - cross_entropy(gate.predict_proba(X), targets, weight) < 0.02
    gate = SplineGate().initialize(3, 2).m_step(X, targets, weight)
    kept = gate._cache
    pickle.dumps(gate)
    assert gate._cache is kept is not None


def test_full_m_step_converges_beyond_the_newton_budget():
    """Over the full Hessian's budget the solver takes block steps; a full
    M-step still reaches the optimum the full Hessian reaches."""
    X, targets, weight = additive_targets(600)
    design = np.column_stack([X, X**2, np.ones(len(X))])
    mean, scale = np.zeros(4), np.ones(4)
    values = []
    for budget, full in ((1e12, True), (1.0, True), (1.0, False)):
        gate = SoftmaxGate(3, mean, scale, newton_budget=budget)
        gate.m_step(design, targets, weight, _xp, full=full)
        values.append(cross_entropy(np.exp(gate.log_proba(design)), targets, weight))
    optimum, blocks, one_step = values
    assert blocks == pytest.approx(optimum, abs=1e-5)
    assert one_step < optimum - 0.05


def test_cached_design_follows_the_array_contents():
    """The design kept for the training matrix is not reused once its values
    change in place, and the estimators drop it when their fit ends."""
    X, targets, weight = additive_targets(500)
    gate = SplineGate().fit(X, targets, weight)
    X = X.copy()
    before = gate.predict_proba(X)
    X[:, 0] = 0.0
    after = gate.predict_proba(X)
    np.testing.assert_allclose(after, gate.predict_proba(X.copy()))
    assert not np.allclose(before, after)
    X_disc, y, _ = disc_regimes(300, 6)
    moe = MixtureOfExpertsRegressor(n_experts=2, gate=SplineGate(), random_state=0)
    assert moe.fit(X_disc, y).gate_._cache is None


def test_feature_names_and_inputs_unchanged():
    X, targets, weight = additive_targets(300)
    frame = pd.DataFrame(X, columns=["a", "b"])
    copies = X.copy(), targets.copy(), weight.copy()
    gate = SplineGate().fit(frame, targets, weight)
    assert list(gate.feature_names_in_) == ["a", "b"]
    for given, copy in zip((X, targets, weight), copies):
        np.testing.assert_array_equal(given, copy)


def test_bad_parameters_input_and_order():
    X, targets, _ = additive_targets(200)
    for params, name in (({"n_knots": 1}, "n_knots"), ({"C": 0.0}, "C")):
        with pytest.raises(InvalidParameterError, match=name):
            SplineGate(**params).fit(X, targets)
        with pytest.raises(InvalidParameterError, match=name):
            MixtureOfExpertsRegressor(gate=SplineGate(**params)).fit(X, X[:, 0])
    with pytest.raises(NotFittedError, match="initialize"):
        SplineGate().m_step(X, targets)
    gate = SplineGate().initialize(3, 2)
    with pytest.raises(NotFittedError, match="trained"):
        gate.predict_proba(X)
    with pytest.raises(ValueError, match="shape"):
        gate.m_step(X, targets[:, :2])
    with pytest.raises(ValueError, match="non-negative"):
        gate.m_step(X, -targets)
    with pytest.raises(ValueError, match="n_experts"):
        SplineGate().initialize(0, 2)
    with pytest.raises(ValueError, match="n_experts"):
        SplineGate().initialize(True, 2)


def test_spline_gate_finds_a_disc_regime_in_em():
    """The disc regime: the spline gate's fit is far above the linear
    gate's, and it routes the test rows to their regimes."""
    X, y, inside = disc_regimes(1500, 0)
    X_test, y_test, inside_test = disc_regimes(2000, 1)
    fits = {}
    for name, gate in (("spline", SplineGate()), ("linear", None)):
        moe = MixtureOfExpertsRegressor(
            LinearRegression(), 2, gate=gate, n_init=3, random_state=0
        ).fit(X, y)
        # Exact expert M-steps and a gate step that never lowers its
        # objective: the log-likelihood never falls.
        path = np.asarray(moe.log_likelihood_path_)
        assert np.all(np.diff(path) >= -1e-8 * np.abs(path[1:]))
        fits[name] = moe
    spline, linear = fits["spline"], fits["linear"]
    assert spline.log_likelihood_ > linear.log_likelihood_ + 500
    agreement = np.mean(spline.apply(X_test) == inside_test)
    assert max(agreement, 1 - agreement) > 0.97
    assert spline.score(X_test, y_test) > 0.95 > linear.score(X_test, y_test)


@pytest.mark.parametrize(
    "gate", [SplineGate(), MLPGate(hidden_layer_sizes=(8,), random_state=0)]
)
def test_protocol_gates_in_the_regressor(gate):
    """gate_proba, top_k, apply, plotting, bic, pickling and clone."""
    plt = pytest.importorskip("matplotlib.pyplot")
    from skmoe.plotting import plot_gate

    X, y, _ = disc_regimes(600, 2)
    moe = MixtureOfExpertsRegressor(n_experts=2, gate=gate, random_state=0)
    moe.fit(X, y)
    proba = moe.gate_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.isfinite(moe.bic(X, y))
    # top_k=1: each sample goes to the expert apply names.
    routed = pickle.loads(pickle.dumps(moe)).set_params(top_k=1)
    chosen = moe.apply(X)
    expected = np.choose(chosen, [expert.predict(X) for expert in moe.experts_])
    np.testing.assert_allclose(routed.predict(X), expected, rtol=1e-12)
    restored = pickle.loads(pickle.dumps(moe))
    np.testing.assert_array_equal(restored.predict(X), moe.predict(X))
    np.testing.assert_array_equal(restored.apply(X), moe.apply(X))
    assert type(moe.gate_) is type(gate)
    assert not hasattr(gate, "n_experts_")  # the user's gate is not fitted
    ax = plot_gate(moe, X)
    assert ax.images
    plt.close("all")


@pytest.mark.parametrize(
    "gate", [SplineGate(), MLPGate(hidden_layer_sizes=(8,), random_state=0)]
)
def test_protocol_gates_in_the_classifier(gate):
    X, _, inside = disc_regimes(600, 3)
    labels = np.where(inside, X[:, 1] > 0, X[:, 0] > 0).astype(int)
    moe = MixtureOfExpertsClassifier(
        n_experts=2, gate=gate, n_init=3, random_state=0
    ).fit(X, labels)
    assert moe.score(X, labels) > 0.9
    assert moe.gate_proba(X).shape == (len(X), 2)


def test_spline_gate_on_real_data():
    """The motorcycle data (acceleration against time, three regimes): a
    spline gate's regimes are contiguous in time, and its fit is at least
    the linear gate's."""
    X, y = load_mcycle(return_X_y=True)
    fits = [
        MixtureOfExpertsRegressor(n_experts=3, gate=gate, n_init=5, random_state=0).fit(
            X, y
        )
        for gate in (SplineGate(), None)
    ]
    spline, linear = (fit.log_likelihood_ for fit in fits)
    assert spline > linear + 1.0
    labels = fits[0].apply(X)[np.argsort(np.ravel(X))]
    assert np.count_nonzero(np.diff(labels)) <= 8


def test_spline_gate_with_boosting_experts():
    """Flexible experts and a curved boundary: the two-regime disc."""
    X, y, inside = disc_regimes(2000, 4)
    X_test, y_test, _ = disc_regimes(2000, 5)
    expert = HistGradientBoostingRegressor(max_iter=30, random_state=0)
    moe = MixtureOfExpertsRegressor(
        expert, 2, gate=SplineGate(), init="spline", random_state=0
    ).fit(X, y)
    single = clone(expert).fit(X, y)
    agreement = np.mean(moe.apply(X) == inside)
    assert max(agreement, 1 - agreement) > 0.95
    assert moe.score(X_test, y_test) > single.score(X_test, y_test)
