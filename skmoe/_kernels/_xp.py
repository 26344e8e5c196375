"""The EM maths in plain numpy: the reference every fast kernel must match.

Arrays of shape (n, K) are C-ordered, one row per sample, one column per
expert. ``design`` is the standardised feature matrix with a final column of
ones, shape (n, p). Multinomial weights ``coef`` have shape (p, K), the last
row being the intercepts. Soft targets are given as ``target_proba`` (n, K),
rows summing to one, times ``row_weight`` (n,).

``_numba.py`` implements the same functions, with the same signatures.
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


def linear_log_softmax(design, coef):
    """``log softmax(design @ coef)``, shape (n, K): the log gate."""
    return log_softmax(design @ coef)


def e_step(log_gate, log_expert, sample_weight):
    """Responsibilities and log-likelihood from gate and expert log-densities.

    Parameters
    ----------
    log_gate : ndarray of shape (n, K)
        ``log g_k(x_i)``; overwritten with the responsibilities (the returned
        array is this one).
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
    joint = np.add(log_gate, log_expert, out=log_gate)
    log_likelihood = logsumexp(joint)
    joint -= log_likelihood[:, None]
    responsibilities = np.exp(joint, out=joint)
    return responsibilities, log_likelihood, float(sample_weight @ log_likelihood)


def weighted_normal_equations(design, y, responsibilities, sample_weight):
    """The K weighted least-squares systems, in one pass over the data.

    Returns
    -------
    grams : ndarray of shape (K, p, p)
        ``design^T diag(w * R[:, k]) design``.
    moments : ndarray of shape (p, K)
        ``design^T (w * R[:, k] * y)``.
    """
    weights = responsibilities * sample_weight[:, None]
    grams = np.stack(
        [design.T @ (design * weights[:, k, None]) for k in range(weights.shape[1])]
    )
    return grams, design.T @ (weights * y[:, None])


def gaussian_residual_sums(design, coef, y, responsibilities, sample_weight):
    """``sum_i w_i R_ik (y_i - design_i @ coef_k)**2`` for each expert, (K,)."""
    residuals = y[:, None] - design @ coef
    return np.einsum("i,ik,ik->k", sample_weight, responsibilities, residuals**2)


def gaussian_log_density(design, coef, y, variance):
    """``log Normal(y_i; design_i @ coef_k, variance_k)``, shape (n, K)."""
    residuals = y[:, None] - design @ coef
    return -0.5 * (LOG_2PI + np.log(variance) + residuals**2 / variance)


def multinomial_objective(design, coef, target_proba, row_weight, penalty):
    """Penalised soft-target log-likelihood of a multinomial logit.

    ``sum_ik row_weight_i target_proba_ik log softmax(design @ coef)_ik
    - 0.5 * sum_jk penalty_j coef_jk**2``.
    """
    log_proba = linear_log_softmax(design, coef)
    fit = row_weight @ np.sum(target_proba * log_proba, axis=1)
    return float(fit - 0.5 * penalty @ np.sum(coef**2, axis=1))


def multinomial_gradient_curvature(design, coef, target_proba, row_weight, pairs):
    """Value, gradient and chosen blocks of the Hessian of the objective.

    Parameters
    ----------
    pairs : ndarray of int of shape (m, 2)
        Column pairs (k, j) whose Hessian block is wanted: the diagonal
        pairs (k, k) for block-diagonal Newton, all pairs for full Newton.

    Returns
    -------
    value : float
        The unpenalised objective ``sum_ik w_i T_ik log g_ik``.
    gradient : ndarray of shape (p, K)
        ``design^T (w * (T - G))``.
    curvature : ndarray of shape (m, p, p)
        ``design^T diag(w g_k (delta_kj - g_j)) design`` for each pair: the
        negated Hessian blocks.
    """
    log_proba = linear_log_softmax(design, coef)
    value = float(row_weight @ np.sum(target_proba * log_proba, axis=1))
    proba = np.exp(log_proba)
    gradient = design.T @ (row_weight[:, None] * (target_proba - proba))
    n_params = design.shape[1]
    curvature = np.empty((len(pairs), n_params, n_params))
    for pair, (k, j) in enumerate(pairs):
        factor = row_weight * proba[:, k] * ((k == j) - proba[:, j])
        curvature[pair] = design.T @ (design * factor[:, None])
    return value, gradient, curvature
