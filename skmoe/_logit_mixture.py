"""Standard errors of a mixture of logistic experts with a softmax gate.

The classifier's counterpart of ``_mixture_likelihood``: the model
``p(y | x) = sum_k g_k(z) softmax([1, x] B_k)_y`` with ``g = softmax([1, z]
W)``. Both softmaxes are identified with a reference column fixed at 0:
class 0 of every expert (LogisticRegression's binary parametrisation; its
symmetric multinomial one is re-expressed so) and expert 0 of the gate
(flexmix's choice). The parameter vector is, per expert k, per class c =
1..C-1, the intercept then the coefficients; then per gate column l =
1..K-1, the intercept then the coefficients.

The score is analytic (responsibility-weighted complete-data scores); the
observed information is its central finite difference, symmetrised.
"""

import numpy as np

from ._inference import covariance_from_information


def _log_softmax_reference(logits):
    """Log softmax over a last axis of free columns plus a reference 0."""
    full = np.concatenate([np.zeros(logits.shape[:-1] + (1,)), logits], axis=-1)
    largest = full.max(axis=-1, keepdims=True)
    shifted = full - largest
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def unpack(theta, n_experts, n_classes, n_features, n_gate_features):
    """(expert weights (K, d + 1, C - 1), gate weights (r + 1, K - 1))."""
    size = n_experts * (n_classes - 1) * (n_features + 1)
    experts = theta[:size].reshape(n_experts, n_classes - 1, n_features + 1)
    gate = theta[size:].reshape(n_experts - 1, n_gate_features + 1)
    return experts.transpose(0, 2, 1), gate.T


def log_likelihood_and_score(theta, X, y, Z, shape, sample_weight):
    """Total log-likelihood and its gradient (analytic).

    Parameters
    ----------
    theta : ndarray of shape (n_parameters,)
    X : ndarray of shape (n, d)
        The experts' features (no intercept column).
    y : ndarray of int of shape (n,)
        Class indices.
    Z : ndarray of shape (n, r)
        The gate's features (no intercept column).
    shape : tuple
        ``(n_experts, n_classes)``.
    sample_weight : ndarray of shape (n,)

    Returns
    -------
    log_likelihood : float
    score : ndarray of shape (n_parameters,)
    """
    n_experts, n_classes = shape
    experts, gate = unpack(theta, n_experts, n_classes, X.shape[1], Z.shape[1])
    design = np.column_stack([np.ones(len(X)), X])
    gate_design = np.column_stack([np.ones(len(Z)), Z])
    log_gate = _log_softmax_reference(gate_design @ gate)  # (n, K)
    log_class = _log_softmax_reference(np.einsum("np,kpc->nkc", design, experts))
    rows = np.arange(len(y))
    joint = log_gate + log_class[rows, :, y]
    largest = joint.max(axis=1, keepdims=True)
    per_sample = np.log(np.exp(joint - largest).sum(axis=1)) + largest[:, 0]
    responsibilities = np.exp(joint - per_sample[:, None])
    weighted = responsibilities * sample_weight[:, None]
    onehot = np.zeros((len(y), n_classes))
    onehot[rows, y] = 1.0
    residual = onehot[:, None, 1:] - np.exp(log_class[:, :, 1:])  # (n, K, C-1)
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
