"""Batched GLM experts: Poisson, Gamma and Tweedie regressions fitted together.

PoissonRegressor, GammaRegressor and TweedieRegressor experts with a log
link are not fitted one by one: iteratively reweighted least squares
(IRLS) builds all K weighted normal equations in one pass over the
standardised design (``kernels.weighted_normal_equations`` with the working
weights), solves the K small systems, and returns genuine fitted
estimators of the user's class whose ``coef_`` and ``intercept_`` are what
that class's own fit with ``sample_weight = sample_weight * R[:, k]``
gives.

scikit-learn's GLMs minimise ``1 / (2 sum(sw)) sum_i sw_i deviance_i +
alpha / 2 ||coef||^2``; multiplied by ``sum(sw)`` that is the negative
log-likelihood (up to the dispersion) plus ``sum(sw) alpha / 2 ||coef||^2``:
the ridge of expert k is its ``alpha`` times its total weight.
"""

import numpy as np

from ._array_utils import device, namespace, to_device, to_host
from ._kernels._xp import ETA_MAX, ETA_MIN
from ._linear import (
    expert_alphas,
    linear_expert_weights,
    set_linear_experts,
    solve_ridge,
)
from ._losses import glm_power

#: IRLS stops when no coefficient (standardised) moves more than this.
GLM_TOL = 1e-10

#: Most IRLS iterations of a fit from a cold start (each one pass over the
#: data), and of a warm-started fit (a generalised M-step within EM).
GLM_MAX_ITER = 100
GLM_WARM_ITER = 1


def glm_objective(y, eta, weights, power):
    """``sum_i w_ik * half_deviance(y_i, exp(eta_ik))`` up to terms free of
    the mean, per expert (K,): the negative log-likelihood IRLS lowers."""
    xp = namespace(eta)
    y = y[:, None]
    if power == 1:
        terms = xp.exp(eta) - y * eta
    elif power == 2:
        terms = y * xp.exp(-eta) + eta
    else:
        terms = xp.exp((2 - power) * eta) / (2 - power) - y * xp.exp(
            (1 - power) * eta
        ) / (1 - power)
    return xp.sum(weights * terms, axis=0)


def glm_ridge(alphas, totals, feature_scale):
    """Each expert's ridge on the standardised weights, (p - 1, K).

    scikit-learn's ``alpha`` is per unit of the expert's total weight
    (``totals``, (K,)) and on the raw features.
    """
    return (alphas * totals)[None, :] / feature_scale[:, None] ** 2


def ridge_penalty(ridge, coef):
    """``1/2 sum_j ridge_jk coef_jk**2`` per expert (the intercept, last, free)."""
    return 0.5 * np.sum(ridge * coef[:-1] ** 2, axis=0)


def _penalised(y, design, coef, weights, power, ridge):
    """Objective per expert (host array) and the linear predictors at ``coef``
    (clipped before exp, so that a trial step cannot overflow; it is
    rejected by the step test anyway)."""
    xp = namespace(design)
    eta = xp.clip(design @ to_device(coef, design), min=ETA_MIN, max=ETA_MAX)
    value = to_host(glm_objective(y, eta, weights, power))
    return value + ridge_penalty(ridge, coef), eta


def irls_weights(y, mean, weights, power):
    """IRLS working weights of log-link experts, (n, K).

    For Tweedie powers 1 to 2 the observed information, ``w ((2 - p)
    mu^(2-p) + (p - 1) y mu^(1-p))`` (Newton: ``w mu`` for Poisson, ``w y /
    mu`` for Gamma), never negative there and quadratically convergent,
    where Fisher scoring's ``w mu^(2-p)`` is only linearly so (``w``, a
    constant, for Gamma); Fisher scoring for other powers, where the
    observed information can be negative.
    """
    if power == 1:
        return weights * mean
    if 1 < power <= 2:
        return weights * (
            (2 - power) * mean ** (2 - power)
            + (power - 1) * y[:, None] * mean ** (1 - power)
        )
    return weights * mean ** (2 - power)


def fit_glm(
    kernels,
    design,
    y,
    weights,
    start,
    alphas,
    feature_scale,
    power,
    *,
    max_iter=None,
    tol=GLM_TOL,
):
    """Weighted log-link GLMs of K experts by IRLS.

    Minimises, for each expert k, ``sum_i weights_ik half_deviance(y_i,
    exp(design_i @ coef_k)) + 1/2 sum_j ridge_jk coef_jk**2`` (the
    intercept, last, unpenalised) by IRLS with step halving, each expert
    on its own step.

    Parameters
    ----------
    kernels : module
    design : array of shape (n, p)
        Standardised features and a final column of ones.
    y : array of shape (n,)
    weights : array of shape (n, K)
        ``sample_weight * R[:, k]``.
    start : ndarray of shape (p, K) or None
        Starting weights (host); None: each expert's weighted mean.
    alphas : ndarray of shape (K,)
        Each expert's ``alpha`` in scikit-learn's units (per unit of the
        expert's total weight, on the raw features).
    feature_scale : ndarray of shape (p - 1,)
        The standardisation of the design (host).
    power : float
        Tweedie power: 1 Poisson, 2 Gamma.
    max_iter : int, default=None
        IRLS iterations at most. None: ``GLM_MAX_ITER`` from a cold start
        (the fit converges), ``GLM_WARM_ITER`` from ``start``: within EM,
        where the experts start from the last M-step's fit, one step that
        lowers every expert's objective is a generalised M-step, and at
        EM's convergence it is the exact one.
    tol : float, default=GLM_TOL
        Stop when no standardised coefficient moves more than this.

    Returns
    -------
    coef : ndarray of shape (p, K)
        Standardised weights (host): ``exp(design @ coef)`` are the means.
    n_iter : int
        IRLS iterations (passes over the data).
    """
    xp = namespace(design)
    totals = to_host(xp.sum(weights, axis=0))
    ridge = glm_ridge(alphas, totals, feature_scale)
    if start is None:
        start = np.zeros((design.shape[1], weights.shape[1]))
        means = to_host(y @ weights) / np.maximum(totals, 1e-300)
        start[-1] = np.log(np.maximum(means, 1e-10))
    elif max_iter is None:
        max_iter = GLM_WARM_ITER
    max_iter = GLM_MAX_ITER if max_iter is None else max_iter
    coef = start
    value, eta = _penalised(y, design, coef, weights, power, ridge)
    ones = xp.ones_like(y)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (returned)
        # Newton: working * eta plus the gradient, w mu^(1-p) (y - mu), on
        # the right, with the working weights of irls_weights.
        mean = xp.exp(eta)
        working = irls_weights(y, mean, weights, power)
        grams, _ = kernels.weighted_normal_equations(design, y, working, ones)
        scaled = weights if power == 1 else weights * mean ** (1 - power)
        moments = design.T @ (working * eta + scaled * (y[:, None] - mean))
        target = solve_ridge(to_host(grams), to_host(moments), ridge)
        step = np.ones(coef.shape[1])
        for _ in range(40):
            candidate = coef + step * (target - coef)
            new_value, new_eta = _penalised(y, design, candidate, weights, power, ridge)
            worse = new_value > value + 1e-13 * np.abs(value)
            if not worse.any():
                break
            step = np.where(worse, 0.5 * step, step)
        else:
            # No descent for some expert (at its optimum to rounding): keep it.
            candidate[:, worse] = coef[:, worse]
            new_value, new_eta = _penalised(y, design, candidate, weights, power, ridge)
        moved = float(np.max(np.abs(candidate - coef), initial=0.0))
        coef, value, eta = candidate, new_value, new_eta
        if moved < tol:
            break
    return coef, n_iter


def fitted_glms(experts, n_iter):
    """Batched GLM experts completed as their own ``fit`` leaves them.

    Besides ``coef_`` and ``intercept_`` (set by the caller), scikit-learn's
    GLMs keep the loss their ``predict`` applies the inverse link of, built
    by their own ``_get_loss()``, and ``n_iter_``.
    """
    for expert in experts:
        expert._base_loss = expert._get_loss()
        expert.n_iter_ = n_iter
    return experts


class GLMExperts:
    """How K batched GLM experts of a regressor are fitted and predict.

    The counterpart of ``_experts.RegressionExperts`` for
    ``batched_kind(estimator) == "glm"``: PoissonRegressor, GammaRegressor
    and TweedieRegressor with a log link, fitted together by :func:`fit_glm`
    (warm started from their last fit) and predicting ``exp(X @ coef_ +
    intercept_)``.

    Parameters
    ----------
    kind : "glm"
        From ``_experts.batched_kind``.
    feature_mean, feature_scale : array of shape (d,)
        The standardisation of the design.
    n_jobs : int or None
        Unused (the fit is one batched solve); kept for the common signature.
    """

    def __init__(self, kind, feature_mean, feature_scale, n_jobs=None):
        self.kind = kind
        self.feature_mean = feature_mean
        self.feature_scale = feature_scale
        self.n_jobs = n_jobs

    def fit(self, experts, data, responsibilities, kernels):
        """M-step of the experts; returns them fitted."""
        mean, scale = to_host(self.feature_mean), to_host(self.feature_scale)
        fitted = all(hasattr(expert, "coef_") for expert in experts)
        start = linear_expert_weights(experts, mean, scale) if fitted else None
        coef, n_iter = fit_glm(
            kernels,
            data.design,
            data.y,
            responsibilities * data.sample_weight[:, None],
            start,
            expert_alphas(experts),
            scale,
            glm_power(experts[0]),
        )
        experts = set_linear_experts(experts, coef, mean, scale, data.design)
        return fitted_glms(experts, n_iter)

    def predict(self, experts, X, host_X=None):
        """Every expert's mean on every row, (n, K), on X's device."""
        xp = namespace(self.feature_mean)  # X may be sparse
        coef = xp.stack([expert.coef_ for expert in experts], axis=1)
        intercept = [expert.intercept_ for expert in experts]
        return xp.exp(X @ coef + xp.asarray(intercept, device=device(coef)))

    def predictions(self, experts, data):
        """What the family reads: each expert's mean on the training rows."""
        return self.predict(experts, data.X)
