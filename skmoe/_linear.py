"""Linear experts' weights: standardised and raw, solved in one batch.

Batched experts (LinearRegression, Ridge, the log-link GLMs) are fitted on
the standardised design ``[(X - mean) / scale, 1]``; their weights there,
(p, K) with the intercepts last, are turned into genuine fitted estimators
with ``coef_`` and ``intercept_`` on the raw features, and back.
"""

import numpy as np

from ._array_utils import to_device, to_host
from ._solvers import solve_psd


def raw_coefficients(coef, feature_mean, feature_scale):
    """Standardised-space weights (p, m) to raw (coef (m, d), intercept (m,))."""
    raw = coef[:-1] / feature_scale[:, None]
    return raw.T, coef[-1] - feature_mean @ raw


def standardised_coefficients(coef, intercept, feature_mean, feature_scale):
    """Raw (coef (m, d), intercept (m,)) to standardised-space weights (p, m)."""
    return np.vstack([coef.T * feature_scale[:, None], intercept + coef @ feature_mean])


def solve_linear_experts(grams, moments, alphas, feature_scale):
    """Weighted least squares (ridge) of K experts from their normal equations.

    Parameters
    ----------
    grams : ndarray of shape (K, p, p)
        ``design^T diag(w R_k) design`` on the standardised design.
    moments : ndarray of shape (p, K)
        ``design^T (w R_k y)``.
    alphas : ndarray of shape (K,)
        Each expert's ridge penalty, on the raw features (0: least squares);
        the intercept is not penalised.
    feature_scale : ndarray of shape (p - 1,)

    Returns
    -------
    coef : ndarray of shape (p, K)
        Standardised-space weights: ``design @ coef`` are the predictions.
    """
    return solve_ridge(grams, moments, alphas[None, :] / feature_scale[:, None] ** 2)


def solve_ridge(grams, moments, ridge):
    """Solutions of ``(grams_k + diag(ridge_k, 0)) coef_k = moments_k``, (p, K).

    ``ridge`` (p - 1, K) penalises every coefficient but the intercept.
    """
    ridged = np.array(grams, dtype=np.float64)
    diagonal = np.arange(ridged.shape[1] - 1)
    ridged[:, diagonal, diagonal] += ridge.T
    return solve_psd(ridged, np.asarray(moments).T).T


def expert_alphas(experts):
    """Ridge penalties of linear experts (0 for LinearRegression), (K,)."""
    return np.array([float(getattr(expert, "alpha", 0.0)) for expert in experts])


def set_linear_experts(experts, coef, feature_mean, feature_scale, like):
    """Fitted LinearRegression / Ridge attributes from standardised weights.

    ``coef`` (p, K) on the host; the experts' ``coef_`` go where ``like``
    lives (their ``intercept_`` is a float).
    """
    raw_coef, raw_intercept = raw_coefficients(
        coef, to_host(feature_mean), to_host(feature_scale)
    )
    for k, expert in enumerate(experts):
        expert.coef_ = to_device(raw_coef[k], like)
        expert.intercept_ = float(raw_intercept[k])
        expert.n_features_in_ = raw_coef.shape[1]
    return experts


def linear_expert_weights(experts, feature_mean, feature_scale):
    """Standardised weights (p, K) of fitted linear experts (host arrays)."""
    coef = np.stack([to_host(expert.coef_) for expert in experts])
    intercept = np.array([float(expert.intercept_) for expert in experts])
    return standardised_coefficients(coef, intercept, feature_mean, feature_scale)
