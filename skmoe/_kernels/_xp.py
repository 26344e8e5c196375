"""The EM maths in plain numpy: the reference every fast kernel must match.

Arrays of shape (n, K) are C-ordered, one row per sample, one column per
expert. ``design`` is the standardised feature matrix with a final column of
ones, shape (n, p); multinomial weights ``coef`` have shape (p, K), the last
row being the intercepts.
"""

import numpy as np

LOG_2PI = np.log(2.0 * np.pi)


def logsumexp(values):
    """Row-wise ``log sum exp`` of an (n, K) array, stable for any magnitude."""
    largest = values.max(axis=1)
    largest[~np.isfinite(largest)] = 0.0
    return np.log(np.exp(values - largest[:, None]).sum(axis=1)) + largest


def log_softmax(logits):
    """Row-wise log softmax of an (n, K) array."""
    return logits - logsumexp(logits)[:, None]


def e_step(log_gate, log_expert, sample_weight):
    """Responsibilities and log-likelihood from gate and expert log-densities.

    Parameters
    ----------
    log_gate : ndarray of shape (n, K)
        ``log g_k(x_i)``.
    log_expert : ndarray of shape (n, K)
        ``log p_k(y_i | x_i)``.
    sample_weight : ndarray of shape (n,)

    Returns
    -------
    responsibilities : ndarray of shape (n, K)
        Posterior probability of each expert for each sample; rows sum to 1.
    log_likelihood : ndarray of shape (n,)
        ``log sum_k g_k(x_i) p_k(y_i | x_i)`` (unweighted).
    total : float
        ``sum_i sample_weight_i * log_likelihood_i``.
    """
    joint = log_gate + log_expert
    log_likelihood = logsumexp(joint)
    responsibilities = np.exp(joint - log_likelihood[:, None])
    return responsibilities, log_likelihood, float(sample_weight @ log_likelihood)


def gaussian_log_density(residuals_sq, variance):
    """``log Normal(r; 0, variance)`` from squared residuals, (n, K)."""
    return -0.5 * (LOG_2PI + np.log(variance) + residuals_sq / variance)


def multinomial_objective(design, coef, targets, penalty):
    """Penalised soft-target log-likelihood of a multinomial logit.

    ``sum_ik targets_ik log softmax(design @ coef)_ik
    - 0.5 * sum_jk penalty_j coef_jk**2``; ``targets`` carries the sample
    weights (its row sums are the weights).
    """
    log_proba = log_softmax(design @ coef)
    return float(np.sum(targets * log_proba) - 0.5 * penalty @ np.sum(coef**2, axis=1))


def multinomial_newton_direction(design, coef, targets, penalty, free, full=False):
    """Newton direction of ``multinomial_objective`` over the ``free`` columns.

    With ``full=False`` only the diagonal blocks of the Hessian are used:
    column k's block ``design^T diag(w g_k (1 - g_k)) design`` plus the
    penalty is solved against that column's gradient, at the cost of K
    weighted Gram matrices. With ``full=True`` the whole Hessian over the
    free columns is solved (quadratic convergence; K^2 / 2 Gram matrices).
    Either way the system is negative definite, so the direction is one of
    ascent; columns where ``free`` is False get a zero direction.

    Returns
    -------
    direction : ndarray of shape (p, K)
    decrement : float
        ``gradient . direction`` (>= 0), the first-order gain of a full step.
    """
    proba = np.exp(log_softmax(design @ coef))
    row_weight = targets.sum(axis=1)
    gradient = (
        design.T @ (targets - row_weight[:, None] * proba) - penalty[:, None] * coef
    )
    columns = np.flatnonzero(free)
    n_params = design.shape[1]
    direction = np.zeros_like(coef)
    if not full:
        curvature = row_weight[:, None] * proba * (1.0 - proba)
        for k in columns:
            hessian = design.T @ (design * curvature[:, k, None])
            hessian[np.diag_indices_from(hessian)] += penalty
            direction[:, k] = solve_psd(hessian, gradient[:, k])
        return direction, float(np.sum(gradient * direction))
    size = len(columns) * n_params
    hessian = np.empty((size, size))
    for a, k in enumerate(columns):
        for b, j in enumerate(columns[a:], start=a):
            curvature = row_weight * proba[:, k] * ((k == j) - proba[:, j])
            block = design.T @ (design * curvature[:, None])
            rows, cols = (
                slice(a * n_params, (a + 1) * n_params),
                slice(b * n_params, (b + 1) * n_params),
            )
            hessian[rows, cols] = block
            hessian[cols, rows] = block.T
    hessian[np.diag_indices_from(hessian)] += np.tile(penalty, len(columns))
    step = solve_psd(hessian, gradient[:, columns].T.ravel())
    direction[:, columns] = step.reshape(len(columns), n_params).T
    return direction, float(np.sum(gradient * direction))


def weighted_grams(design, weights):
    """The K weighted Gram matrices ``design^T diag(weights[:, k]) design``.

    Returns an array of shape (K, p, p).
    """
    return np.stack(
        [design.T @ (design * weights[:, k, None]) for k in range(weights.shape[1])]
    )


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
