"""Expert families: the likelihood of a target under one expert's prediction.

A family says, for every expert k, how likely a target is given the
expert's prediction and the family's own parameters (a noise variance, a
dispersion...): the log density the E-step needs, the M-step of those own
parameters from weighted statistics, their count for BIC, and the
predictive distribution. The EM engines and the estimators talk to every
family through this small interface; adding a likelihood is one class.

Predictions are arrays of shape (n, K): each expert's mean for the
regression families, each expert's probability of the observed class for
the categorical one.
"""

import math

import numpy as np
from scipy import optimize, special, stats

from ._array_utils import namespace, to_device, to_host
from ._kernels._xp import MEAN_FLOOR

LOG_2PI = math.log(2.0 * math.pi)

#: Noise variances are floored at this fraction of the target's variance, so
#: that an expert collapsing onto a few points cannot make the likelihood
#: infinite.
VARIANCE_FLOOR = 1e-6

#: Floor of an expert's probability for a class, so that an expert that never
#: saw a class gives it a tiny, not zero, likelihood.
PROBA_FLOOR = 1e-300


class GaussianFamily:
    """Normal experts, ``y ~ Normal(prediction_k, variance_k)``.

    Parameters
    ----------
    target_scale : float
        Weighted standard deviation of the training targets: sets the
        variance floor (``VARIANCE_FLOOR * target_scale**2``) and the
        variance of an expert no sample is responsible for.
    """

    name = "gaussian"

    def __init__(self, target_scale):
        self.target_scale = target_scale
        self.floor = VARIANCE_FLOOR * target_scale**2

    def check_targets(self, y):
        """Any finite target will do."""

    def log_density(self, y, predictions, variance):
        """``log Normal(y_i; predictions_ik, variance_k)``, shape (n, K)."""
        xp = namespace(predictions)
        variance = to_device(variance, predictions)
        residuals = y[:, None] - predictions
        return -0.5 * (LOG_2PI + xp.log(variance) + residuals**2 / variance)

    def dispersion_from_sums(self, residual_sums, totals):
        """Maximum-likelihood variances from weighted sums, floored.

        Parameters
        ----------
        residual_sums : array of shape (K,)
            ``sum_i w_i R_ik (y_i - prediction_ik)**2``.
        totals : array of shape (K,)
            ``sum_i w_i R_ik``; an expert with none gets the target's
            variance.
        """
        xp = namespace(residual_sums)
        variance = xp.where(
            totals > 0,
            xp.clip(residual_sums, min=0.0) / xp.clip(totals, min=1e-300),
            xp.full_like(residual_sums, self.target_scale**2),
        )
        return xp.clip(variance, min=self.floor)

    def fit_dispersion(self, y, predictions, weights):
        """M-step of the variances; ``weights`` are ``w_i R_ik``, (n, K)."""
        xp = namespace(predictions)
        residual_sums = xp.sum(weights * (y[:, None] - predictions) ** 2, axis=0)
        return self.dispersion_from_sums(residual_sums, xp.sum(weights, axis=0))

    def n_parameters(self, n_experts):
        """Free parameters of the family itself: one variance per expert."""
        return n_experts

    def mean_variance(self, predictions, variance):
        """Each expert's predictive mean and variance, (n, K) each."""
        xp = namespace(predictions)
        return predictions, xp.broadcast_to(
            to_device(variance, predictions), predictions.shape
        )

    def predictive(self, predictions, variance):
        """Each expert's predictive distribution: a frozen ``scipy.stats.norm``
        broadcasting to (n, K) (host arrays)."""
        return stats.norm(loc=predictions, scale=np.sqrt(variance)[None, :])


class CategoricalFamily:
    """Classifier experts: the probability an expert gives the observed class.

    Predictions are the experts' probabilities of each sample's own class;
    the family has no parameters of its own.
    """

    name = "categorical"

    def log_density(self, y, predictions, dispersion=None):
        """``log p_k(y_i | x_i)``, floored at ``log(PROBA_FLOOR)``, (n, K)."""
        xp = namespace(predictions)
        return xp.log(xp.clip(predictions, min=PROBA_FLOOR))

    def fit_dispersion(self, y, predictions, weights):
        """No parameters of its own: None."""
        return None

    def n_parameters(self, n_experts):
        """Free parameters of the family itself: none."""
        return 0


#: Bounds of the Student-t degrees of freedom: below 1 the mean the experts
#: predict does not exist; above 200 the density is Gaussian to the eye.
DF_BOUNDS = (1.0, 200.0)

#: Floor of the Gamma family's mean half-deviance per unit weight (its shape
#: 1 / dispersion is about 1 / (2 * floor) there): an expert fitting its
#: samples exactly must not get an infinite shape.
GAMMA_DEVIANCE_FLOOR = 1e-10


class PoissonFamily:
    """Count experts, ``y ~ Poisson(prediction_k)``; no parameters of their own.

    Predictions are each expert's mean (its ``predict``: the inverse of the
    log link applied by PoissonRegressor and the like). Non-integer targets
    (rates) get the density's continuous extension, ``log y!`` being
    ``gammaln(y + 1)``, as the Poisson deviance of scikit-learn's GLMs.
    """

    name = "poisson"

    def check_targets(self, y):
        """Counts must be non-negative."""
        if np.any(to_host(y) < 0):
            raise ValueError(
                "likelihood='poisson' needs non-negative targets (counts); y has "
                "negative values."
            )

    def log_density(self, y, predictions, dispersion=None):
        """``log Poisson(y_i; predictions_ik)``, shape (n, K)."""
        xp = namespace(predictions)
        mean = xp.clip(predictions, min=MEAN_FLOOR)
        return y[:, None] * xp.log(mean) - mean - self._log_factorial(y)[:, None]

    def _log_factorial(self, y):
        """``log y!``, computed once per target array (EM's E-steps share it)."""
        cached = getattr(self, "_cache", None)
        if cached is None or cached[0] is not y:
            self._cache = y, to_device(special.gammaln(to_host(y) + 1.0), y)
        return self._cache[1]

    def fit_dispersion(self, y, predictions, weights):
        """No parameters of its own: None."""
        return None

    def dispersion_from_sums(self, sums, totals):
        """No parameters of its own: None."""
        return None

    def n_parameters(self, n_experts):
        """Free parameters of the family itself: none."""
        return 0

    def mean_variance(self, predictions, dispersion=None):
        """Each expert's predictive mean and variance (equal), (n, K) each."""
        return predictions, predictions

    def predictive(self, predictions, dispersion=None):
        """Frozen ``scipy.stats.poisson`` broadcasting to (n, K)."""
        return stats.poisson(mu=np.clip(predictions, MEAN_FLOOR, None))


def gamma_shape(mean_half_deviance):
    """Maximum-likelihood Gamma shapes from mean half-deviances.

    The shape ``a`` maximising ``sum_i w_i log Gamma(y_i; a, mean_i / a)``
    solves ``log a - digamma(a) = s`` with
    ``s = sum_i w_i (y_i / mean_i - log(y_i / mean_i) - 1) / sum_i w_i``.

    Parameters
    ----------
    mean_half_deviance : ndarray of shape (K,)
        ``s`` of each expert (floored at ``GAMMA_DEVIANCE_FLOOR``).

    Returns
    -------
    shape : ndarray of shape (K,)
    """
    s = np.maximum(np.asarray(mean_half_deviance, dtype=np.float64), 1e-10)
    # Minka's approximation, then Newton (log a - digamma(a) is convex and
    # decreasing, so Newton from below stays below and converges).
    shape = (3.0 - s + np.sqrt((s - 3.0) ** 2 + 24.0 * s)) / (12.0 * s)
    for _ in range(100):
        value = np.log(shape) - special.digamma(shape) - s
        slope = 1.0 / shape - special.polygamma(1, shape)
        new = shape - value / slope
        new = np.where(new > 0, new, 0.5 * shape)
        done = np.all(np.abs(new - shape) <= 1e-14 * shape)
        shape = new
        if done:
            break
    return shape


class GammaFamily:
    """Positive experts, ``y ~ Gamma(shape_k, scale = prediction_k / shape_k)``.

    Each expert has a dispersion ``1 / shape_k`` (its squared coefficient
    of variation), estimated by maximum likelihood.
    """

    name = "gamma"

    def check_targets(self, y):
        """Targets must be positive."""
        if np.any(to_host(y) <= 0):
            raise ValueError(
                "likelihood='gamma' needs positive targets; y has values <= 0."
            )

    def log_density(self, y, predictions, dispersion):
        """``log Gamma(y_i; 1 / dispersion_k, predictions_ik * dispersion_k)``."""
        xp = namespace(predictions)
        shape = 1.0 / to_device(dispersion, predictions)
        mean = xp.clip(predictions, min=MEAN_FLOOR)
        ratio = y[:, None] / mean
        log_gamma = to_device(special.gammaln(1.0 / to_host(dispersion)), mean)
        return (
            shape * xp.log(shape * ratio)
            - shape * ratio
            - xp.log(y)[:, None]
            - log_gamma
        )

    def dispersion_from_sums(self, half_deviance_sums, totals):
        """Maximum-likelihood dispersions from weighted half-deviance sums.

        Parameters
        ----------
        half_deviance_sums : array of shape (K,)
            ``sum_i w_i R_ik (y_i / mean_ik - log(y_i / mean_ik) - 1)``.
        totals : array of shape (K,)
            ``sum_i w_i R_ik``; an expert with none gets dispersion 1.
        """
        sums, totals = to_host(half_deviance_sums), to_host(totals)
        positive = totals > 0
        s = np.where(positive, sums / np.where(positive, totals, 1.0), 1.0)
        dispersion = np.where(
            positive, 1.0 / gamma_shape(np.maximum(s, GAMMA_DEVIANCE_FLOOR)), 1.0
        )
        return to_device(dispersion, half_deviance_sums)

    def fit_dispersion(self, y, predictions, weights):
        """M-step of the dispersions; ``weights`` are ``w_i R_ik``, (n, K)."""
        xp = namespace(predictions)
        ratio = y[:, None] / xp.clip(predictions, min=MEAN_FLOOR)
        sums = xp.sum(weights * (ratio - xp.log(ratio) - 1.0), axis=0)
        return self.dispersion_from_sums(sums, xp.sum(weights, axis=0))

    def n_parameters(self, n_experts):
        """Free parameters of the family itself: one dispersion per expert."""
        return n_experts

    def mean_variance(self, predictions, dispersion):
        """Each expert's mean and variance ``dispersion * mean**2``, (n, K)."""
        return predictions, to_device(dispersion, predictions) * predictions**2

    def predictive(self, predictions, dispersion):
        """Frozen ``scipy.stats.gamma`` broadcasting to (n, K)."""
        dispersion = np.asarray(dispersion)[None, :]
        mean = np.clip(predictions, MEAN_FLOOR, None)  # 0 where not routed
        return stats.gamma(a=1.0 / dispersion, scale=mean * dispersion)


def _t_scale(squares, weights, totals, df, start):
    """Log squared scales maximising the weighted t log-likelihood at fixed df.

    ``h(a) = sum_i w_i [-a / 2 - (df + 1) / 2 log(1 + r_i^2 e^-a / df)]`` is
    concave in ``a = log scale^2``: damped Newton from ``start``, (K,).
    """
    log_scale2 = start
    for _ in range(100):
        q = squares * np.exp(-log_scale2) / df
        share = q / (1.0 + q)
        gradient = -0.5 * totals + 0.5 * (df + 1.0) * np.sum(weights * share, axis=0)
        curvature = 0.5 * (df + 1.0) * np.sum(weights * share / (1.0 + q), axis=0)
        step = np.clip(gradient / np.maximum(curvature, 1e-300), -2.0, 2.0)
        log_scale2 = log_scale2 + step
        if np.all(np.abs(step) < 1e-12):
            break
    return log_scale2


def _t_profile(squares, weights, totals, df, start):
    """Weighted t log-likelihood maximised over the scale; and that scale."""
    log_scale2 = _t_scale(squares, weights, totals, df, start)
    q = squares * np.exp(-log_scale2) / df
    value = totals * (
        special.gammaln(0.5 * (df + 1.0))
        - special.gammaln(0.5 * df)
        - 0.5 * (np.log(np.pi * df) + log_scale2)
    ) - 0.5 * (df + 1.0) * np.sum(weights * np.log1p(q), axis=0)
    return value, log_scale2


def fit_student_t(residuals, weights, floor):
    """Squared scales and degrees of freedom maximising the weighted t likelihood.

    For fixed locations (the experts' new fits), each expert's
    ``sum_i w_ik log t(r_ik; df_k, 0, scale_k)`` is maximised: the scale
    exactly for each df (a concave problem), the profile over df on a grid
    of ``DF_BOUNDS`` refined by Brent's method (an ECME step, Liu & Rubin,
    1995: the conditional maximum of the likelihood itself).

    Parameters
    ----------
    residuals, weights : ndarray of shape (n, K)
    floor : float
        Floor of the squared scales.

    Returns
    -------
    dispersion : ndarray of shape (2, K)
        Squared scales (row 0) and degrees of freedom (row 1).
    """
    squares = residuals**2
    totals = np.maximum(weights.sum(axis=0), 1e-300)
    start = np.log(np.maximum((weights * squares).sum(axis=0) / totals, floor))
    grid = np.geomspace(*DF_BOUNDS, 25)
    values = np.array(
        [_t_profile(squares, weights, totals, df, start)[0] for df in grid]
    )
    best = np.argmax(values, axis=0)
    df = grid[best]
    for k in range(squares.shape[1]):
        low, high = grid[max(best[k] - 1, 0)], grid[min(best[k] + 1, len(grid) - 1)]
        column = (squares[:, k : k + 1], weights[:, k : k + 1], totals[k : k + 1])

        def negative(log_df, column=column, k=k):
            return -_t_profile(*column, np.exp(log_df), start[k : k + 1])[0][0]

        found = optimize.minimize_scalar(
            negative,
            bounds=(np.log(low), np.log(high)),
            method="bounded",
            options={"xatol": 1e-8},
        )
        if -found.fun > values[best[k], k]:
            df[k] = np.exp(found.x)
    _, log_scale2 = _t_profile(squares, weights, totals, df, start)
    return np.stack([np.maximum(np.exp(log_scale2), floor), df])


class StudentTFamily:
    """Robust experts, ``y ~ t(df_k, loc = prediction_k, scale = sqrt(s2_k))``.

    Fitted by ECM as meteorits' tMoE: given the responsibilities, each
    sample's latent precision ``u_ik = (df_k + 1) / (df_k + r_ik^2 / s2_k)``
    (``expert_weights``) multiplies the experts' sample weights, so that far
    outliers barely move them; the squared scales ``s2`` and degrees of
    freedom ``df`` then maximise the weighted t likelihood
    (:func:`fit_student_t`). The dispersion is the (2, K) array
    ``[s2, df]``.

    Parameters
    ----------
    target_scale : float
        Weighted standard deviation of the training targets (the floor of
        the squared scales is ``VARIANCE_FLOOR * target_scale**2``).
    """

    name = "student_t"

    def __init__(self, target_scale):
        self.target_scale = target_scale
        self.floor = VARIANCE_FLOOR * target_scale**2

    def check_targets(self, y):
        """Any finite target will do."""

    def log_density(self, y, predictions, dispersion):
        """``log t(y_i; df_k, predictions_ik, sqrt(s2_k))``, shape (n, K)."""
        xp = namespace(predictions)
        scale2, df = to_host(dispersion)
        constant = (
            special.gammaln(0.5 * (df + 1.0))
            - special.gammaln(0.5 * df)
            - 0.5 * np.log(np.pi * df * scale2)
        )
        q = (y[:, None] - predictions) ** 2 / to_device(df * scale2, predictions)
        exponent = to_device(0.5 * (df + 1.0), predictions)
        return to_device(constant, predictions) - exponent * xp.log1p(q)

    def expert_weights(self, y, predictions, dispersion):
        """Latent precisions ``E[u_ik]`` at the current parameters, (n, K).

        None before the first fit of the family's parameters (the first
        M-step weighs samples by their responsibilities alone).
        """
        if dispersion is None:
            return None
        scale2, df = to_host(dispersion)
        squares = (y[:, None] - predictions) ** 2 / to_device(scale2, predictions)
        df = to_device(df, predictions)
        return (df + 1.0) / (df + squares)

    def fit_dispersion(self, y, predictions, weights):
        """M-step of the squared scales and df; ``weights``: ``w_i R_ik``."""
        residuals = to_host(y)[:, None] - to_host(predictions)
        dispersion = fit_student_t(residuals, to_host(weights), self.floor)
        return to_device(dispersion, predictions)

    def n_parameters(self, n_experts):
        """Free parameters of the family itself: a scale and a df per expert."""
        return 2 * n_experts

    def mean_variance(self, predictions, dispersion):
        """Each expert's mean and variance ``s2 df / (df - 2)`` (inf if df <= 2)."""
        xp = namespace(predictions)
        scale2, df = to_host(dispersion)
        with np.errstate(divide="ignore"):
            variance = np.where(df > 2, scale2 * df / np.maximum(df - 2, 0), np.inf)
        return predictions, xp.broadcast_to(
            to_device(variance, predictions), predictions.shape
        )

    def predictive(self, predictions, dispersion):
        """Frozen ``scipy.stats.t`` broadcasting to (n, K)."""
        scale2, df = np.asarray(dispersion)
        return stats.t(df=df[None, :], loc=predictions, scale=np.sqrt(scale2)[None, :])


LIKELIHOODS = ("gaussian", "student_t", "poisson", "gamma")


def make_family(likelihood, target_scale):
    """The family object of a resolved likelihood name."""
    if likelihood == "gaussian":
        return GaussianFamily(target_scale)
    if likelihood == "student_t":
        return StudentTFamily(target_scale)
    if likelihood == "poisson":
        return PoissonFamily()
    if likelihood == "gamma":
        return GammaFamily()
    raise ValueError(
        f"likelihood must be 'auto' or one of {LIKELIHOODS}; got {likelihood!r}."
    )
