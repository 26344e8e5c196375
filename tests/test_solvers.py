"""The M-steps' solvers: PSD solves, Newton directions, the multinomial fit."""

import numpy as np
import pytest

from skmoe._kernels import _xp
from skmoe._solvers import fit_multinomial, solve_psd


def _design(X):
    mean, scale = X.mean(axis=0), X.std(axis=0)
    return np.column_stack([(X - mean) / scale, np.ones(len(X))]), mean, scale


def _ascend(design, targets, penalty, n_steps, budget):
    row_weight = targets.sum(axis=1)
    args = (targets / row_weight[:, None], row_weight, penalty)
    coef = np.zeros((design.shape[1], targets.shape[1]))
    values = [_xp.multinomial_objective(design, coef, *args)]
    for _ in range(n_steps):
        coef, _ = fit_multinomial(
            _xp,
            design,
            coef,
            *args,
            free=np.ones(targets.shape[1], dtype=bool),
            newton_budget=budget,
            max_iter=1,
            tol=1e-16,
        )
        values.append(_xp.multinomial_objective(design, coef, *args))
    return coef, np.array(values)


def test_fit_multinomial_never_decreases_and_converges():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    targets = rng.dirichlet(np.ones(4), size=300) * rng.uniform(0.5, 2, (300, 1))
    design, _, _ = _design(X)
    penalty = np.array([0.1, 0.1, 0.1, 0.0])
    # Full Hessian: quadratic convergence to a vanishing gradient.
    coef, values = _ascend(design, targets, penalty, 20, budget=np.inf)
    assert np.all(np.diff(values) >= -1e-9)
    proba = np.exp(_xp.log_softmax(design @ coef))
    gradient = design.T @ (targets - targets.sum(1, keepdims=True) * proba)
    gradient -= penalty[:, None] * coef
    assert np.abs(gradient).max() < 1e-6
    # Block-diagonal Hessians: monotone, and linear convergence to the same value.
    _, block_values = _ascend(design, targets, penalty, 400, budget=0)
    assert np.all(np.diff(block_values) >= -1e-9)
    assert block_values[-1] == pytest.approx(values[-1], rel=1e-8)


def test_solve_psd_matches_numpy_and_gives_minimum_norm_on_singular_systems():
    rng = np.random.RandomState(0)
    factors = rng.randn(4, 5, 5)
    matrices = factors @ factors.transpose(0, 2, 1) + np.eye(5)
    rhs = rng.randn(4, 5)
    expected = np.linalg.solve(matrices, rhs[..., None])[..., 0]
    np.testing.assert_allclose(solve_psd(matrices, rhs), expected, rtol=1e-10)
    np.testing.assert_allclose(solve_psd(matrices[0], rhs[0]), expected[0], rtol=1e-10)
    # Collinear columns: the minimum-norm least-squares solution, as lstsq.
    design = rng.randn(50, 3)
    design = np.column_stack([design, design[:, 0]])
    target = rng.randn(50)
    solution = solve_psd(design.T @ design, design.T @ target)
    reference = np.linalg.lstsq(design, target, rcond=None)[0]
    np.testing.assert_allclose(solution, reference, atol=1e-8)
    # No finite system: zeros, never NaN.
    bad = np.full((1, 2, 2), np.nan)
    np.testing.assert_array_equal(solve_psd(bad, np.ones((1, 2))), 0.0)


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_fit_multinomial_with_sampled_curvature_reaches_the_exact_optimum(kernels):
    # Past the budget, the full Hessian on a sample of rows: the exact
    # optimum (exact gradient and line search) in a few Newton steps.
    from skmoe._kernels import _numba

    kernels = _xp if kernels == "numpy" else _numba
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 3))
    logits = X @ rng.standard_normal((3, 4))
    targets = np.exp(logits - logits.max(axis=1, keepdims=True))
    targets /= targets.sum(axis=1, keepdims=True)
    design, _, _ = _design(X)
    penalty = np.append(np.full(3, 1e-2), 0.0)
    free = np.ones(4, dtype=bool)
    budget = 300 * (4 * design.shape[1]) ** 2  # 300 rows fit the budget
    fits = {}
    for name, options in [
        ("exact", dict(newton_budget=np.inf)),
        ("sampled", dict(newton_budget=budget, curvature_rows=300)),
        ("blocks", dict(newton_budget=budget, max_iter=15)),
    ]:
        fits[name] = fit_multinomial(
            kernels,
            design,
            np.zeros((design.shape[1], 4)),
            targets,
            np.ones(len(X)),
            penalty,
            free=free,
            tol=1e-12,
            **options,
        )
    (exact, exact_steps), (sampled, sampled_steps), (blocks, _) = fits.values()
    np.testing.assert_allclose(sampled, exact, atol=1e-6)
    # Linear convergence (exact Newton's is quadratic), at a fast rate.
    assert exact_steps <= sampled_steps <= 30
    # Diagonal blocks are still far away after 15 steps.
    assert np.abs(blocks - exact).max() > 1e-3
