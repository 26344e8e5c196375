"""The engines: the fused one-pass engine against the general one."""

import numpy as np
import pytest
from sklearn.linear_model import GammaRegressor, LinearRegression, PoissonRegressor

from skmoe._em import EMReport, run_em
from skmoe._engines import GeneralEngine, make_training_data
from skmoe._experts import RegressionExperts, make_experts
from skmoe._families import GammaFamily, GaussianFamily, PoissonFamily
from skmoe._fused import FusedEngine
from skmoe._gate import SoftmaxGate
from skmoe._glm import GLMExperts
from skmoe._init import initial_responsibilities
from skmoe._kernels import _numba, _xp
from skmoe._solvers import draw_curvature_sample
from skmoe.datasets import load_nodata, load_patent, make_moe_regression


def _setup(newton_budget, n_experts=3, seed=0):
    X, y = make_moe_regression(
        n_samples=600, n_experts=n_experts, noise=0.3, random_state=seed
    )
    mean, scale = X.mean(axis=0), X.std(axis=0)
    data = make_training_data(X, y, np.ones(len(y)), mean, scale)
    start = initial_responsibilities(
        "random",
        data.design,
        ((y - y.mean()) / y.std())[:, None],
        data.sample_weight,
        n_experts,
        np.random.RandomState(seed),
        [],
    )

    def parts():
        experts = make_experts(LinearRegression(), n_experts, np.random.RandomState(0))
        gate = SoftmaxGate(
            n_experts,
            mean,
            scale,
            C=np.inf,
            raw_units=True,
            newton_budget=newton_budget,
        )
        return experts, gate

    return data, start, parts, GaussianFamily(float(y.std())), (mean, scale)


def _run(engine, start, max_iter):
    return run_em(
        engine,
        start,
        max_iter=max_iter,
        tol=0,
        min_expert_weight=0,
        report=EMReport(0, 0),
    )


@pytest.mark.parametrize("kernels", [_xp, _numba])
def test_fused_engine_equals_the_general_engine(kernels):
    # Full Newton gate steps: the same iterations, in one pass or several.
    data, start, parts, family, (mean, scale) = _setup(np.inf)
    experts, gate = parts()
    general = GeneralEngine(
        data,
        experts,
        gate,
        RegressionExperts("regression", mean, scale),
        family,
        kernels=kernels,
    )
    experts, gate = parts()
    fused = FusedEngine(data, experts, gate, family, mean, scale, kernels=kernels)
    general_run, fused_run = _run(general, start, 15), _run(fused, start, 15)
    np.testing.assert_allclose(fused_run.path, general_run.path, rtol=1e-9)
    np.testing.assert_allclose(fused_run.expert_weights, general_run.expert_weights)
    general_parameters, fused_parameters = general.parameters(), fused.parameters()
    np.testing.assert_allclose(
        fused_parameters.dispersion, general_parameters.dispersion, rtol=1e-7
    )
    for ours, theirs in zip(fused_parameters.experts, general_parameters.experts):
        np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-6, atol=1e-9)


def test_block_newton_gate_steps_never_lower_the_likelihood():
    # The large-data gate step (Newton with the diagonal blocks of the
    # Hessian, curvature reused between refreshes) on small data.
    data, start, parts, family, (mean, scale) = _setup(newton_budget=0)
    experts, gate = parts()
    engine = FusedEngine(data, experts, gate, family, mean, scale, kernels=_numba)
    assert not engine.full
    run = _run(engine, start, 60)
    path = np.asarray(run.path)
    assert np.all(np.diff(path) >= -1e-9 * np.abs(path[1:]))
    assert path[-1] > path[0] + 1.0
    # The fitted parameters give the reported log-likelihood.
    parameters = engine.parameters()
    check = GeneralEngine(
        data,
        parameters.experts,
        parameters.gate,
        RegressionExperts("regression", mean, scale),
        family,
        kernels=_xp,
        dispersion=parameters.dispersion,
    )
    assert check.resume() == pytest.approx(run.log_likelihood, rel=1e-10)


@pytest.mark.parametrize("kernels", [_xp, _numba])
def test_sampled_curvature_reaches_the_exact_newton_optimum(kernels):
    # Past the Newton budget, the gate's full Hessian on a sample of rows:
    # the same optimum as exact Newton, monotone, and in about as many
    # iterations, where diagonal blocks need far more.
    data, start, parts, family, (mean, scale) = _setup(np.inf, seed=1)
    runs = {}
    # Two free gate columns (no penalty, expert 0 the reference).
    sample_budget = 200 * (2 * data.design.shape[1]) ** 2
    for name, budget, rows in [
        ("exact", np.inf, 0),
        ("sampled", sample_budget, 200),
        ("blocks", 0, 0),
    ]:
        experts, gate = parts()
        gate.newton_budget = budget
        engine = FusedEngine(
            data,
            experts,
            gate,
            family,
            mean,
            scale,
            kernels=kernels,
            curvature_rows=rows,
        )
        assert engine.sampled == (name == "sampled")
        assert engine.full == (name == "exact")
        run = run_em(
            engine,
            start,
            max_iter=500,
            tol=1e-10,
            min_expert_weight=0,
            report=EMReport(0, 0),
        )
        path = np.asarray(run.path)
        assert np.all(np.diff(path) >= -1e-9 * np.abs(path[1:]))
        runs[name] = run
    exact, sampled, blocks = runs["exact"], runs["sampled"], runs["blocks"]
    assert sampled.converged and exact.converged
    assert sampled.log_likelihood == pytest.approx(exact.log_likelihood, rel=1e-7)
    assert len(sampled.path) <= 2 * len(exact.path)
    assert len(blocks.path) > len(sampled.path), (len(blocks.path), len(sampled.path))


def test_curvature_sample_rescales_the_weights():
    rng = np.random.default_rng(0)
    design = rng.standard_normal((1000, 3))
    weight = rng.uniform(0.5, 2.0, 1000)
    rows, rescaled = draw_curvature_sample(design, weight, 100, seed=0)
    assert rows.shape == (100, 3)
    assert rescaled.sum() == pytest.approx(weight.sum())
    # Every row of the sample is a row of the design.
    assert np.isin(rows[:, 0], design[:, 0]).all()
    full_rows, full_weight = draw_curvature_sample(design, weight, 5000, seed=0)
    np.testing.assert_array_equal(full_rows, design)
    np.testing.assert_allclose(full_weight, weight)


def _glm_setup(family_name, seed=0):
    """Patent counts (Poisson) or NOdata concentrations (Gamma), K = 2."""
    if family_name == "poisson":
        data = load_patent(as_frame=True)
        X, y = data.data[["lgRD", "RDS"]].to_numpy(), data.target.to_numpy(float)
        expert, family = PoissonRegressor(alpha=0.0), PoissonFamily()
    else:
        data = load_nodata(as_frame=True)
        X, y = data.data.to_numpy(), data.target.to_numpy(float)
        expert, family = GammaRegressor(alpha=0.0), GammaFamily()
    mean, scale = X.mean(axis=0), X.std(axis=0)
    training = make_training_data(X, y, np.ones(len(y)), mean, scale)
    start = np.random.RandomState(seed).dirichlet(np.ones(2), size=len(y))

    def parts():
        experts = make_experts(expert, 2, np.random.RandomState(0))
        gate = SoftmaxGate(2, mean, scale, C=np.inf, raw_units=True)
        return experts, gate

    return training, start, parts, family, (mean, scale)


@pytest.mark.parametrize("kernels", [_xp, _numba])
@pytest.mark.parametrize("family_name", ["poisson", "gamma"])
def test_fused_glm_engine_reaches_the_general_engines_optimum(family_name, kernels):
    # Log-link experts in one pass per iteration (an IRLS step, tested in
    # the next pass): a likelihood that never falls, to the optimum the
    # general engine (GLM experts fitted by fit_glm, then the gate) reaches.
    data, start, parts, family, (mean, scale) = _glm_setup(family_name)
    experts, gate = parts()
    fused = FusedEngine(data, experts, gate, family, mean, scale, kernels=kernels)
    run = _run(fused, start, 400)
    path = np.asarray(run.path)
    assert np.all(np.diff(path) >= -1e-10 * np.abs(path[1:]))
    assert path[-1] > path[0] + 1.0
    experts, gate = parts()
    general = GeneralEngine(
        data,
        experts,
        gate,
        GLMExperts("glm", mean, scale),
        family,
        kernels=kernels,
    )
    reference = _run(general, start, 400)
    assert run.log_likelihood == pytest.approx(reference.log_likelihood, rel=1e-9)
    ours, theirs = fused.parameters(), general.parameters()
    for expert, other in zip(ours.experts, theirs.experts):
        assert type(expert) is type(other)
        np.testing.assert_allclose(expert.coef_, other.coef_, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(
            expert.predict(data.X), other.predict(data.X), rtol=1e-4
        )
    if family_name == "gamma":
        np.testing.assert_allclose(ours.dispersion, theirs.dispersion, rtol=1e-4)
    else:
        assert ours.dispersion is None
    # The fitted parameters give the reported log-likelihood.
    check = GeneralEngine(
        data,
        ours.experts,
        ours.gate,
        GLMExperts("glm", mean, scale),
        family,
        kernels=_xp,
        dispersion=ours.dispersion,
    )
    assert check.resume() == pytest.approx(run.log_likelihood, rel=1e-10)


@pytest.mark.parametrize("family_name", ["poisson", "gamma"])
def test_fused_glm_steps_are_tested_and_halved(family_name):
    # From weights far from the optimum a full IRLS step overshoots; the
    # next pass tests it and halves it: the likelihood never falls.
    data, start, parts, family, (mean, scale) = _glm_setup(family_name)
    experts, gate = parts()
    engine = FusedEngine(data, experts, gate, family, mean, scale, kernels=_numba)
    far = np.zeros((data.design.shape[1], 2))
    far[-1] = -8.0 if family_name == "poisson" else 8.0
    far[0] = [3.0, -3.0]
    engine.set_responsibilities(start, far)
    path = [engine.step() for _ in range(40)]
    assert np.all(np.isfinite(path))
    assert np.all(np.diff(path) >= -1e-9 * np.abs(path[1:]))
    assert path[-1] > path[0] + 10.0


@pytest.mark.parametrize("family_name", ["poisson", "gamma"])
def test_fused_glm_engine_with_ridge_experts(family_name):
    # scikit-learn's default alpha=1: the fused engine's penalised IRLS
    # steps reach the optimum of the general engine's penalised fits.
    data, start, parts, family, (mean, scale) = _glm_setup(family_name, seed=1)
    runs = {}
    for name in ("fused", "general"):
        experts, gate = parts()
        experts = [expert.set_params(alpha=1.0) for expert in experts]
        if name == "fused":
            engine = FusedEngine(data, experts, gate, family, mean, scale, kernels=_xp)
        else:
            engine = GeneralEngine(
                data, experts, gate, GLMExperts("glm", mean, scale), family, kernels=_xp
            )
        runs[name] = _run(engine, start, 400), engine.parameters()
    (fused, ours), (general, theirs) = runs["fused"], runs["general"]
    assert fused.log_likelihood == pytest.approx(general.log_likelihood, rel=1e-8)
    for expert, other in zip(ours.experts, theirs.experts):
        np.testing.assert_allclose(expert.coef_, other.coef_, rtol=1e-4, atol=1e-6)


def test_fused_glm_step_with_a_non_finite_proposal_keeps_the_weights():
    # A singular or overflowed IRLS system gives no step for that expert:
    # its weights stay, the others move, the likelihood stays finite.
    from unittest import mock

    from skmoe import _fused

    data, start, parts, family, (mean, scale) = _glm_setup("poisson")
    experts, gate = parts()
    engine = FusedEngine(data, experts, gate, family, mean, scale, kernels=_xp)
    engine.set_responsibilities(start)
    before = engine.expert_coef.copy()

    solve_ridge = _fused.solve_ridge
    with mock.patch.object(
        _fused, "solve_ridge", side_effect=lambda *a: _nan_first(solve_ridge(*a))
    ):
        values = [engine.step() for _ in range(3)]
    assert np.all(np.isfinite(values))
    np.testing.assert_array_equal(engine.expert_coef[:, 0], before[:, 0])
    assert not np.allclose(engine.expert_coef[:, 1], before[:, 1])


def _nan_first(proposal):
    proposal = proposal.copy()
    proposal[:, 0] = np.nan
    return proposal
