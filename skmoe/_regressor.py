"""MixtureOfExpertsRegressor: regression experts, Gaussian likelihood."""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.linear_model import LinearRegression
from sklearn.utils.validation import column_or_1d

from ._array_utils import is_numpy, namespace, to_device
from ._base import BaseMixtureOfExperts
from ._docstrings import fill_doc
from ._experts import RegressionExperts
from ._families import GaussianFamily


@fill_doc
class MixtureOfExpertsRegressor(RegressorMixin, BaseMixtureOfExperts):
    """Mixture of experts for regression, trained by EM.

    The model is ``p(y | x) = sum_k g_k(x) Normal(y; f_k(x), sigma_k^2)``: a
    softmax gate ``g`` says how much each expert ``f_k`` is trusted for each
    sample, and each expert has its own noise variance. Experts and gate are
    trained together by expectation-maximisation (Jordan & Jacobs, 1994).

    Parameters
    ----------
    estimator : regressor, default=None
        The base expert, cloned ``n_experts`` times; None means
        ``LinearRegression()``. Experts whose ``fit`` takes ``sample_weight``
        get the responsibilities as weights; others are fitted on the samples
        they are most responsible for. ``LinearRegression`` and ``Ridge``
        experts are fitted together from their weighted normal equations,
        and with the built-in gate in one pass over the data per iteration.
        {continuation}
    {n_experts}
    {gate}
    {init}
    {n_init}
    {max_iter}
    {tol}
    {top_k}
    {backend}
    {n_jobs}
    {random_state}
    {warm_start}
    {verbose}
    {routing}
    {min_expert_weight}

    Attributes
    ----------
    {n_experts_}
    experts_ : list of fitted regressors
        The experts, genuine fitted estimators of the base expert's class.
    {gate_}
    noise_variance_ : ndarray of shape (n_experts_,)
        Each expert's noise variance.
    {expert_weights_}
    {log_likelihood_}
    {log_likelihood_path_}
    {n_iter_}
    {converged_}
    {estimator_}
    {n_features_in_}
    {feature_names_in_}

    Examples
    --------
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(n_samples=500, random_state=0)
    >>> moe = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    >>> moe.gate_proba(X[:2]).shape
    (2, 3)
    """

    _DEVICE_ATTRIBUTES = (*BaseMixtureOfExperts._DEVICE_ATTRIBUTES, "noise_variance_")

    def _default_estimator(self):
        return LinearRegression()

    def _prepare_targets(self, y, sample_weight, like):
        y = to_device(self._as_float_vector(y, warn=True), like)
        xp = namespace(y)
        total = xp.sum(sample_weight)
        mean = float(sample_weight @ y / total)
        variance = float(sample_weight @ (y - mean) ** 2 / total)
        self._target_mean = mean
        self._target_scale = float(np.sqrt(variance)) if variance > 0 else 1.0
        return y

    @staticmethod
    def _as_float_vector(y, warn=False):
        if is_numpy(y):
            return column_or_1d(np.asarray(y), warn=warn).astype(np.float64)
        xp = namespace(y)
        return xp.reshape(xp.astype(y, xp.float64), (-1,))

    def _encode_targets(self, y, n_samples):
        y = self._as_float_vector(y)
        if y.shape[0] != n_samples:
            raise ValueError(f"X has {n_samples} samples but y has {len(y)}.")
        return y

    def _targets_for_init(self, y):
        return ((y - self._target_mean) / self._target_scale)[:, None]

    def _family(self):
        return GaussianFamily(self._target_scale)

    def _expert_model(self):
        return RegressionExperts(
            self._batched, self._feature_mean, self._feature_scale, self.n_jobs
        )

    def _store_dispersion(self, dispersion):
        self.noise_variance_ = dispersion

    def _fitted_dispersion(self):
        return self.noise_variance_

    def predict(self, X, return_std=False):
        """Predict the mixture mean, and optionally its standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        return_std : bool, default=False
            Also return the standard deviation of the predictive mixture
            (spread of the experts' means plus their noise).

        Returns
        -------
        mean : ndarray of shape (n_samples,)
            The mixture mean, ``sum_k g_k(x) f_k(x)`` (over the ``top_k``
            experts when set).
        std : ndarray of shape (n_samples,)
            The mixture's standard deviation; only if ``return_std``.
        """
        X = self._validate_X(X)
        weights = self._routing(X)
        if self._on_device():
            # Linear experts on the device: every expert on every row (the
            # array API has no scatter); others predict on a host copy.
            means = self._expert_model().predict(self.experts_, X)
        else:
            # Each expert predicts only the rows routed to it.
            means = np.zeros(weights.shape)
            for k, expert in enumerate(self.experts_):
                rows = np.flatnonzero(weights[:, k] > 0)
                if len(rows):
                    means[rows, k] = expert.predict(X[rows])
        xp = namespace(weights)
        means, variances = self._family().mean_variance(means, self.noise_variance_)
        mean = xp.sum(weights * means, axis=1)
        if not return_std:
            return mean
        # The law of total variance over the experts.
        second = xp.sum(weights * (variances + means**2), axis=1)
        return mean, xp.sqrt(xp.clip(second - mean**2, min=0.0))
