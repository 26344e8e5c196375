"""The numerical solvers of the M-steps: PSD solves, Newton directions, Armijo.

One home for the maths every M-step shares: the experts' weighted least
squares and the gate's (or logistic experts') multinomial Newton steps, in
the general engine and in the fused one alike. Everything here works on
small host arrays (``(p, p)`` systems) or takes its kernels as an argument;
budgets and penalties are explicit arguments.
"""

import functools

import numpy as np

from ._array_utils import device, namespace, to_device, to_host

#: Cholesky pivots (square roots of the pivots of Gaussian elimination)
#: whose smallest is under this fraction of the largest send a system to the
#: eigendecomposition (its condition number may exceed about 1e10).
PIVOT_RATIO = 1e-5

#: Eigenvalues under this fraction of the largest count as zero: a singular
#: system (collinear features, an expert with almost no weight, the shift
#: invariance of a symmetric softmax) gets its minimum-norm solution.
EIGEN_CUTOFF = 1e-12

#: Armijo constant of every line search.
ARMIJO = 1e-4

#: Halvings of a step before it is abandoned.
MAX_HALVINGS = 40

#: Largest ``n * n_params**2`` (multiply-adds of the full Hessian) for which
#: logistic experts, solved to convergence at every M-step, take full
#: Newton steps; block-diagonal ones beyond.
EXPERT_NEWTON_BUDGET = 2e7

#: The same for the gate, which takes one step per EM iteration and may
#: afford far more: the full Hessian costs K/2 times the blocks per pass but
#: sharpens a gate in tens of EM iterations where the blocks take hundreds.
GATE_NEWTON_BUDGET = 1e9


#: Rows on which the gate's full Hessian is gathered once the full Hessian
#: on all rows is over the Newton budget (``draw_curvature_sample``).
CURVATURE_ROWS = 50_000


def solve_psd(matrices, rhs):
    """Minimum-norm solutions of symmetric positive semi-definite systems.

    Parameters
    ----------
    matrices : ndarray of shape (m, p, p) or (p, p)
    rhs : ndarray of shape (m, p) or (p,)

    Returns
    -------
    solution : ndarray of the shape of ``rhs``

    A Cholesky factorisation checks that every system is safely positive
    definite (smallest pivot over ``PIVOT_RATIO`` times the largest), and
    the systems are then solved in one batched call; eigendecompositions,
    several times dearer, are used only when a system is (nearly) singular.
    """
    # A threaded BLAS on (p, p) systems only adds synchronisation, and on a
    # loaded machine its threads wait for cores: one thread, tens of times
    # faster there.
    with _blas_controller().limit(limits=1, user_api="blas"):
        return _solve_psd(matrices, rhs)


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _solve_psd(matrices, rhs):
    single = np.ndim(matrices) == 2
    matrices = np.asarray(matrices, dtype=np.float64).reshape(
        (-1, *np.shape(matrices)[-2:])
    )
    rhs = np.asarray(rhs, dtype=np.float64).reshape(matrices.shape[:2])
    if matrices.shape[1] == 0:
        return rhs[0] if single else rhs
    try:
        factor = np.linalg.cholesky(matrices)
    except np.linalg.LinAlgError:
        factor = None
    solution = None
    if factor is not None:
        pivots = np.diagonal(factor, axis1=-2, axis2=-1)
        if np.all(pivots.min(axis=1) > PIVOT_RATIO * pivots.max(axis=1)):
            solution = np.linalg.solve(matrices, rhs[..., None])[..., 0]
    if solution is None:
        solution = _solve_psd_eigh(matrices, rhs)
    return solution[0] if single else solution


def _solve_psd_eigh(matrices, rhs):
    """Minimum-norm solutions of a stack of PSD systems, by eigendecomposition."""
    finite = np.all(np.isfinite(matrices), axis=(1, 2))
    matrices = np.where(finite[:, None, None], matrices, 0.0)
    eigenvalues, eigenvectors = np.linalg.eigh(matrices)
    largest = eigenvalues[:, -1:]
    keep = (eigenvalues > EIGEN_CUTOFF * largest) & (largest > 0)
    coordinates = np.einsum("mpq,mp->mq", eigenvectors, rhs)
    coordinates = np.where(keep, coordinates / np.where(keep, eigenvalues, 1.0), 0.0)
    return np.einsum("mpq,mq->mp", eigenvectors, coordinates)


def full_newton(n_samples, n_free, n_params, budget):
    """Whether Newton steps take the full Hessian (else its diagonal blocks).

    The full Hessian over ``n_free`` columns of ``n_params`` weights costs
    ``n_samples * (n_free * n_params)**2`` multiply-adds per pass.
    """
    return n_samples * (n_free * n_params) ** 2 <= budget


def curvature_pairs(free, full):
    """Column pairs (k, j), j <= k, whose curvature blocks a Newton step needs.

    All pairs of free columns for the full Hessian, the diagonal ones for
    its blocks; an int array of shape (m, 2).
    """
    columns = np.flatnonzero(free)
    if full:
        pairs = [(k, j) for a, k in enumerate(columns) for j in columns[: a + 1]]
    else:
        pairs = [(k, k) for k in columns]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@functools.lru_cache
def _hessian_gather(n_columns, n_params):
    """Indices into flat curvature blocks (pairs (a, b), b <= a, in order, each
    (p, p)) that assemble the symmetric Hessian of the free columns."""
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


def newton_direction(value, gradient, curvature, coef, penalty, free, full):
    """Newton direction of a penalised multinomial objective at ``coef``.

    Parameters
    ----------
    value : float
        The unpenalised objective at ``coef``.
    gradient : ndarray of shape (p, K)
        Its gradient.
    curvature : ndarray of shape (m, p, p)
        Negated Hessian blocks for the pairs of :func:`curvature_pairs`.
    coef : ndarray of shape (p, K)
    penalty : ndarray of shape (p,)
        L2 penalty per row of ``coef``: the objective is ``value - 0.5 *
        sum_jk penalty_j coef_jk**2``.
    free : ndarray of bool of shape (K,)
        Columns that move; the others get a zero direction.
    full : bool
        Whether ``curvature`` holds all pairs (the full Hessian) or the
        diagonal blocks.

    Returns
    -------
    direction : ndarray of shape (p, K)
    decrement : float
        ``gradient . direction`` (>= 0), the first-order gain of a full step.
    objective : float
        The penalised objective at ``coef``.

    Either Hessian is negative definite with a positive penalty (semi-definite
    without), so the direction is one of ascent.
    """
    gradient = gradient - penalty[:, None] * coef
    objective = value - 0.5 * float(penalty @ np.sum(coef**2, axis=1))
    direction = np.zeros_like(coef)
    columns = np.flatnonzero(free)
    if len(columns) == 0:
        return direction, 0.0, objective
    n_params = coef.shape[0]
    if full:
        hessian = curvature.reshape(-1)[_hessian_gather(len(columns), n_params)]
        hessian[np.diag_indices_from(hessian)] += np.tile(penalty, len(columns))
        step = solve_psd(hessian, gradient[:, columns].T.ravel())
        direction[:, columns] = step.reshape(len(columns), -1).T
    else:
        blocks = curvature + np.diag(penalty)
        direction[:, columns] = solve_psd(blocks, gradient[:, columns].T).T
    return direction, float(np.sum(gradient * direction)), objective


def draw_curvature_sample(design, sample_weight, n_rows, seed):
    """Rows on which to gather the gate's curvature, weights rescaled.

    Past the Newton budget the gate's full Hessian is gathered on a sample
    of rows drawn once, while its gradient and objective stay exact:
    sampling errors of the curvature only bend the Newton direction, which
    stays one of ascent and is tested (Armijo) on the exact objective, so EM
    reaches the same optimum, in about as many iterations as with the exact
    Hessian (the blocks of its diagonal, the alternative, need many times
    more).

    Parameters
    ----------
    design : ndarray of shape (n, p)
    sample_weight : ndarray of shape (n,)
    n_rows : int
        Rows drawn without replacement (all rows if ``n_rows >= n``).
    seed : int

    Returns
    -------
    sample : tuple of (ndarray of shape (m, p), ndarray of shape (m,))
        The sampled rows of ``design`` and their weights, scaled so that
        they sum to the total weight of all rows.
    """
    n_samples = design.shape[0]
    rows = np.arange(n_samples)
    if n_rows < n_samples:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(n_samples, n_rows, replace=False))
    return rescaled_sample(
        design[rows], sample_weight[rows], float(np.sum(sample_weight))
    )


def rescaled_sample(design, sample_weight, total_weight):
    """The sample with its weights scaled to sum to ``total_weight``."""
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    scale = total_weight / max(float(sample_weight.sum()), 1e-300)
    return np.ascontiguousarray(design, dtype=np.float64), sample_weight * scale


def sample_curvature(kernels, sample, coef, pairs):
    """Negated Hessian blocks of the multinomial objective on a sample.

    Parameters
    ----------
    kernels : module
    sample : tuple of (ndarray of shape (m, p), ndarray of shape (m,))
        From :func:`draw_curvature_sample`.
    coef : ndarray of shape (p, K)
    pairs : ndarray of int of shape (q, 2)

    Returns
    -------
    curvature : ndarray of shape (q, p, p)
    """
    design, weight = sample
    # The curvature does not depend on the targets.
    targets = np.zeros((design.shape[0], coef.shape[1]))
    _, _, curvature = kernels.multinomial_gradient_curvature(
        design, coef, targets, weight, pairs
    )
    return to_host(curvature)


def _device_curvature_sample(design, row_weight, n_rows, n_columns):
    """``(rows, weights, zero targets)`` of a curvature sample, on the device
    of ``design`` (the curvature does not depend on the targets)."""
    xp = namespace(design)
    rng = np.random.default_rng(0)
    rows = to_device(
        np.sort(rng.choice(design.shape[0], n_rows, replace=False)), design
    )
    weight = xp.take(row_weight, rows)
    weight = weight * (xp.sum(row_weight) / xp.sum(weight))
    targets = xp.zeros((n_rows, n_columns), dtype=xp.float64, device=device(design))
    return xp.take(design, rows, axis=0), weight, targets


def armijo_accepts(value, objective, step, decrement):
    """Whether a step of length ``step`` raised ``objective`` to ``value`` enough."""
    return value >= objective + ARMIJO * step * decrement


def fit_multinomial(
    kernels,
    design,
    coef,
    target_proba,
    row_weight,
    penalty,
    *,
    free,
    newton_budget,
    max_iter=None,
    tol=1e-10,
    curvature_rows=0,
):
    """Raise the penalised soft-target log-likelihood of a multinomial logit.

    Newton steps with a backtracking (Armijo) line search, so the objective
    never decreases; the shared solver of the softmax gate and of batched
    logistic experts.

    Parameters
    ----------
    kernels : module
        ``skmoe._kernels._xp`` or ``skmoe._kernels._numba``.
    design : array of shape (n, p)
        Standardised features with a final column of ones.
    coef : array of shape (p, K)
        Starting point (warm start), on ``design``'s device.
    target_proba : array of shape (n, K)
        Soft targets, rows summing to one.
    row_weight : array of shape (n,)
    penalty : ndarray of shape (p,)
        L2 penalty per row of ``coef`` (0 for the intercept).
    free : ndarray of bool of shape (K,)
        Columns to optimise; the others stay as they are.
    newton_budget : float
        Largest ``n * n_params**2`` solved with the full Hessian
        (:func:`full_newton`); its diagonal blocks beyond.
    max_iter : int, default=None
        Newton steps. None: up to 100 (until ``tol``) with the full Hessian,
        1 with its blocks (one ascent step costs about one pass).
    tol : float, default=1e-10
        Stop when the Newton decrement per unit of weight falls below it.
    curvature_rows : int, default=0
        Past the budget, the full Hessian on this many rows drawn once
        (:func:`draw_curvature_sample`, if that fits the budget), the
        gradient and the line search staying exact; 0: diagonal blocks.

    Returns
    -------
    coef : array of shape (p, K)
    n_iter : int
    """
    n_samples, n_params = design.shape
    n_free = int(free.sum())
    full = full_newton(n_samples, n_free, n_params, newton_budget)
    sample_rows = min(curvature_rows, n_samples)
    sample = None
    if (
        not full
        and sample_rows
        and full_newton(sample_rows, n_free, n_params, newton_budget)
    ):
        sample = _device_curvature_sample(
            design, row_weight, sample_rows, coef.shape[1]
        )
    if max_iter is None:
        max_iter = 100 if full or sample else 1
    pairs = curvature_pairs(free, full or sample is not None)
    threshold = tol * max(float(namespace(row_weight).sum(row_weight)), 1.0)
    n_iter = 0
    while n_iter < max_iter:
        value, gradient, curvature = kernels.multinomial_gradient_curvature(
            design,
            coef,
            target_proba,
            row_weight,
            pairs if sample is None else pairs[:0],
        )
        if sample is not None:
            rows, weight, targets = sample
            _, _, curvature = kernels.multinomial_gradient_curvature(
                rows, coef, targets, weight, pairs
            )
        direction, decrement, objective = newton_direction(
            value,
            to_host(gradient),
            to_host(curvature),
            to_host(coef),
            penalty,
            free,
            full or sample is not None,
        )
        if not decrement > threshold:
            break
        direction = to_device(direction, coef)
        step = 1.0
        for _ in range(MAX_HALVINGS):
            candidate = coef + step * direction
            value = kernels.multinomial_objective(
                design, candidate, target_proba, row_weight, penalty
            )
            if armijo_accepts(value, objective, step, decrement):
                break
            step *= 0.5
        else:
            break  # no ascent found: keep the current weights
        coef = candidate
        n_iter += 1
    return coef, n_iter
