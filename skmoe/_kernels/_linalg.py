"""Small dense solves shared by every backend (p x p systems, on the host)."""

import numpy as np

from .._backend import to_device, to_host


def solve_psd(matrix, rhs):
    """Minimum-norm solution of a symmetric positive semi-definite system.

    Eigenvalues below ``1e-12`` times the largest are treated as zero, so a
    singular system (collinear features, an expert with almost no weight,
    the shift invariance of a symmetric softmax) gives the least-squares
    solution of smallest norm, never infinities.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    largest = eigenvalues[-1] if len(eigenvalues) else 0.0
    if not np.isfinite(largest) or largest <= 0:
        return np.zeros_like(rhs)
    keep = eigenvalues > 1e-12 * largest
    coordinates = (eigenvectors[:, keep].T @ rhs) / eigenvalues[keep]
    return eigenvectors[:, keep] @ coordinates


def multinomial_newton_direction(
    kernels, design, coef, target_proba, row_weight, penalty, free, full
):
    """Newton direction of the penalised multinomial objective.

    With ``full=False`` only the diagonal blocks of the Hessian are used
    (K weighted Gram matrices: the cost of one pass); with ``full=True`` the
    whole Hessian over the free columns (K^2 / 2 Gram matrices, quadratic
    convergence). Either system is negative definite, so the direction is
    one of ascent; columns where ``free`` is False get a zero direction.

    The kernels run in ``design``'s namespace and device; the small systems
    are solved on the host and the direction is returned on the device.

    Returns
    -------
    direction : array of shape (p, K)
    decrement : float
        ``gradient . direction`` (>= 0), the first-order gain of a full step.
    objective : float
        The penalised objective at ``coef``.
    """
    columns = np.flatnonzero(free)
    if full:
        pairs = [(k, j) for a, k in enumerate(columns) for j in columns[: a + 1]]
    else:
        pairs = [(k, k) for k in columns]
    value, gradient, curvature = kernels.multinomial_gradient_curvature(
        design, coef, target_proba, row_weight, np.array(pairs, dtype=np.int64)
    )
    on_device = coef
    coef, gradient, curvature = to_host(coef), to_host(gradient), to_host(curvature)
    gradient -= penalty[:, None] * coef
    objective = value - 0.5 * penalty @ np.sum(coef**2, axis=1)
    direction = np.zeros_like(coef)
    if len(columns) == 0:
        return to_device(direction, on_device), 0.0, objective
    n_params = design.shape[1]
    if full:
        size = len(columns) * n_params
        hessian = np.empty((size, size))
        blocks = iter(curvature)
        for a in range(len(columns)):
            for b in range(a + 1):
                rows = slice(a * n_params, (a + 1) * n_params)
                cols = slice(b * n_params, (b + 1) * n_params)
                hessian[rows, cols] = hessian[cols, rows] = next(blocks)
        hessian[np.diag_indices_from(hessian)] += np.tile(penalty, len(columns))
        step = solve_psd(hessian, gradient[:, columns].T.ravel())
        direction[:, columns] = step.reshape(len(columns), -1).T
    else:
        for k, block in zip(columns, curvature):
            block[np.diag_indices_from(block)] += penalty
            direction[:, k] = solve_psd(block, gradient[:, k])
    decrement = float(np.sum(gradient * direction))
    return to_device(direction, on_device), decrement, objective
