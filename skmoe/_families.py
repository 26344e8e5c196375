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
from scipy import stats

from ._array_utils import namespace, to_device

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
