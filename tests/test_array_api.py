"""The array-API path, run on the CPU with array-api-strict.

array-api-strict refuses anything outside the standard (no numpy calls on
its arrays, no mixing of devices), and simulates a second device: if the
estimators work there, they work on CuPy. Fits in the input's namespace must
give the numpy fit's numbers to 1e-6.
"""

import array_api_strict as xps
import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, _backend
from skmoe._kernels import _xp
from skmoe.datasets import make_moe_classification

StrictArray = type(xps.asarray(0.0))

DEVICES = ["CPU_DEVICE", "device1"]


def _on(X, device):
    return xps.asarray(np.asarray(X, dtype=np.float64), device=xps.Device(device))


def _host(array):
    return np.asarray(xps.asarray(array, device=xps.Device("CPU_DEVICE")))


def _assert_on(array, device):
    assert isinstance(array, StrictArray)
    assert array.device == xps.Device(device)


def _fit_both(estimator, X, y, device):
    """The estimator fitted on numpy, and a clone fitted on ``device``."""
    reference = sklearn.clone(estimator).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        fitted = sklearn.clone(estimator).fit(_on(X, device), _on(y, device))
    return reference, fitted


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("expert", [None, Ridge(alpha=2.0)])
def test_regressor_in_the_input_namespace_matches_numpy(mcycle, device, expert):
    X, y = mcycle
    estimator = MixtureOfExpertsRegressor(expert, n_experts=3, random_state=0)
    reference, fitted = _fit_both(estimator, X, y, device)
    assert fitted.log_likelihood_ == pytest.approx(reference.log_likelihood_, rel=1e-6)
    for name in ("noise_variance_", "expert_weights_", "log_likelihood_path_"):
        _assert_on(getattr(fitted, name), device)
        np.testing.assert_allclose(
            _host(getattr(fitted, name)), getattr(reference, name), rtol=1e-6
        )
    X_device = _on(X, device)
    with sklearn.config_context(array_api_dispatch=True):
        mean, std = fitted.predict(X_device, return_std=True)
        gate = fitted.gate_proba(X_device)
        per_sample = fitted.log_likelihood(X_device, _on(y, device))
        score = fitted.score(X_device, _on(y, device))
        fitted.top_k = 1
        routed = fitted.predict(X_device)
    for array in (mean, std, gate, per_sample, routed):
        _assert_on(array, device)
    expected_mean, expected_std = reference.predict(X, return_std=True)
    np.testing.assert_allclose(_host(mean), expected_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_host(std), expected_std, rtol=1e-6)
    np.testing.assert_allclose(_host(gate), reference.gate_proba(X), atol=1e-6)
    np.testing.assert_allclose(_host(per_sample), reference.log_likelihood(X, y))
    assert score == pytest.approx(reference.score(X, y), rel=1e-6)
    reference.top_k = 1
    np.testing.assert_allclose(_host(routed), reference.predict(X), atol=1e-6)
    # The experts are genuine fitted estimators, their weights on the device.
    _assert_on(fitted.experts_[0].coef_, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_in_the_input_namespace_matches_numpy(device, n_classes):
    X, y = make_moe_classification(n_samples=400, n_classes=n_classes, random_state=0)
    estimator = MixtureOfExpertsClassifier(n_experts=2, random_state=0)
    reference = sklearn.clone(estimator).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        fitted = sklearn.clone(estimator).fit(_on(X, device), xps.asarray(y))
        proba = fitted.predict_proba(_on(X, device))
        log_proba = fitted.predict_log_proba(_on(X, device))
        labels = fitted.predict(_on(X, device))
    assert fitted.log_likelihood_ == pytest.approx(reference.log_likelihood_, rel=1e-6)
    for array in (proba, log_proba, labels):
        _assert_on(array, device)
    np.testing.assert_allclose(_host(proba), reference.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(
        _host(log_proba), reference.predict_log_proba(X), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_array_equal(_host(labels), reference.predict(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_generic_experts_get_host_copies(mcycle):
    """Trees take numpy: they are fitted on host copies, the rest stays on device."""
    X, y = mcycle
    estimator = MixtureOfExpertsRegressor(
        DecisionTreeRegressor(max_depth=3), n_experts=2, max_iter=10, random_state=0
    )
    reference, fitted = _fit_both(estimator, X, y, "device1")
    assert fitted.log_likelihood_ == pytest.approx(reference.log_likelihood_, rel=1e-6)
    _assert_on(fitted.noise_variance_, "device1")
    with sklearn.config_context(array_api_dispatch=True):
        mean = fitted.predict(_on(X, "device1"))
    _assert_on(mean, "device1")
    np.testing.assert_allclose(_host(mean), reference.predict(X), atol=1e-6)


def test_predict_in_another_namespace_is_refused(mcycle):
    X, y = mcycle
    with sklearn.config_context(array_api_dispatch=True):
        fitted = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(
            _on(X, "device1"), _on(y, "device1")
        )
        with pytest.raises(ValueError, match="same namespace"):
            fitted.predict(X)


def test_array_api_support_tag_follows_the_experts():
    assert MixtureOfExpertsRegressor().__sklearn_tags__().array_api_support
    assert MixtureOfExpertsClassifier().__sklearn_tags__().array_api_support
    generic = MixtureOfExpertsRegressor(DecisionTreeRegressor())
    assert not generic.__sklearn_tags__().array_api_support
    gated = MixtureOfExpertsClassifier(gate=DecisionTreeRegressor())
    assert not gated.__sklearn_tags__().array_api_support


@pytest.fixture
def strict_gpu(monkeypatch):
    """Make backend="cupy" compute on array-api-strict's second device."""
    calls = []

    def device_namespace():
        return xps, xps.Device("device1")

    def e_step(log_gate, log_expert, sample_weight):
        calls.append(log_gate.device)
        return original(log_gate, log_expert, sample_weight)

    original = _xp.e_step
    monkeypatch.setattr(_backend, "device_namespace", device_namespace)
    monkeypatch.setattr(_xp, "e_step", e_step)
    return calls


@pytest.mark.parametrize(
    "estimator, data",
    [
        (MixtureOfExpertsRegressor(n_experts=3, random_state=0), "mcycle"),
        (
            MixtureOfExpertsClassifier(
                LogisticRegression(C=10.0), n_experts=2, random_state=0
            ),
            "classes",
        ),
    ],
)
def test_gpu_backend_trains_on_the_device_and_predicts_on_the_host(
    strict_gpu, mcycle, estimator, data
):
    if data == "mcycle":
        X, y = mcycle
    else:
        X, y = make_moe_classification(n_samples=300, n_classes=3, random_state=1)
    reference = sklearn.clone(estimator).set_params(backend="numpy").fit(X, y)
    strict_gpu.clear()
    fitted = sklearn.clone(estimator).set_params(backend="cupy").fit(X, y)
    # EM ran on the device ...
    assert strict_gpu and set(strict_gpu) == {xps.Device("device1")}
    # ... and the fitted model is back on the host, equal to the numpy fit.
    assert isinstance(fitted.expert_weights_, np.ndarray)
    assert isinstance(fitted.experts_[0].coef_, np.ndarray)
    assert fitted.log_likelihood_ == pytest.approx(reference.log_likelihood_, rel=1e-6)
    if data == "mcycle":
        np.testing.assert_allclose(fitted.predict(X), reference.predict(X), atol=1e-6)
    else:
        np.testing.assert_allclose(
            fitted.predict_proba(X), reference.predict_proba(X), atol=1e-6
        )
    # warm_start continues on the device from the host model.
    strict_gpu.clear()
    fitted.set_params(warm_start=True, max_iter=2).fit(X, y)
    assert strict_gpu and isinstance(fitted.expert_weights_, np.ndarray)


def test_kernels_on_a_device_match_numpy():
    rng = np.random.RandomState(0)
    n, p, K = 200, 4, 3
    design = np.column_stack([rng.randn(n, p - 1), np.ones(n)])
    coef, y = rng.randn(p, K), rng.randn(n)
    responsibilities = rng.dirichlet(np.ones(K), size=n)
    weight = rng.uniform(0.5, 2.0, size=n)
    variance = rng.uniform(0.5, 2.0, size=K)
    pairs = np.array([(k, j) for k in range(K) for j in range(k + 1)])
    penalty = np.append(np.full(p - 1, 0.1), 0.0)
    numpy_args = (design, coef, y, responsibilities, weight, variance)
    device_args = [_on(array, "device1") for array in numpy_args]

    def results(design, coef, y, responsibilities, weight, variance):
        log_gate = _xp.linear_log_softmax(design, coef)
        log_expert = _xp.gaussian_log_density(design, coef, y, variance)
        return [
            *_xp.e_step(log_gate, log_expert, weight),
            *_xp.weighted_normal_equations(design, y, responsibilities, weight),
            _xp.multinomial_objective(design, coef, responsibilities, weight, penalty),
            *_xp.multinomial_gradient_curvature(
                design, coef, responsibilities, weight, pairs
            ),
        ]

    expected = results(*numpy_args)
    for got, want in zip(results(*device_args), expected, strict=True):
        if isinstance(want, float):
            assert isinstance(got, float)
            assert got == pytest.approx(want, rel=1e-12)
        else:
            _assert_on(got, "device1")
            np.testing.assert_allclose(_host(got), want, rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_gpu_backend_with_tree_experts_and_a_classifier_gate(strict_gpu, mcycle):
    """Experts and gates that take numpy only work on host copies."""
    X, y = mcycle
    estimator = MixtureOfExpertsRegressor(
        DecisionTreeRegressor(max_depth=2),
        n_experts=2,
        gate=DecisionTreeClassifier(max_depth=3, random_state=0),
        max_iter=5,
        random_state=0,
    )
    reference = sklearn.clone(estimator).set_params(backend="numpy").fit(X, y)
    fitted = sklearn.clone(estimator).set_params(backend="cupy", warm_start=True)
    fitted.fit(X, y)
    assert fitted.log_likelihood_ == pytest.approx(reference.log_likelihood_, rel=1e-6)
    fitted.fit(X, y)  # warm start: the trees stay numpy estimators
    assert isinstance(fitted.experts_[0].tree_.value, np.ndarray)
    np.testing.assert_allclose(fitted.predict(X), fitted.predict(X.copy()))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_classifier_with_tree_experts_and_string_labels_on_a_device():
    X, y = make_moe_classification(n_samples=300, n_classes=3, random_state=2)
    labels = np.array(["low", "mid", "high"])[y]
    estimator = MixtureOfExpertsClassifier(
        DecisionTreeClassifier(max_depth=2, random_state=0),
        n_experts=2,
        max_iter=5,
        random_state=0,
    )
    reference = sklearn.clone(estimator).fit(X, labels)
    with sklearn.config_context(array_api_dispatch=True):
        fitted = sklearn.clone(estimator).fit(_on(X, "device1"), labels)
        proba = fitted.predict_proba(_on(X, "device1"))
        predicted = fitted.predict(_on(X, "device1"))
    _assert_on(proba, "device1")
    np.testing.assert_allclose(_host(proba), reference.predict_proba(X), atol=1e-6)
    # String labels cannot live on a device: they come back as numpy.
    np.testing.assert_array_equal(predicted, reference.predict(X))


def test_bic_warm_start_and_gate_weights_on_a_device(mcycle):
    X, y = mcycle
    estimator = MixtureOfExpertsRegressor(n_experts=3, random_state=0)
    reference, fitted = _fit_both(estimator, X, y, "device1")
    X_device, y_device = _on(X, "device1"), _on(y, "device1")
    with sklearn.config_context(array_api_dispatch=True):
        assert fitted.bic(X_device, y_device) == pytest.approx(reference.bic(X, y))
        assert fitted.aic(X_device, y_device) == pytest.approx(reference.aic(X, y))
        _assert_on(fitted.gate_.coef_, "device1")
        np.testing.assert_allclose(
            _host(fitted.gate_.coef_), reference.gate_.coef_, rtol=1e-6, atol=1e-9
        )
        for model, data in ((fitted, (X_device, y_device)), (reference, (X, y))):
            model.set_params(warm_start=True, max_iter=3).fit(*data)
    assert fitted.log_likelihood_ == pytest.approx(reference.log_likelihood_, rel=1e-6)
    _assert_on(fitted.noise_variance_, "device1")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_partial_fit_refuses_device_input(mcycle):
    from sklearn.linear_model import SGDRegressor

    X, y = mcycle
    online = MixtureOfExpertsRegressor(SGDRegressor(), n_experts=2, max_iter=2)
    with sklearn.config_context(array_api_dispatch=True):
        with pytest.raises(TypeError, match="partial_fit takes numpy"):
            online.partial_fit(_on(X, "device1"), _on(y, "device1"))
            online.partial_fit(_on(X, "device1"), _on(y, "device1"))


def test_gpu_backend_with_string_labels(strict_gpu):
    X, y = make_moe_classification(n_samples=300, n_classes=3, random_state=3)
    labels = np.array(["a", "b", "c"])[y]
    reference = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, labels)
    fitted = MixtureOfExpertsClassifier(n_experts=2, random_state=0, backend="cupy")
    fitted.fit(X, labels)
    assert strict_gpu
    np.testing.assert_array_equal(fitted.predict(X), reference.predict(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_dead_expert_removal_on_a_device(mcycle):
    X, y = mcycle
    init = np.full((len(y), 3), 0.5)
    init[:, 2] = 0.0  # an expert nobody is responsible for
    init[X[:, 0] > 25, 0] = 0.0
    estimator = MixtureOfExpertsRegressor(n_experts=3, init=init, max_iter=20)
    reference, fitted = _fit_both(estimator, X, y, "device1")
    assert fitted.n_experts_ == reference.n_experts_ == 2
    assert fitted.log_likelihood_ == pytest.approx(reference.log_likelihood_, rel=1e-6)
    _assert_on(fitted.expert_weights_, "device1")
    assert fitted.expert_weights_.shape == (2,)
