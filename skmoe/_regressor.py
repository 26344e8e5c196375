"""MixtureOfExpertsRegressor: regression experts and their likelihood family."""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.linear_model import LinearRegression
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import column_or_1d

from ._array_utils import is_numpy, namespace, to_device
from ._base import BaseMixtureOfExperts
from ._docstrings import fill_doc
from ._experts import RegressionExperts
from ._families import LIKELIHOODS, likelihood_of, make_family

# The fitted attributes each family's parameters go to (rows of the
# family's dispersion array, or the array itself for a single name).
_DISPERSION_ATTRIBUTES = {
    "gaussian": ("noise_variance_",),
    "student_t": ("noise_variance_", "df_"),
    "poisson": (),
    "gamma": ("dispersion_",),
}


@fill_doc
class MixtureOfExpertsRegressor(RegressorMixin, BaseMixtureOfExperts):
    """Mixture of experts for regression, trained by EM.

    The model is ``p(y | x) = sum_k g_k(x) p_k(y; f_k(x), theta_k)``: a
    softmax gate ``g`` says how much each expert ``f_k`` is trusted for each
    sample, and each expert has its own likelihood parameters ``theta_k``
    (by default Gaussian, ``Normal(y; f_k(x), sigma_k^2)``; see
    ``likelihood``). Experts and gate are trained together by
    expectation-maximisation (Jordan & Jacobs, 1994).

    Parameters
    ----------
    estimator : regressor, default=None
        The base expert, cloned ``n_experts`` times; None means
        ``LinearRegression()``. Experts whose ``fit`` takes ``sample_weight``
        get the responsibilities as weights; others are fitted on the samples
        they are most responsible for. ``LinearRegression`` and ``Ridge``
        experts are fitted together from their weighted normal equations,
        and with the built-in gate in one pass over the data per iteration;
        PoissonRegressor, GammaRegressor and TweedieRegressor experts (log
        link) together by IRLS from their weighted normal equations.
    {n_experts}
    {gate}
    likelihood : {{"auto", "gaussian", "student_t", "poisson", "gamma"}}, \
default="auto"
        The experts' likelihood family. "auto" follows the expert's own loss:
        PoissonRegressor, TweedieRegressor(power=1) and ``loss="poisson"``
        (HistGradientBoostingRegressor, MLPRegressor) give "poisson";
        GammaRegressor, TweedieRegressor(power=2) and ``loss="gamma"`` give
        "gamma"; anything else "gaussian". "poisson": counts,
        ``Poisson(y; f_k(x))``. "gamma": positive targets,
        ``Gamma(y; shape = 1 / phi_k, scale = f_k(x) phi_k)``, one dispersion
        ``phi_k`` per expert. "student_t": robust experts (as meteorits'
        tMoE), ``t(y; df_k, loc = f_k(x), scale = sigma_k)``, fitted by ECM:
        each sample's latent precision multiplies the experts' sample
        weights, so that outliers barely move them. Poisson and Gamma experts
        should predict a positive mean (a log link).
    {gate_features}
    {expert_features}
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
    likelihood_ : str
        The fitted family: "gaussian", "student_t", "poisson" or "gamma".
    noise_variance_ : ndarray of shape (n_experts_,)
        Each expert's noise variance (gaussian), or squared scale
        (student_t); absent for the other families.
    df_ : ndarray of shape (n_experts_,)
        Each expert's degrees of freedom (student_t only).
    dispersion_ : ndarray of shape (n_experts_,)
        Each expert's dispersion, 1 / shape (gamma only).
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

    _DEVICE_ATTRIBUTES = (
        *BaseMixtureOfExperts._DEVICE_ATTRIBUTES,
        "noise_variance_",
        "df_",
        "dispersion_",
    )

    _parameter_constraints: dict = {
        **BaseMixtureOfExperts._parameter_constraints,
        "likelihood": [StrOptions({"auto", *LIKELIHOODS})],
    }

    def __init__(
        self,
        estimator=None,
        n_experts=3,
        *,
        gate=None,
        likelihood="auto",
        gate_features=None,
        expert_features=None,
        init="tree",
        n_init=1,
        max_iter=100,
        tol=1e-5,
        top_k=None,
        backend="auto",
        n_jobs=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        routing="soft",
        min_expert_weight=1e-3,
    ):
        super().__init__(
            estimator,
            n_experts,
            gate=gate,
            gate_features=gate_features,
            expert_features=expert_features,
            init=init,
            n_init=n_init,
            max_iter=max_iter,
            tol=tol,
            top_k=top_k,
            backend=backend,
            n_jobs=n_jobs,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            routing=routing,
            min_expert_weight=min_expert_weight,
        )
        self.likelihood = likelihood

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
        likelihood = self.likelihood
        if likelihood == "auto":
            likelihood = likelihood_of(self._base_estimator())
        previous = getattr(self, "likelihood_", likelihood)
        if self.warm_start and hasattr(self, "experts_") and previous != likelihood:
            raise ValueError(
                f"warm_start=True continues the previous fit: it needs the same "
                f"likelihood (fitted {previous!r}, now {likelihood!r})."
            )
        make_family(likelihood, self._target_scale).check_targets(y)
        self.likelihood_ = likelihood
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
        return make_family(self.likelihood_, self._target_scale)

    def _expert_model(self):
        return RegressionExperts(
            self._batched, self._feature_mean, self._feature_scale, self.n_jobs
        )

    def _store_dispersion(self, dispersion):
        for names in _DISPERSION_ATTRIBUTES.values():
            for name in names:
                self.__dict__.pop(name, None)  # a previous fit's family
        names = _DISPERSION_ATTRIBUTES[self.likelihood_]
        if len(names) == 1:
            setattr(self, names[0], dispersion)
        for row, name in enumerate(names if len(names) > 1 else ()):
            setattr(self, name, dispersion[row, ...])

    def _fitted_dispersion(self):
        names = _DISPERSION_ATTRIBUTES[self.likelihood_]
        if not names:
            return None
        if len(names) == 1:
            return getattr(self, names[0])
        xp = namespace(getattr(self, names[0]))
        return xp.stack([getattr(self, name) for name in names])

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
        X = self._expert_X(X)
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
        means, variances = self._family().mean_variance(
            means, self._fitted_dispersion()
        )
        mean = xp.sum(weights * means, axis=1)
        if not return_std:
            return mean
        # The law of total variance over the experts.
        second = xp.sum(weights * (variances + means**2), axis=1)
        return mean, xp.sqrt(xp.clip(second - mean**2, min=0.0))
