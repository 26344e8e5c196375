"""Standard errors of a mixture of GLM experts with a softmax gate.

The counterpart of ``_mixture_likelihood`` (Gaussian experts) for two kinds
of experts with a canonical link:

- "logit": ``p(y | x) = sum_k g_k(z) softmax([1, x] B_k)_y``, classifier
  experts, identified with class 0 of every expert as the reference
  (LogisticRegression's binary parametrisation; its symmetric multinomial
  one is re-expressed so);
- "poisson": ``p(y | x) = sum_k g_k(z) Poisson(y; exp([1, x] b_k))``;

with ``g = softmax([1, z] W)``, expert 0 the gate's reference (flexmix's
choice). The parameter vector is, per expert k, per output c (the classes
1..C-1; one for Poisson), the intercept then the coefficients; then per gate
column l = 1..K-1, the intercept then the coefficients.

The score is analytic (responsibility-weighted complete-data scores: with a
canonical link, ``w_i R_ik (target - mean) [1, x_i]``); the observed
information is its central finite difference, symmetrised.
"""

import numpy as np
from scipy.special import gammaln, log_softmax, logsumexp

from ._inference import covariance_from_information

KINDS = ("logit", "poisson")


def _log_softmax_reference(logits):
    """Log softmax over a last axis of free columns plus a reference 0."""
    full = np.concatenate([np.zeros(logits.shape[:-1] + (1,)), logits], axis=-1)
    return log_softmax(full, axis=-1)


def unpack(theta, n_experts, n_outputs, n_features, n_gate_features):
    """(expert weights (K, d + 1, outputs), gate weights (r + 1, K - 1))."""
    size = n_experts * n_outputs * (n_features + 1)
    experts = theta[:size].reshape(n_experts, n_outputs, n_features + 1)
    gate = theta[size:].reshape(n_experts - 1, n_gate_features + 1)
    return experts.transpose(0, 2, 1), gate.T


def log_likelihood_and_score(theta, X, y, Z, shape, sample_weight):
    """Total log-likelihood and its gradient (analytic).

    Parameters
    ----------
    theta : ndarray of shape (n_parameters,)
    X : ndarray of shape (n, d)
        The experts' features (no intercept column).
    y : ndarray of shape (n,)
        Class indices ("logit") or counts ("poisson").
    Z : ndarray of shape (n, r)
        The gate's features (no intercept column).
    shape : tuple
        ``(kind, n_experts, n_outputs)``: "logit" with ``n_classes - 1``
        outputs, or "poisson" with 1.
    sample_weight : ndarray of shape (n,)

    Returns
    -------
    log_likelihood : float
    score : ndarray of shape (n_parameters,)
    """
    kind, n_experts, n_outputs = shape
    experts, gate = unpack(theta, n_experts, n_outputs, X.shape[1], Z.shape[1])
    design = np.column_stack([np.ones(len(X)), X])
    gate_design = np.column_stack([np.ones(len(Z)), Z])
    log_gate = _log_softmax_reference(gate_design @ gate)  # (n, K)
    linear = np.einsum("np,kpc->nkc", design, experts)  # (n, K, outputs)
    rows = np.arange(len(y))
    if kind == "logit":
        log_class = _log_softmax_reference(linear)
        log_expert = log_class[rows, :, y]
        target = np.zeros((len(y), n_outputs + 1))
        target[rows, y] = 1.0
        residual = target[:, None, 1:] - np.exp(log_class[:, :, 1:])
    else:
        mean = np.exp(linear[:, :, 0])
        log_expert = y[:, None] * linear[:, :, 0] - mean - gammaln(y + 1.0)[:, None]
        residual = (y[:, None] - mean)[:, :, None]
    joint = log_gate + log_expert
    per_sample = logsumexp(joint, axis=1)
    responsibilities = np.exp(joint - per_sample[:, None])
    weighted = responsibilities * sample_weight[:, None]
    expert_score = np.einsum("nk,nkc,np->kcp", weighted, residual, design)
    gate_residual = weighted[:, 1:] - sample_weight[:, None] * np.exp(log_gate[:, 1:])
    gate_score = gate_residual.T @ gate_design  # (K-1, r+1)
    score = np.concatenate([expert_score.ravel(), gate_score.ravel()])
    return float(sample_weight @ per_sample), score


def observed_information(theta, X, y, Z, shape, sample_weight, relative_step=1e-5):
    """Minus the Hessian of the log-likelihood: central differences of the score."""
    size = len(theta)
    information = np.empty((size, size))
    for j in range(size):
        step = relative_step * max(1.0, abs(theta[j]))
        forward, backward = theta.copy(), theta.copy()
        forward[j] += step
        backward[j] -= step
        information[:, j] = -(
            log_likelihood_and_score(forward, X, y, Z, shape, sample_weight)[1]
            - log_likelihood_and_score(backward, X, y, Z, shape, sample_weight)[1]
        ) / (2 * step)
    return 0.5 * (information + information.T)


def standard_errors(theta, X, y, Z, shape, sample_weight):
    """Standard errors from the observed information (NaN where negative)."""
    covariance = covariance_from_information(
        observed_information(theta, X, y, Z, shape, sample_weight)
    )
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.where(np.diag(covariance) >= 0, np.diag(covariance), np.nan))
