"""The EM maths in plain numpy: the reference every fast kernel must match.

Arrays of shape (n, K) are C-ordered, one row per sample, one column per
expert. ``Z`` is the standardised feature matrix; gate parameters are
``coef`` of shape (d, K) and ``intercept`` of shape (K,).
"""

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.special import logsumexp

LOG_2PI = np.log(2.0 * np.pi)


def log_softmax(logits):
    """Row-wise log softmax of an (n, K) array, stable for any magnitude."""
    return logits - logsumexp(logits, axis=1, keepdims=True)


def gate_log_proba(Z, coef, intercept):
    """Log gate probabilities ``log softmax(Z @ coef + intercept)``, (n, K)."""
    return log_softmax(Z @ coef + intercept)


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
    log_likelihood = logsumexp(joint, axis=1)
    responsibilities = np.exp(joint - log_likelihood[:, None])
    return responsibilities, log_likelihood, float(sample_weight @ log_likelihood)


def gaussian_log_density(residuals_sq, variance):
    """``log Normal(r; 0, variance)`` from squared residuals, (n, K)."""
    return -0.5 * (LOG_2PI + np.log(variance) + residuals_sq / variance)


def gate_objective(Z, coef, intercept, targets, penalty):
    """Penalised soft-target log-likelihood of the gate.

    ``sum_ik targets_ik log g_k(x_i) - 0.5 * sum_jk penalty_j coef_jk**2``,
    where ``targets`` already carries the sample weights.
    """
    log_gate = gate_log_proba(Z, coef, intercept)
    return float(np.sum(targets * log_gate) - 0.5 * penalty @ np.sum(coef**2, axis=1))


def gate_newton_direction(Z, coef, intercept, targets, sample_weight, penalty):
    """Block-diagonal Newton direction of the gate objective.

    Each expert's block of the Hessian, ``[Z, 1]^T diag(w g_k (1 - g_k)) [Z, 1]``
    plus the penalty, is solved against that expert's gradient. The blocks are
    negative definite, so the direction is one of ascent.

    Returns
    -------
    d_coef : ndarray of shape (d, K)
    d_intercept : ndarray of shape (K,)
    decrement : float
        ``gradient . direction`` (>= 0), the predicted gain of a full step.
    """
    n_features, n_experts = coef.shape
    gate = np.exp(gate_log_proba(Z, coef, intercept))
    residual = targets - sample_weight[:, None] * gate
    grad_coef = Z.T @ residual - penalty[:, None] * coef
    grad_intercept = residual.sum(axis=0)
    curvature = sample_weight[:, None] * gate * (1.0 - gate)
    d_coef = np.empty_like(coef)
    d_intercept = np.empty_like(intercept)
    for k in range(n_experts):
        hessian = _weighted_gram(Z, curvature[:, k])
        hessian[np.arange(n_features), np.arange(n_features)] += penalty
        rhs = np.append(grad_coef[:, k], grad_intercept[k])
        step = solve_psd(hessian, rhs)
        d_coef[:, k] = step[:-1]
        d_intercept[k] = step[-1]
    decrement = float(np.sum(grad_coef * d_coef) + grad_intercept @ d_intercept)
    return d_coef, d_intercept, decrement


def _weighted_gram(Z, weights):
    """``[Z, 1]^T diag(weights) [Z, 1]``, shape (d + 1, d + 1)."""
    n_features = Z.shape[1]
    gram = np.empty((n_features + 1, n_features + 1))
    weighted = Z * weights[:, None]
    gram[:-1, :-1] = Z.T @ weighted
    gram[-1, :-1] = gram[:-1, -1] = weighted.sum(axis=0)
    gram[-1, -1] = weights.sum()
    return gram


def weighted_grams(Z, weights):
    """All K weighted Gram matrices of ``[Z, 1]``, shape (K, d + 1, d + 1)."""
    return np.stack([_weighted_gram(Z, weights[:, k]) for k in range(weights.shape[1])])


def solve_psd(matrix, rhs):
    """Solve a symmetric positive semi-definite system, minimum-norm if singular.

    A relative jitter on the diagonal keeps a (near-)singular system, such as
    an expert with almost no weight, from producing infinities.
    """
    scale = np.trace(matrix) / matrix.shape[0]
    if not np.isfinite(scale) or scale <= 0:
        return np.zeros_like(rhs)
    jittered = matrix + (1e-12 * scale) * np.eye(matrix.shape[0])
    try:
        return cho_solve(cho_factor(jittered), rhs)
    except LinAlgError:
        return np.linalg.lstsq(jittered, rhs, rcond=None)[0]
