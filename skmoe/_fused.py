"""EM in one pass over the data per iteration: linear Gaussian experts, softmax gate.

The general loop of ``_base.py`` makes several passes per iteration (expert
normal equations, residuals, densities, gate curvature, line search, log
gate, E-step). For the most common model (LinearRegression or Ridge experts,
the built-in softmax gate, soft routing) every one of them is folded into a
single pass (``em_pass`` of the kernels), which computes the E-step at new
parameters and, in the same loop, everything the next M-step needs:

- the K weighted normal equations of the experts; their noise variances
  come from the same sums (``sum w R (y - x b)^2 = sum w R y^2 - 2 b'm +
  b'G b``), with the targets centred so that little cancels;
- the gate's value, gradient and curvature blocks at its current weights.

On large data the gate's curvature blocks are gathered only every
``CURVATURE_REFRESH`` passes. The gate's step is tested inside the next
pass: that pass also measures the gate's objective at the new weights on the
responsibilities the step was computed from. A step that does not raise it
enough (Armijo, as in ``fit_multinomial``) is halved and the pass repeated,
from the same responsibilities, which is why two (n, K) arrays alternate. The M-steps
and the line search are the general loop's, so the log-likelihood never
decreases without a gate penalty, and both backends run the same loop.
"""

import functools
from time import perf_counter
from typing import NamedTuple

import numpy as np

from . import _gate
from ._experts import _raw_coefficients

# Halvings of a gate step before it is abandoned for this iteration.
_MAX_HALVINGS = 40

# Cholesky pivots (square roots of the pivots of Gaussian elimination)
# whose smallest is under this fraction of the largest send a system to the
# eigendecomposition (its condition number may exceed about 1e10).
_PIVOT_RATIO = 1e-5

# Armijo constant of the gate's step, as in ``fit_multinomial``.
_ARMIJO = 1e-4

# On large data the gate's diagonal curvature blocks are gathered every this
# many passes, and reused in between: they change slowly, any positive
# definite matrix gives an ascent direction, and the step is tested all the
# same; a step that had to be halved gathers them afresh. (On
# make_moe_regression, n = 10^5, d = 10, K = 8, the log-likelihood path is
# as good as with fresh blocks. The full Hessian of small data is gathered at
# every pass: reusing it cost 30-50% more iterations to converge.)
CURVATURE_REFRESH = 4

# The gate's step where the full Hessian is costly: "blocks" (Newton with
# the diagonal blocks) or "bound" (Böhning's fixed majorizer: no curvature
# in the passes, about 20% cheaper per iteration at n = 10^5, d = 10, K = 8,
# but many more iterations: mean log-likelihood -1.03 against -0.89 after
# 100 iterations on make_moe_regression).
LARGE_GATE_STEP = "blocks"


class PassStatistics(NamedTuple):
    """The sums of one ``em_pass`` (see ``skmoe._kernels._xp.em_pass``)."""

    log_likelihood: float
    previous_gate_value: float
    gate_value: float
    gate_gradient: np.ndarray
    gate_curvature: np.ndarray
    grams: np.ndarray
    moments: np.ndarray
    target_squares: np.ndarray
    totals: np.ndarray


def supports_fused_em(estimator):
    """Whether a regressor's fit can take the one-pass loop."""
    from ._backend import ARRAY_API
    from ._gate import SoftmaxGate

    return (
        estimator._batched == "regression"
        and estimator._backend != ARRAY_API  # numpy and numba only
        and type(estimator.gate_) is SoftmaxGate
        and estimator.routing == "soft"
    )


def _gate_pairs(gate, n_samples, n_params):
    """How the gate steps, and the curvature blocks a pass must gather.

    While the full Hessian is cheap (the rule of ``fit_multinomial``):
    Newton with it, all pairs of free columns. Beyond, ``LARGE_GATE_STEP``:
    "bound", the fixed majorizer of Böhning (no curvature in the passes), or
    "blocks", Newton with the diagonal blocks.
    """
    columns = np.flatnonzero(gate._free)
    if n_samples * (len(columns) * n_params) ** 2 <= _gate.GATE_NEWTON_BUDGET:
        mode = "full"
        pairs = [(k, j) for a, k in enumerate(columns) for j in columns[: a + 1]]
    elif LARGE_GATE_STEP == "blocks":
        mode = "blocks"
        pairs = [(k, k) for k in columns]
    else:
        mode = "bound"
        pairs = []
    return np.array(pairs, dtype=np.int64).reshape(-1, 2), mode


def _bound_inverse(gate, grams):
    """Pseudo-inverse of Böhning's bound on the gate's negated Hessian.

    For the softmax, ``diag(g) - g g' <= (I - 1 1' / K) / 2`` whatever g, so
    the negated Hessian of the objective over the free columns is at most
    ``B = (I - 1 1' / K) / 2 (x) X'WX + penalty``, a constant: the step
    ``B^-1 gradient`` raises the objective by at least half its decrement
    (a minorize-maximize step) without any curvature pass. ``X'WX`` is the
    sum of the experts' Gram matrices (responsibilities sum to one).
    """
    n_free = int(gate._free.sum())
    n_experts = len(gate._free)
    columns = 0.5 * (np.eye(n_free) - 1.0 / n_experts)
    bound = np.kron(columns, grams.sum(axis=0))
    bound[np.diag_indices_from(bound)] += np.tile(gate._penalty, n_free)
    eigenvalues, eigenvectors = np.linalg.eigh(bound)
    largest = eigenvalues[-1]
    keep = eigenvalues > 1e-12 * largest
    return (eigenvectors[:, keep] / eigenvalues[keep]) @ eigenvectors[:, keep].T


def _gate_direction(gate, coef, stats, mode, threshold, bound_inverse=None):
    """Newton direction, decrement and penalised objective of the gate at ``coef``
    (as ``multinomial_newton_direction``), from the sums of a pass."""
    penalty = gate._penalty
    gradient = stats.gate_gradient - penalty[:, None] * coef
    objective = stats.gate_value - 0.5 * penalty @ np.sum(coef**2, axis=1)
    direction = np.zeros_like(coef)
    columns = np.flatnonzero(gate._free)
    if len(columns) == 0:
        return direction, 0.0, objective
    n_params = coef.shape[0]
    curvature = stats.gate_curvature
    if mode == "bound":
        step = bound_inverse @ gradient[:, columns].T.ravel()
        direction[:, columns] = step.reshape(len(columns), -1).T
    elif mode == "full":
        hessian = curvature.reshape(-1)[_hessian_gather(len(columns), n_params)]
        hessian[np.diag_indices_from(hessian)] += np.tile(penalty, len(columns))
        step = _solve_psd_stack(hessian[None], gradient[:, columns].T.ravel()[None])[0]
        direction[:, columns] = step.reshape(len(columns), -1).T
    else:
        blocks = curvature + np.diag(penalty)
        direction[:, columns] = _solve_psd_stack(blocks, gradient[:, columns].T).T
    decrement = float(np.sum(gradient * direction))
    if not decrement > threshold:
        return np.zeros_like(coef), 0.0, objective
    return direction, decrement, objective


@functools.lru_cache
def _hessian_gather(n_columns, n_params):
    """Indices into the flat curvature blocks of a pass (pairs (a, b), b <= a,
    in order, each (p, p)) that assemble the symmetric Hessian of the free
    columns in one take."""
    size = n_columns * n_params
    gather = np.empty((size, size), dtype=np.intp)
    block = 0
    within = np.arange(n_params * n_params).reshape(n_params, n_params)
    for a in range(n_columns):
        for b in range(a + 1):
            rows = slice(a * n_params, (a + 1) * n_params)
            cols = slice(b * n_params, (b + 1) * n_params)
            gather[rows, cols] = block * n_params**2 + within
            gather[cols, rows] = block * n_params**2 + within.T
            block += 1
    return gather


def _solve_psd_stack(matrices, rhs):
    """``solve_psd`` of a stack of systems, (m, p, p) and (m, p), in one call.

    A Cholesky factorisation checks that every system is safely positive
    definite (smallest pivot over ``_PIVOT_RATIO`` times the largest; the
    squared pivots bound the eigenvalues from inside), and the systems are
    then solved in one batched call: several times cheaper than the
    eigendecompositions, which are used only when a system is (nearly)
    singular, to give its minimum-norm solution.
    """
    try:
        factor = np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError:
        factor = None
    if factor is not None:
        pivots = np.diagonal(factor, axis1=-2, axis2=-1)
        if np.all(pivots.min(axis=1) > _PIVOT_RATIO * pivots.max(axis=1)):
            return np.linalg.solve(matrices, rhs[..., None])[..., 0]
    return _solve_psd_stack_eigh(matrices, rhs)


def _solve_psd_stack_eigh(matrices, rhs):
    """Minimum-norm ``solve_psd`` of a stack of systems, by eigendecomposition."""
    eigenvalues, eigenvectors = np.linalg.eigh(matrices)
    largest = eigenvalues[:, -1:]
    keep = (eigenvalues > 1e-12 * largest) & np.isfinite(largest) & (largest > 0)
    coordinates = np.einsum("mpq,mp->mq", eigenvectors, rhs)
    coordinates = np.where(keep, coordinates / np.where(keep, eigenvalues, 1.0), 0.0)
    return np.einsum("mpq,mq->mp", eigenvectors, coordinates)


def _expert_step(estimator, stats, feature_scale):
    """Exact weighted least squares (ridge) of every expert, and its noise
    variance, from the normal equations of a pass (centred targets)."""
    grams, moments = stats.grams, stats.moments.T
    ridged = grams.copy()
    diagonal = np.arange(grams.shape[1] - 1)
    alphas = np.array([float(getattr(e, "alpha", 0.0)) for e in estimator.experts_])
    ridged[:, diagonal, diagonal] += alphas[:, None] / feature_scale**2
    beta = _solve_psd_stack(ridged, moments)
    residual_sums = (
        stats.target_squares
        - 2 * np.einsum("kp,kp->k", beta, moments)
        + np.einsum("kp,kpq,kq->k", beta, grams, beta)
    )
    coef = beta.T.copy()
    totals = stats.totals
    variance = np.where(
        totals > 0,
        np.maximum(residual_sums, 0.0) / np.maximum(totals, 1e-300),
        estimator._target_scale**2,
    )
    return coef, np.maximum(variance, estimator._variance_floor)


def run_fused_em(estimator, data, responsibilities, run):
    """One EM run of a regressor with linear experts and the softmax gate.

    Same contract as ``BaseMixtureOfExperts._run_em``: ``responsibilities``
    are the initial ones (None continues from the fitted parameters); the
    fitted state is kept on ``estimator``; returns the per-run attributes.
    """
    kernels = estimator._kernels
    gate = estimator.gate_
    design, sample_weight = data.design, data.sample_weight
    n_samples, n_params = design.shape
    total_weight = sample_weight.sum()
    # Centred targets: the noise variances come from sums of squares.
    offset = estimator._target_mean
    targets = data.y - offset
    bound_inverse = None
    threshold = 1e-10 * max(total_weight, 1.0)

    def one_pass(gate_coef, expert_coef, variance, previous, out, curvature=True):
        return PassStatistics(
            *kernels.em_pass(
                design,
                targets,
                sample_weight,
                gate_coef,
                expert_coef,
                variance,
                previous,
                out,
                pairs if curvature else no_pairs,
            )
        )

    def gate_plan():
        """The gate's step for the current number of experts (see _gate_pairs)."""
        pairs, mode = _gate_pairs(gate, n_samples, n_params)
        return pairs, pairs[:0], mode, CURVATURE_REFRESH if mode == "blocks" else 1

    def from_responsibilities(given):
        """A pass gathering the M-step of ``given`` responsibilities (no E-step).

        Returns the statistics, a scratch (n, K) array and a copy of ``given``
        (the caller's array is not ours to reuse).
        """
        given = np.array(given, dtype=np.float64, order="C")
        n_experts = given.shape[1]
        stats = one_pass(
            gate._coef,
            np.zeros((n_params, n_experts)),
            np.ones(n_experts),
            given,
            None,
        )
        return stats, np.empty_like(given), given

    if responsibilities is not None:
        responsibilities = estimator._remove_dead_experts(data, responsibilities, run)
    pairs, no_pairs, mode, refresh = gate_plan()
    gate_coef = gate._coef
    if responsibilities is None:
        # Continue: an E-step at the fitted parameters starts the loop.
        expert_coef = _centred_coefficients(estimator, offset)
        variance = estimator.noise_variance_
        n_experts = len(estimator.experts_)
        previous = np.full((n_samples, n_experts), 1.0 / n_experts)
        current = np.empty_like(previous)
        stats = one_pass(gate_coef, expert_coef, variance, previous, current)
    else:
        stats, previous, current = from_responsibilities(responsibilities)
    # ``current`` now holds the responsibilities the pending M-step is from.
    curvature = stats.gate_curvature
    stale = 0  # passes since the gate's curvature was last gathered
    log_likelihood = None
    path = []
    converged = False
    start = perf_counter()
    iteration = 0 if responsibilities is not None else 1
    while True:
        if iteration > 0:
            log_likelihood_now = stats.log_likelihood
            if log_likelihood is None:
                estimator._report(run, log_likelihood_now)
            else:
                path.append(log_likelihood_now)
                change = (log_likelihood_now - log_likelihood) / total_weight
                estimator._report(run, log_likelihood_now, len(path), change, start)
                if abs(change) < estimator.tol:
                    converged = True
            log_likelihood = log_likelihood_now
            dead = estimator._dead_shares(stats.totals)
            if dead.any():
                # An expert's share fell below min_expert_weight: remove it
                # and start the next M-step from the kept responsibilities
                # (one more iteration even at max_iter, as the general loop).
                gate._coef = gate_coef
                kept = estimator._remove_dead_experts(data, current, run)
                pairs, no_pairs, mode, refresh = gate_plan()
                gate_coef, bound_inverse, converged = gate._coef, None, False
                stats, previous, current = from_responsibilities(kept)
                curvature, stale, iteration = stats.gate_curvature, 0, 0
            elif converged or len(path) >= estimator.max_iter:
                break
        # M-step from the responsibilities in ``current``.
        new_expert_coef, new_variance = _expert_step(
            estimator, stats, estimator._feature_scale
        )
        if mode == "bound" and bound_inverse is None:
            bound_inverse = _bound_inverse(gate, stats.grams)
        direction, decrement, objective = _gate_direction(
            gate,
            gate_coef,
            stats._replace(gate_curvature=curvature),
            mode,
            threshold,
            bound_inverse,
        )
        # E-step at the new parameters; the gate's step is tested in it.
        step = 1.0 if decrement > 0 else 0.0
        halvings = 0
        while True:
            candidate = gate_coef + step * direction
            gather = halvings > 0 or stale + 1 >= refresh
            new_stats = one_pass(
                candidate, new_expert_coef, new_variance, current, previous, gather
            )
            value = new_stats.previous_gate_value - 0.5 * gate._penalty @ np.sum(
                candidate**2, axis=1
            )
            if step == 0.0 or value >= objective + _ARMIJO * step * decrement:
                break
            halvings += 1
            # No ascent found: keep the gate's weights (the experts still move).
            step = 0.5 * step if halvings < _MAX_HALVINGS else 0.0
        gate_coef, expert_coef, variance = candidate, new_expert_coef, new_variance
        stats = new_stats
        if gather:
            curvature, stale = stats.gate_curvature, 0
        else:
            stale += 1
        previous, current = current, previous
        iteration += 1

    estimator._report(run, log_likelihood, converged=converged)
    gate._coef = gate_coef
    _set_experts(estimator, expert_coef, offset)
    estimator.noise_variance_ = variance
    return {
        "expert_weights_": sample_weight @ current / total_weight,
        "log_likelihood_": log_likelihood,
        "log_likelihood_path_": np.asarray(path),
        "n_iter_": len(path),
        "converged_": converged,
    }


def _set_experts(estimator, coef, offset):
    """Fitted LinearRegression / Ridge attributes from standardised weights."""
    coef = coef.copy()
    coef[-1] += offset
    for k, expert in enumerate(estimator.experts_):
        raw_coef, raw_intercept = _raw_coefficients(
            coef[:, k, None], estimator._feature_mean, estimator._feature_scale
        )
        expert.coef_ = raw_coef[0]
        expert.intercept_ = float(raw_intercept[0])
        expert.n_features_in_ = len(estimator._feature_mean)


def _centred_coefficients(estimator, offset):
    """Standardised weights (p, K) of the fitted experts, for centred targets."""
    mean, scale = estimator._feature_mean, estimator._feature_scale
    coef = np.empty((len(mean) + 1, len(estimator.experts_)))
    for k, expert in enumerate(estimator.experts_):
        coef[:-1, k] = expert.coef_ * scale
        coef[-1, k] = expert.intercept_ + expert.coef_ @ mean - offset
    return coef
