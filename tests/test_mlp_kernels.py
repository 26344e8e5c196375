"""The neural gate's numba kernels agree with their numpy twins; gradients are right."""

import numba
import numpy as np
import pytest

from skmoe._kernels import _mlp_numba, _mlp_xp

# (n rows, n features, hidden layer sizes, n experts, activation)
SHAPES = [
    (1, 1, (1,), 2, "relu"),
    (1, 1, (1,), 2, "tanh"),
    (7, 3, (5,), 3, "relu"),
    (9, 2, (), 4, "relu"),
    (40, 4, (6, 3), 3, "tanh"),
    (1100, 5, (8, 4), 4, "relu"),
]


def _problem(n_samples, n_features, hidden, n_experts, seed=0):
    rng = np.random.RandomState(seed + n_samples)
    X = rng.randn(n_samples, n_features) * 3 + 1
    mean = X.mean(axis=0)
    scale = rng.uniform(0.5, 4, n_features)
    layer_sizes = (n_features, *hidden, n_experts)
    params = rng.randn(_mlp_xp.n_params(layer_sizes))
    targets = rng.dirichlet(np.ones(n_experts), size=n_samples)
    row_weight = rng.uniform(0, 2, n_samples)
    row_weight[::5] = 0.0
    return X, mean, scale, params, layer_sizes, targets, row_weight


@pytest.fixture(params=SHAPES, ids=str)
def problem(request):
    *shape, activation = request.param
    return (*_problem(*shape), activation)


def test_log_softmax_twins_agree(problem):
    X, mean, scale, params, layer_sizes, _, _, activation = problem
    args = (X, mean, scale, params, layer_sizes, activation)
    expected = _mlp_xp.mlp_log_softmax(*args)
    got = _mlp_numba.mlp_log_softmax(*args)
    assert got.shape == (X.shape[0], layer_sizes[-1])
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.logaddexp.reduce(got, axis=1), 0.0, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_objective_twins_agree(problem, alpha):
    X, mean, scale, params, layer_sizes, targets, row_weight, activation = problem
    args = (X, mean, scale, params, layer_sizes, activation, targets, row_weight, alpha)
    expected = _mlp_xp.mlp_objective(*args)
    got = _mlp_numba.mlp_objective(*args)
    assert isinstance(got, _mlp_xp.MLPObjective)
    assert isinstance(expected, _mlp_xp.MLPObjective)
    assert got.value == pytest.approx(expected.value, rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(got.gradient, expected.gradient, rtol=1e-10, atol=1e-10)


def test_objective_matches_log_softmax(problem):
    X, mean, scale, params, layer_sizes, targets, row_weight, activation = problem
    log_proba = _mlp_xp.mlp_log_softmax(X, mean, scale, params, layer_sizes, activation)
    alpha = 0.7
    weights = params[_mlp_xp.weight_mask(layer_sizes)]
    expected = row_weight @ np.sum(targets * log_proba, axis=1) - 0.5 * alpha * np.sum(
        weights**2
    )
    for kernels in (_mlp_xp, _mlp_numba):
        value = kernels.mlp_objective(
            X, mean, scale, params, layer_sizes, activation, targets, row_weight, alpha
        ).value
        assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kernels", [_mlp_xp, _mlp_numba], ids=["numpy", "numba"])
@pytest.mark.parametrize("shape", SHAPES[:5], ids=str)
def test_gradient_matches_finite_differences(kernels, shape):
    *shape, activation = shape
    X, mean, scale, params, layer_sizes, targets, row_weight = _problem(*shape, seed=1)
    alpha = 0.2

    def value(theta):
        return kernels.mlp_objective(
            X, mean, scale, theta, layer_sizes, activation, targets, row_weight, alpha
        ).value

    gradient = kernels.mlp_objective(
        X, mean, scale, params, layer_sizes, activation, targets, row_weight, alpha
    ).gradient
    step = 1e-6
    numerical = np.empty_like(params)
    for index in range(params.size):
        shift = np.zeros_like(params)
        shift[index] = step
        numerical[index] = (value(params + shift) - value(params - shift)) / (2 * step)
    np.testing.assert_allclose(gradient, numerical, rtol=1e-5, atol=1e-6)


def test_numba_result_does_not_depend_on_thread_count():
    X, mean, scale, params, layer_sizes, targets, row_weight = _problem(
        3000, 4, (7,), 3
    )
    args = (X, mean, scale, params, layer_sizes, "relu", targets, row_weight, 0.1)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = _mlp_numba.mlp_objective(*args)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        several = _mlp_numba.mlp_objective(*args)
    finally:
        numba.set_num_threads(previous)
    assert single.value == several.value
    np.testing.assert_array_equal(single.gradient, several.gradient)


def test_inputs_are_not_modified():
    X, mean, scale, params, layer_sizes, targets, row_weight = _problem(50, 3, (4,), 3)
    arrays = (X, mean, scale, params, targets, row_weight)
    copies = [array.copy() for array in arrays]
    for kernels in (_mlp_xp, _mlp_numba):
        kernels.mlp_objective(
            X, mean, scale, params, layer_sizes, "tanh", targets, row_weight, 0.1
        )
        kernels.mlp_log_softmax(X, mean, scale, params, layer_sizes, "relu")
    for array, copy in zip(arrays, copies):
        np.testing.assert_array_equal(array, copy)


def test_wrong_parameter_length_is_an_error():
    X, mean, scale, params, layer_sizes, targets, row_weight = _problem(5, 2, (3,), 2)
    for kernels in (_mlp_xp, _mlp_numba):
        with pytest.raises(ValueError, match="params has shape"):
            kernels.mlp_log_softmax(X, mean, scale, params[:-1], layer_sizes, "relu")


def test_pack_unpack_round_trip():
    layer_sizes = (3, 4, 2, 5)
    params = np.arange(_mlp_xp.n_params(layer_sizes), dtype=float)
    layers = _mlp_xp.unpack(params, layer_sizes)
    assert [coef.shape for coef, _ in layers] == [(3, 4), (4, 2), (2, 5)]
    coefs, intercepts = zip(*layers)
    np.testing.assert_array_equal(_mlp_xp.pack(coefs, intercepts), params)
    mask = _mlp_xp.weight_mask(layer_sizes)
    assert mask.sum() == 3 * 4 + 4 * 2 + 2 * 5
