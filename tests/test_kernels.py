"""Every numba kernel agrees with its numpy twin."""

import numpy as np
import pytest
from scipy.special import gammaln

from skmoe._kernels import _numba, _tiles, _xp


@pytest.fixture(params=[(1, 1, 1), (7, 2, 3), (3000, 5, 4)], ids=str)
def arrays(request):
    n_samples, n_features, n_experts = request.param
    rng = np.random.RandomState(n_samples)
    design = np.column_stack([rng.randn(n_samples, n_features), np.ones(n_samples)])
    coef = rng.randn(n_features + 1, n_experts) * 3
    responsibilities = rng.dirichlet(np.ones(n_experts), size=n_samples)
    sample_weight = rng.uniform(0, 2, n_samples)
    sample_weight[::5] = 0.0
    y = rng.randn(n_samples) * 10
    return design, coef, responsibilities, sample_weight, y


def test_linear_log_softmax(arrays):
    design, coef, *_ = arrays
    np.testing.assert_allclose(
        _numba.linear_log_softmax(design, coef),
        _xp.linear_log_softmax(design, coef),
        rtol=1e-12,
        atol=1e-12,
    )


def test_e_step(arrays):
    design, coef, _, sample_weight, y = arrays
    log_gate = _xp.linear_log_softmax(design, coef)
    log_expert = _xp.gaussian_log_density(
        design, coef[:, ::-1].copy(), y, np.ones(coef.shape[1])
    )
    expected = _xp.e_step(log_gate.copy(), log_expert, sample_weight)
    got = _numba.e_step(log_gate.copy(), log_expert, sample_weight)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-12)
    assert got[2] == pytest.approx(expected[2], rel=1e-12)
    np.testing.assert_allclose(got[0].sum(axis=1), 1.0)


def test_weighted_normal_equations(arrays):
    design, _, responsibilities, sample_weight, y = arrays
    args = (design, y, responsibilities, sample_weight)
    for got, expected in zip(
        _numba.weighted_normal_equations(*args), _xp.weighted_normal_equations(*args)
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-9)


def test_multinomial_kernels(arrays):
    design, coef, responsibilities, sample_weight, _ = arrays
    penalty = np.append(np.full(design.shape[1] - 1, 0.3), 0.0)
    args = (design, coef, responsibilities, sample_weight)
    assert _numba.multinomial_objective(*args, penalty) == pytest.approx(
        _xp.multinomial_objective(*args, penalty), rel=1e-11
    )
    n_columns = coef.shape[1]
    diagonal = np.column_stack([np.arange(n_columns)] * 2)
    every = [(k, j) for k in range(1, n_columns) for j in range(1, k + 1)]
    for pairs in [diagonal, np.array(every, dtype=np.int64).reshape(-1, 2)]:
        for got, expected in zip(
            _numba.multinomial_gradient_curvature(*args, pairs),
            _xp.multinomial_gradient_curvature(*args, pairs),
        ):
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "Estimator", ["MixtureOfExpertsRegressor", "MixtureOfExpertsClassifier"]
)
def test_backends_fit_the_same_model(Estimator):
    import skmoe
    from skmoe.datasets import make_moe_regression

    X, y = make_moe_regression(n_samples=400, random_state=0)
    if Estimator == "MixtureOfExpertsClassifier":
        y = (y > np.median(y)).astype(int)
    fits = {
        backend: getattr(skmoe, Estimator)(
            n_experts=3, backend=backend, random_state=0
        ).fit(X, y)
        for backend in ["numpy", "numba"]
    }
    assert fits["numpy"].n_iter_ == fits["numba"].n_iter_
    assert fits["numpy"].log_likelihood_ == pytest.approx(
        fits["numba"].log_likelihood_, rel=1e-8
    )
    np.testing.assert_allclose(
        fits["numpy"].predict(X), fits["numba"].predict(X), rtol=1e-6
    )


def test_auto_backend_picks_numba():
    from skmoe._backend import get_kernels, resolve_backend

    assert resolve_backend("auto") == "numba"
    assert get_kernels("numba") is _numba
    assert get_kernels("numpy") is _xp


@pytest.mark.parametrize("update", [False, True])
def test_em_pass(arrays, update):
    design, coef, responsibilities, sample_weight, y = arrays
    n_experts = coef.shape[1]
    expert_coef = coef[:, ::-1].copy()
    variance = np.linspace(0.5, 2.0, n_experts)
    every = [(k, j) for k in range(n_experts) for j in range(k + 1)]
    pairs = np.array(every, dtype=np.int64).reshape(-1, 2)
    results = {}
    for name, kernels in [("numpy", _xp), ("numba", _numba)]:
        out = np.full_like(responsibilities, np.nan) if update else None
        stats = kernels.em_pass(
            design,
            y,
            sample_weight,
            coef,
            expert_coef,
            variance,
            responsibilities,
            out,
            pairs,
        )
        results[name] = (out, stats)
    (out_xp, expected), (out_nb, got) = results["numpy"], results["numba"]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    if update:
        np.testing.assert_allclose(out_nb, out_xp, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(out_nb.sum(axis=1), 1.0)
        # The E-step of the pass is the E-step kernel's.
        log_gate = _xp.linear_log_softmax(design, coef)
        log_expert = _xp.gaussian_log_density(design, expert_coef, y, variance)
        reference = _xp.e_step(log_gate, log_expert, sample_weight)
        np.testing.assert_allclose(out_xp, reference[0], rtol=1e-12, atol=1e-300)
        assert expected[0] == pytest.approx(reference[2], rel=1e-12)
        # The normal equations are those of the new responsibilities.
        grams, moments = _xp.weighted_normal_equations(design, y, out_xp, sample_weight)
        np.testing.assert_allclose(expected[5], grams, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(expected[6], moments, rtol=1e-12, atol=1e-12)
    else:
        assert expected[0] == expected[1] == 0.0
        value, gradient, curvature = _xp.multinomial_gradient_curvature(
            design, coef, responsibilities, sample_weight, pairs
        )
        assert expected[2] == pytest.approx(value, rel=1e-12)
        np.testing.assert_allclose(expected[3], gradient, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(expected[4], curvature, rtol=1e-12, atol=1e-12)
    weights = (responsibilities if not update else out_xp) * sample_weight[:, None]
    np.testing.assert_allclose(expected[7], y**2 @ weights, rtol=1e-12)
    np.testing.assert_allclose(expected[8], weights.sum(axis=0), rtol=1e-12)


def test_fast_exp():
    # The vectorisable exp of the fused pass; its twin is np.exp (0 below the
    # cutoff, where np.exp gives at most 1e-130; exp(709) above 709).
    rng = np.random.RandomState(0)
    values = np.concatenate(
        [
            -rng.exponential(20.0, 5000),
            rng.uniform(0, 709, 5000),
            [0.0, -1e-300, -299.9, 708.99],
        ]
    )
    got = _tiles.fast_exp_array(values)
    np.testing.assert_allclose(got, np.exp(values), rtol=4e-16, atol=0)
    below = np.array([-300.5, -700.0, -1e4, -np.inf])
    np.testing.assert_array_equal(_tiles.fast_exp_array(below), 0.0)
    assert np.all(np.exp(below) < 1e-130)
    above = _tiles.fast_exp_array(np.array([709.5, 1e4, np.inf]))
    np.testing.assert_allclose(above, np.exp(709.0), rtol=4e-16)


@pytest.mark.parametrize("n_gate_features", [0, 2])
@pytest.mark.parametrize("update", [False, True])
def test_em_pass_with_its_own_gate_design(arrays, update, n_gate_features):
    # gate_features / expert_features: the gate reads its own design.
    design, coef, responsibilities, sample_weight, y = arrays
    n_samples, n_experts = responsibilities.shape
    rng = np.random.RandomState(1)
    gate_design = np.column_stack(
        [rng.randn(n_samples, n_gate_features), np.ones(n_samples)]
    )
    gate_coef = rng.randn(n_gate_features + 1, n_experts)
    variance = np.linspace(0.5, 2.0, n_experts)
    every = [(k, j) for k in range(n_experts) for j in range(k + 1)]
    pairs = np.array(every, dtype=np.int64).reshape(-1, 2)
    results = {}
    for name, kernels in [("numpy", _xp), ("numba", _numba)]:
        out = np.full_like(responsibilities, np.nan) if update else None
        stats = kernels.em_pass(
            design,
            y,
            sample_weight,
            gate_coef,
            coef,
            variance,
            responsibilities,
            out,
            pairs,
            gate_design=gate_design,
        )
        results[name] = (out, stats)
    (out_xp, expected), (out_nb, got) = results["numpy"], results["numba"]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    current = responsibilities
    if update:
        np.testing.assert_allclose(out_nb, out_xp, rtol=1e-10, atol=1e-14)
        log_gate = _xp.linear_log_softmax(gate_design, gate_coef)
        log_expert = _xp.gaussian_log_density(design, coef, y, variance)
        reference = _xp.e_step(log_gate, log_expert, sample_weight)
        np.testing.assert_allclose(out_xp, reference[0], rtol=1e-12, atol=1e-300)
        current = out_xp
    value, gradient, curvature = _xp.multinomial_gradient_curvature(
        gate_design, gate_coef, current, sample_weight, pairs
    )
    assert expected.gate_value == pytest.approx(value, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(expected.gate_gradient, gradient, atol=1e-10)
    np.testing.assert_allclose(expected.gate_curvature, curvature, atol=1e-10)
    grams, moments = _xp.weighted_normal_equations(design, y, current, sample_weight)
    np.testing.assert_allclose(expected.grams, grams, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(expected.moments, moments, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("family", ["gaussian", "poisson", "gamma"])
def test_pass_responsibilities(arrays, family):
    # The E-step of em_pass alone: the twins agree, and each writes what its
    # em_pass writes (the numba twin to the bit).
    design, coef, responsibilities, sample_weight, y = arrays
    n_experts = coef.shape[1]
    expert_coef = coef[:, ::-1].copy()
    if family != "gaussian":
        expert_coef *= 0.3
        y = np.random.RandomState(4).gamma(2.0, 1.5, len(y))
    dispersion = np.linspace(0.5, 2.0, n_experts)
    results = {}
    for name, kernels in [("numpy", _xp), ("numba", _numba)]:
        out = np.full_like(responsibilities, np.nan)
        got = kernels.pass_responsibilities(
            design, y, coef, expert_coef, dispersion, out, family=family
        )
        assert got is out
        passed = np.full_like(responsibilities, np.nan)
        kernels.em_pass(
            design,
            y,
            sample_weight,
            coef,
            expert_coef,
            dispersion,
            responsibilities,
            passed,
            np.zeros((0, 2), dtype=np.int64),
            family=family,
        )
        results[name] = out, passed
    (numpy_out, numpy_pass), (numba_out, numba_pass) = results.values()
    np.testing.assert_allclose(numba_out, numpy_out, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(numpy_out, numpy_pass, rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(numba_out, numba_pass)
    np.testing.assert_allclose(numba_out.sum(axis=1), 1.0)


@pytest.mark.parametrize("family", ["poisson", "gamma"])
@pytest.mark.parametrize("update", [False, True])
def test_em_pass_log_link(arrays, family, update):
    # Poisson and Gamma experts: the twins agree, the E-step is the
    # families' own densities, and the sums are one IRLS step's.
    from skmoe._families import GammaFamily, PoissonFamily

    design, coef, responsibilities, sample_weight, _ = arrays
    n_samples, n_experts = responsibilities.shape
    rng = np.random.RandomState(2)
    expert_coef = 0.3 * coef[:, ::-1]
    expert_coef[-1] += 1.0
    if family == "poisson":
        y = rng.poisson(3.0, n_samples).astype(float)
        model = PoissonFamily()
    else:
        y = rng.gamma(2.0, 1.5, n_samples)
        model = GammaFamily()
    dispersion = np.linspace(0.3, 1.2, n_experts)
    every = [(k, j) for k in range(n_experts) for j in range(k + 1)]
    pairs = np.array(every, dtype=np.int64).reshape(-1, 2)
    results = {}
    for name, kernels in [("numpy", _xp), ("numba", _numba)]:
        out = np.full_like(responsibilities, np.nan) if update else None
        stats = kernels.em_pass(
            design,
            y,
            sample_weight,
            coef,
            expert_coef,
            dispersion,
            responsibilities,
            out,
            pairs,
            family=family,
            log_target=np.log(y) if family == "gamma" else None,
        )
        results[name] = (out, stats)
    (out_xp, expected), (out_nb, got) = results["numpy"], results["numba"]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    mean = np.exp(design @ expert_coef)
    log_density = model.log_density(y, mean, dispersion)
    # The terms of the targets alone, left out of the pass.
    alone = -gammaln(y + 1) if family == "poisson" else -np.log(y)
    constant, multiplier = _xp.expert_terms(family, dispersion)
    fit = (log_density - alone[:, None] - constant) / multiplier
    current = responsibilities
    if update:
        np.testing.assert_allclose(out_nb, out_xp, rtol=1e-10, atol=1e-14)
        log_gate = _xp.linear_log_softmax(design, coef)
        reference = _xp.e_step(log_gate, log_density, sample_weight)
        np.testing.assert_allclose(out_xp, reference[0], rtol=1e-10, atol=1e-300)
        assert expected.log_likelihood + sample_weight @ alone == pytest.approx(
            reference[2], rel=1e-12
        )
        np.testing.assert_allclose(
            expected.previous_expert_value,
            sample_weight @ (responsibilities * fit),
            rtol=1e-10,
        )
        current = out_xp
    weights = current * sample_weight[:, None]
    np.testing.assert_allclose(expected.totals, weights.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        expected.expert_value, np.sum(weights * fit, axis=0), rtol=1e-10
    )
    # One Newton step of each expert's weighted GLM: grams @ (new - coef) is
    # the gradient of sum_i w R_ik fit_ik at expert_coef, the grams its
    # negated Hessian (w R mu for Poisson, w R y / mu for Gamma).
    if family == "poisson":
        working, residual = weights * mean, weights * (y[:, None] - mean)
    else:
        working, residual = (
            weights * y[:, None] / mean,
            weights * (y[:, None] / mean - 1),
        )
    for k in range(n_experts):
        grams = design.T @ (design * working[:, k : k + 1])
        np.testing.assert_allclose(expected.grams[k], grams, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(
            expected.moments[:, k],
            grams @ expert_coef[:, k] + design.T @ residual[:, k],
            rtol=1e-10,
            atol=1e-10,
        )


def test_em_pass_gamma_computes_log_target_when_not_given(arrays):
    design, coef, responsibilities, sample_weight, _ = arrays
    y = np.random.RandomState(3).gamma(2.0, 1.5, len(sample_weight))
    dispersion = np.linspace(0.3, 1.2, coef.shape[1])
    for kernels in (_xp, _numba):
        passes = [
            kernels.em_pass(
                design,
                y,
                sample_weight,
                coef,
                0.3 * coef,
                dispersion,
                responsibilities,
                np.empty_like(responsibilities),
                [],
                family="gamma",
                log_target=log_target,
            )  # fmt: skip
            for log_target in (None, np.log(y))
        ]
        for a, b in zip(*passes):
            np.testing.assert_array_equal(a, b)
