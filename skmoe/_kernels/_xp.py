"""The EM maths over the array API: the reference every fast kernel must match.

Written once for every namespace: numpy (``backend="numpy"``, and the twin
of each numba kernel in ``_numba.py``), CuPy (``backend="cupy"``) and any
array-API input under ``sklearn.config_context(array_api_dispatch=True)``.
Each function takes its namespace from its array arguments and keeps its
results on their device; it returns Python floats for scalars.

Arrays of shape (n, K) are C-ordered, one row per sample, one column per
expert. ``design`` is the standardised feature matrix with a final column of
ones, shape (n, p). Multinomial weights ``coef`` have shape (p, K), the last
row being the intercepts. Soft targets are given as ``target_proba`` (n, K),
rows summing to one, times ``row_weight`` (n,). Penalties (p,) may be numpy
arrays whatever the namespace.

``_numba.py`` implements the same functions, with the same signatures.
"""

import math
from typing import NamedTuple

import numpy as np
from scipy import special

from .._array_utils import device, namespace, to_device

LOG_2PI = math.log(2.0 * math.pi)


def logsumexp(values):
    """Row-wise ``log sum exp`` of an (n, K) array, stable for any magnitude."""
    xp = namespace(values)
    largest = xp.max(values, axis=1)
    largest = xp.where(xp.isfinite(largest), largest, xp.zeros_like(largest))
    total = xp.sum(xp.exp(values - largest[:, None]), axis=1)
    return xp.log(total) + largest


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
    log_gate : array of shape (n, K)
        ``log g_k(x_i)``; with numpy, overwritten with the responsibilities
        (the returned array is this one), so that an E-step holds two (n, K)
        arrays, not three.
    log_expert : array of shape (n, K)
        ``log p_k(y_i | x_i)``.
    sample_weight : array of shape (n,)

    Returns
    -------
    responsibilities : array of shape (n, K)
        Posterior probability of each expert for each sample; rows sum to 1.
    log_likelihood : array of shape (n,)
        ``log sum_k g_k(x_i) p_k(y_i | x_i)`` (unweighted).
    total : float
        ``sum_i sample_weight_i * log_likelihood_i``.
    """
    if isinstance(log_gate, np.ndarray):
        joint = np.add(log_gate, log_expert, out=log_gate)
        log_likelihood = logsumexp(joint)
        joint -= log_likelihood[:, None]
        responsibilities = np.exp(joint, out=joint)
    else:
        xp = namespace(log_gate)
        joint = log_gate + log_expert
        log_likelihood = logsumexp(joint)
        responsibilities = xp.exp(joint - log_likelihood[:, None])
    return responsibilities, log_likelihood, float(sample_weight @ log_likelihood)


def weighted_normal_equations(design, y, responsibilities, sample_weight):
    """The K weighted least-squares systems, in one pass over the data.

    Returns
    -------
    grams : array of shape (K, p, p)
        ``design^T diag(w * R[:, k]) design``.
    moments : array of shape (p, K)
        ``design^T (w * R[:, k] * y)``.
    """
    xp = namespace(design)
    weights = responsibilities * sample_weight[:, None]
    grams = xp.stack(
        [design.T @ (design * weights[:, k : k + 1]) for k in range(weights.shape[1])]
    )
    return grams, design.T @ (weights * y[:, None])


def gaussian_log_density(design, coef, y, variance):
    """``log Normal(y_i; design_i @ coef_k, variance_k)``, shape (n, K)."""
    xp = namespace(design)
    variance = to_device(variance, design)
    residuals = y[:, None] - design @ coef
    return -0.5 * (LOG_2PI + xp.log(variance) + residuals**2 / variance)


def _penalty_term(coef, penalty):
    xp = namespace(coef)
    return 0.5 * float(to_device(penalty, coef) @ xp.sum(coef**2, axis=1))


def multinomial_objective(design, coef, target_proba, row_weight, penalty):
    """Penalised soft-target log-likelihood of a multinomial logit.

    ``sum_ik row_weight_i target_proba_ik log softmax(design @ coef)_ik
    - 0.5 * sum_jk penalty_j coef_jk**2``.
    """
    xp = namespace(design)
    log_proba = linear_log_softmax(design, coef)
    fit = float(row_weight @ xp.sum(target_proba * log_proba, axis=1))
    return fit - _penalty_term(coef, penalty)


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
    gradient : array of shape (p, K)
        ``design^T (w * (T - G))``.
    curvature : array of shape (m, p, p)
        ``design^T diag(w g_k (delta_kj - g_j)) design`` for each pair: the
        negated Hessian blocks.
    """
    xp = namespace(design)
    log_proba = linear_log_softmax(design, coef)
    value = float(row_weight @ xp.sum(target_proba * log_proba, axis=1))
    proba = xp.exp(log_proba)
    gradient = design.T @ (row_weight[:, None] * (target_proba - proba))
    blocks = []
    for k, j in np.asarray(pairs).reshape(-1, 2).tolist():
        factor = row_weight * proba[:, k] * (float(k == j) - proba[:, j])
        blocks.append(design.T @ (design * factor[:, None]))
    n_params = design.shape[1]
    if not blocks:
        return value, gradient, xp.zeros((0, n_params, n_params), device=device(design))
    return value, gradient, xp.stack(blocks)


# -- one fused pass per EM iteration (linear or log-link experts, softmax gate)
#
# Kept apart from the kernels above: the fused engine of ``skmoe._fused``
# gathers everything one iteration needs in a single pass over the data.

#: The expert families the fused pass knows, by code: Gaussian experts with
#: the identity link, Poisson and Gamma experts with the log link.
PASS_FAMILIES = {"gaussian": 0, "poisson": 1, "gamma": 2}

#: The smallest mean of a log-link expert the families use (a mean of 0
#: would give counts above 0 no likelihood at all).
MEAN_FLOOR = 1e-300

#: Linear predictors of log-link experts are clipped here (in the fused
#: pass and in ``_glm``): means from ``MEAN_FLOOR`` to exp(700), finite
#: whatever the step.
ETA_MIN = math.log(MEAN_FLOOR)
ETA_MAX = 700.0


def expert_terms(family, dispersion):
    """Each expert's log-density as ``constant_k + multiplier_k * fit_ik``
    plus a term of the target alone (left out of the pass).

    ``fit`` is ``-(y - eta)**2 / 2`` for Gaussian experts (multiplier
    ``1 / variance``), ``y eta - exp(eta)`` for Poisson (multiplier 1) and
    ``log y - eta - y exp(-eta)`` for Gamma (multiplier the shape
    ``1 / dispersion``); the terms left out are ``-log y!`` and ``-log y``.

    Returns
    -------
    constant, multiplier : ndarray of shape (K,)
    """
    dispersion = np.asarray(dispersion, dtype=np.float64)
    if family == "gaussian":
        return -0.5 * (LOG_2PI + np.log(dispersion)), 1.0 / dispersion
    if family == "poisson":
        return np.zeros_like(dispersion), np.ones_like(dispersion)
    shape = 1.0 / dispersion
    return shape * np.log(shape) - special.gammaln(shape), shape


def pass_log_target(family, y, log_target):
    """What the pass reads as ``log y``: for Gamma experts ``log_target``,
    or ``log y`` computed when it is None; ``y`` otherwise (not read)."""
    if family != "gamma":
        return y
    return np.log(y) if log_target is None else log_target


def _expert_fit(family, eta, y, log_target):
    """``fit`` of :func:`expert_terms`, (n, K), and the linear predictors
    (clipped for log links) and their transform the IRLS sums read:
    ``exp(eta)`` (Poisson), ``y exp(-eta)`` (Gamma), None (Gaussian)."""
    if family == "gaussian":
        return -0.5 * (y[:, None] - eta) ** 2, eta, None
    eta = np.clip(eta, ETA_MIN, ETA_MAX)
    if family == "poisson":
        mean = np.exp(eta)
        return y[:, None] * eta - mean, eta, mean
    ratio = y[:, None] * np.exp(-eta)
    return log_target[:, None] - eta - ratio, eta, ratio


def _irls_sums(family, design, y, weights, eta, transformed):
    """The experts' normal equations: least squares for Gaussian experts,
    one Newton (IRLS) step for log-link ones, (K, p, p) and (p, K).

    The fit terms are concave in ``eta``; their negated second derivatives
    are the working weights: ``w R mu`` for Poisson and ``w R y / mu`` for
    Gamma (the observed information, which converges in a few steps where
    Fisher scoring's ``w R`` crawls), and the right-hand sides are ``working
    * eta`` plus the first derivatives, ``w R (y - mu)`` and ``w R (y / mu -
    1)``.
    """
    if family == "gaussian":
        return _stacked_grams(design, weights), design.T @ (weights * y[:, None])
    working = weights * transformed
    if family == "poisson":
        right = working * eta + weights * (y[:, None] - transformed)
    else:
        right = working * eta + weights * (transformed - 1.0)
    return _stacked_grams(design, working), design.T @ right


def _stacked_grams(design, working):
    """``design^T diag(working[:, k]) design`` for each column, (K, p, p)."""
    return np.stack(
        [design.T @ (design * working[:, k : k + 1]) for k in range(working.shape[1])]
    )


class PassStatistics(NamedTuple):
    """The sums of one :func:`em_pass`, returned by both twins.

    ``R`` are the responsibilities after the pass (new, or as given), ``w``
    the sample weights, ``G`` the gate's probabilities at its weights,
    ``fit`` the experts' fit terms at their weights (``expert_terms``).

    Attributes
    ----------
    log_likelihood : float
        ``sum_i w_i log sum_k g_ik p_ik`` without the terms of the targets
        alone (``expert_terms``; 0.0 when the pass made no E-step).
    previous_gate_value : float
        ``sum_ik w_i R^prev_ik log g_ik``: the gate's objective at the new
        weights on the responsibilities its step was computed from (0.0 when
        the pass made no E-step).
    gate_value : float
        ``sum_ik w_i R_ik log g_ik``.
    gate_gradient : ndarray of shape (q, K)
        ``gate_design^T (w * (R - G))``.
    gate_curvature : ndarray of shape (m, q, q)
        ``gate_design^T diag(w g_k (delta_kj - g_j)) gate_design`` for each
        pair.
    grams : ndarray of shape (K, p, p)
        ``design^T diag(w R_k) design`` (Gaussian), the IRLS working-weight
        Gram matrices (log link).
    moments : ndarray of shape (p, K)
        ``design^T (w R_k y)`` (Gaussian), the IRLS right-hand sides.
    target_squares : ndarray of shape (K,)
        ``sum_i w_i R_ik y_i**2`` (Gaussian; 0 for log links).
    totals : ndarray of shape (K,)
        ``sum_i w_i R_ik``.
    expert_value : ndarray of shape (K,)
        ``sum_i w_i R_ik fit_ik`` (log links; 0 for Gaussian experts, whose
        M-step is exact).
    previous_expert_value : ndarray of shape (K,)
        ``sum_i w_i R^prev_ik fit_ik``: the experts' objectives at their new
        weights on the responsibilities their steps were computed from
        (log links; 0 for Gaussian experts, and when the pass made no
        E-step).
    """

    log_likelihood: float
    previous_gate_value: float
    gate_value: float
    gate_gradient: np.ndarray
    gate_curvature: np.ndarray
    grams: np.ndarray
    moments: np.ndarray
    target_squares: np.ndarray
    totals: np.ndarray
    expert_value: np.ndarray
    previous_expert_value: np.ndarray


def em_pass(
    design,
    y,
    sample_weight,
    gate_coef,
    expert_coef,
    variance,
    previous,
    out,
    pairs,
    gate_design=None,
    family="gaussian",
    log_target=None,
):
    """One pass of EM for linear-predictor experts and a softmax gate (numpy).

    With ``out`` given, the E-step at the gate weights ``gate_coef`` and the
    experts ``(expert_coef, variance)``: new responsibilities go to ``out``,
    and the gate's and the experts' objectives on the ``previous``
    responsibilities are measured at the new weights (the tests of their
    steps). With ``out=None`` the responsibilities are ``previous`` as given
    (the first M-step). Either way, the pass gathers what the next M-step
    needs.

    Parameters
    ----------
    design : ndarray of shape (n, p)
        The experts' design.
    y : ndarray of shape (n,)
    sample_weight : ndarray of shape (n,)
    gate_coef : ndarray of shape (q, K)
    expert_coef : ndarray of shape (p, K)
    variance : ndarray of shape (K,)
        The experts' dispersions (Gaussian variances, Gamma dispersions;
        unused for Poisson).
    previous : ndarray of shape (n, K)
    out : ndarray of shape (n, K) or None
    pairs : ndarray of int of shape (m, 2)
        Gate curvature blocks wanted, as in
        :func:`multinomial_gradient_curvature`.
    gate_design : ndarray of shape (n, q), default=None
        The gate's design, when it sees other columns than the experts
        (``gate_features``); None: ``design``.
    family : {"gaussian", "poisson", "gamma"}, default="gaussian"
        The experts' family (``PASS_FAMILIES``): identity link for
        Gaussian experts, log link for the others.
    log_target : ndarray of shape (n,), default=None
        ``log y``, read for Gamma experts only (None: computed).

    Returns
    -------
    statistics : PassStatistics
    """
    gate_design = design if gate_design is None else gate_design
    log_target = pass_log_target(family, y, log_target)
    log_gate = linear_log_softmax(gate_design, gate_coef)
    with np.errstate(over="ignore"):  # a trial step: clipped, then tested
        eta = design @ expert_coef
    fit, eta, transformed = _expert_fit(family, eta, y, log_target)
    exact = family == "gaussian"  # no objectives: the M-step is exact
    previous_gate_value = log_likelihood = 0.0
    previous_expert_value = np.zeros(expert_coef.shape[1])
    responsibilities = previous
    if out is not None:
        previous_gate_value = float(sample_weight @ np.sum(previous * log_gate, axis=1))
        if not exact:
            previous_expert_value = sample_weight @ (previous * fit)
        constant, multiplier = expert_terms(family, variance)
        joint = log_gate + constant + multiplier * fit
        per_sample = logsumexp(joint)
        np.exp(joint - per_sample[:, None], out=out)
        responsibilities = out
        log_likelihood = float(sample_weight @ per_sample)
    gate_value = float(sample_weight @ np.sum(responsibilities * log_gate, axis=1))
    proba = np.exp(log_gate)
    gradient = gate_design.T @ (sample_weight[:, None] * (responsibilities - proba))
    n_gate = gate_design.shape[1]
    curvature = np.empty((len(pairs), n_gate, n_gate))
    for pair, (k, j) in enumerate(pairs):
        factor = sample_weight * proba[:, k] * ((k == j) - proba[:, j])
        curvature[pair] = gate_design.T @ (gate_design * factor[:, None])
    weights = responsibilities * sample_weight[:, None]
    grams, moments = _irls_sums(family, design, y, weights, eta, transformed)
    zeros = np.zeros(weights.shape[1])
    return PassStatistics(
        log_likelihood,
        previous_gate_value,
        gate_value,
        gradient,
        curvature,
        grams,
        moments,
        y**2 @ weights if exact else zeros,
        weights.sum(axis=0),
        zeros if exact else np.sum(weights * fit, axis=0),
        previous_expert_value,
    )


def pass_responsibilities(
    design,
    y,
    gate_coef,
    expert_coef,
    dispersion,
    out,
    family="gaussian",
    log_target=None,
):
    """The E-step of :func:`em_pass` alone: responsibilities into ``out`` (numpy).

    Parameters
    ----------
    design : ndarray of shape (n, p)
    y : ndarray of shape (n,)
    gate_coef, expert_coef : ndarray of shape (p, K)
    dispersion : ndarray of shape (K,)
    out : ndarray of shape (n, K)
    family : {"gaussian", "poisson", "gamma"}, default="gaussian"
    log_target : ndarray of shape (n,), default=None

    Returns
    -------
    out : ndarray of shape (n, K)
        The same numbers as ``em_pass`` writes at these parameters.
    """
    log_target = pass_log_target(family, y, log_target)
    fit, _, _ = _expert_fit(family, design @ expert_coef, y, log_target)
    constant, multiplier = expert_terms(family, dispersion)
    joint = linear_log_softmax(design, gate_coef) + constant + multiplier * fit
    np.exp(joint - logsumexp(joint)[:, None], out=out)
    return out


def target_terms(family, y):
    """The terms of the log-density of the targets alone, which
    :func:`em_pass` leaves out (``expert_terms``), (n,) on the host:
    0 (Gaussian), ``-log y!`` (Poisson), ``-log y`` (Gamma)."""
    if family == "poisson":
        return -special.gammaln(y + 1.0)
    if family == "gamma":
        return -np.log(y)
    return np.zeros_like(y)
