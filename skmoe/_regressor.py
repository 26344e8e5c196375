"""MixtureOfExpertsRegressor: regression experts and their likelihood family."""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.linear_model import LinearRegression
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import column_or_1d

from ._array_utils import is_numpy, namespace, to_device, to_host
from ._base import BaseMixtureOfExperts
from ._dask_estimator import dask_method
from ._docstrings import fill_doc
from ._experts import RegressionExperts
from ._families import LIKELIHOODS, make_family
from ._glm import GLMExperts
from ._predictive import mixture_interval, mixture_quantiles, mixture_sample

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
        {continuation}
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
    noise_variance_ : ndarray of shape (`n_experts_`,)
        Each expert's noise variance (gaussian), or squared scale
        (student_t); absent for the other families.
    df_ : ndarray of shape (`n_experts_`,)
        Each expert's degrees of freedom (student_t only).
    dispersion_ : ndarray of shape (`n_experts_`,)
        Each expert's dispersion, 1 / shape (gamma only).
    {expert_weights_}
    {log_likelihood_}
    {log_likelihood_path_}
    {n_iter_}
    {converged_}
    {estimator_}
    {n_features_in_}
    {feature_names_in_}

    See Also
    --------
    MixtureOfExpertsClassifier : The same model for classification.
    skmoe.SplineGate : An additive spline gate for curved regime boundaries.
    skmoe.select_n_experts : Choose the number of experts by BIC, AIC or ICL.

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
        likelihood = self._resolved_likelihood()
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
        model = GLMExperts if self._batched == "glm" else RegressionExperts
        return model(
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

    def _routed_means(self, X, weights):
        """Each expert's prediction where it is routed (0 elsewhere), (n, K);
        the experts read their columns of validated X (``expert_features``)."""
        X = self._expert_X(X)
        if self._on_device():
            # Linear experts on the device: every expert on every row (the
            # array API has no scatter); others predict on a host copy.
            return self._expert_model().predict(self.experts_, X)
        means = np.zeros(weights.shape)
        for k, expert in enumerate(self.experts_):
            rows = np.flatnonzero(weights[:, k] > 0)
            if len(rows):
                means[rows, k] = expert.predict(X[rows])
        return means

    # Dask input: R^2 / accuracy summed on the workers.
    score = dask_method(RegressorMixin.score)

    @dask_method
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
        xp = namespace(weights)
        means, variances = self._family().mean_variance(
            self._routed_means(X, weights), self._fitted_dispersion()
        )
        mean = xp.sum(weights * means, axis=1)
        if not return_std:
            return mean
        # The law of total variance over the experts.
        second = xp.sum(weights * (variances + means**2), axis=1)
        return mean, xp.sqrt(xp.clip(second - mean**2, min=0.0))

    def _predictive(self, X, method):
        """Mixture weights and the experts' predictive distributions (host)."""
        X = self._validate_X(X, method)
        weights = self._routing(X)
        means = to_host(self._routed_means(X, weights))
        dispersion = to_host(self._fitted_dispersion())
        return to_host(weights), self._family().predictive(means, dispersion)

    @dask_method
    def predict_quantiles(self, X, quantiles=(0.05, 0.5, 0.95)):
        """Compute quantiles of the predictive distribution of each sample.

        The mixture's CDF ``sum_k g_k(x) F_k(y | x)`` inverted per sample (to
        1e-10 in probability), over the ``top_k`` experts when set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        quantiles : float or array-like of shape (n_quantiles,), \
                default=(0.05, 0.5, 0.95)
            Probabilities in (0, 1).

        Returns
        -------
        quantiles : ndarray of shape (n_samples, n_quantiles)
            One column per probability.

        Examples
        --------
        >>> from skmoe import MixtureOfExpertsRegressor
        >>> from skmoe.datasets import load_tone
        >>> X, y = load_tone(return_X_y=True)
        >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
        >>> moe.predict_quantiles(X[:3], quantiles=[0.1, 0.9]).shape
        (3, 2)
        """
        weights, components = self._predictive(X, "predict_quantiles")
        return mixture_quantiles(weights, components, quantiles)

    @dask_method
    def predict_interval(self, X, coverage=0.9):
        """Central prediction interval of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        coverage : float, default=0.9
            Probability in (0, 1) that the interval holds the target.

        Returns
        -------
        interval : ndarray of shape (n_samples, 2)
            The predictive quantiles at ``(1 - coverage) / 2`` and
            ``(1 + coverage) / 2``.
        """
        weights, components = self._predictive(X, "predict_interval")
        return mixture_interval(weights, components, coverage)

    @dask_method
    def sample_y(self, X, n_samples=1, random_state=None):
        """Draw targets from the predictive distribution of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        n_samples : int, default=1
            Draws per sample.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws.

        Returns
        -------
        draws : ndarray of shape (n_samples_X, n_samples)
            Each draw picks an expert by the gate, then a target from it.
        """
        weights, components = self._predictive(X, "sample_y")
        return mixture_sample(weights, components, n_samples, random_state)

    def summary(
        self,
        X,
        y,
        sample_weight=None,
        *,
        method="information",
        n_boot=100,
        random_state=None,
    ):
        """Tabulate the experts' and the gate's coefficients with standard errors.

        As R's flexmix ``summary(refit(model))``: standard errors from the
        observed information matrix of the whole mixture log-likelihood
        (the experts' coefficients and noise scales and the gate, jointly),
        or from a bootstrap. Estimators keep no training data, so the
        training data are passed again.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training features.
        y : array-like of shape (n_samples,)
            The training targets.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights of the fit, if any.
        method : {"information", "bootstrap"}, default="information"
            "bootstrap": refit on ``n_boot`` resamples, warm-started from this
            fit, each replicate's experts matched to the fitted ones; with
            experts that have no coefficients (trees...), the gate's rows
            only.
        n_boot : int, default=100
            Bootstrap replicates.
        random_state : int, RandomState instance or None, default=None
            Seeds the resamples.

        Returns
        -------
        table : pandas.DataFrame
            Index ``(part, term)``: parts "expert 0", ..., then "gate 1", ...
            (gate 0 is the reference, as in flexmix), terms "intercept" then
            the feature names; columns ``estimate``, ``std_error``, ``z``,
            ``p_value``.
        """
        # pandas and the information matrix: imported when first asked for.
        from ._glm_summary import glm_summary
        from ._inference import (
            bootstrap_table,
            coefficient_table,
            linear_mixture_parameters,
            warm_refit,
        )

        data = self._summary_data(X, y, sample_weight, method)
        if self.likelihood_ == "poisson":
            return glm_summary(self, "poisson", data, method, n_boot, random_state)
        expert_X, gate_X, weights = (
            data["expert_X"],
            data["gate_X"],
            data["sample_weight"],
        )
        if method == "information":
            return coefficient_table(
                linear_mixture_parameters(self),
                expert_X,
                data["targets"],
                gate_X,
                sample_weight=weights,
                feature_names=data["names"],
                gate_feature_names=data["gate_names"],
            )

        def refit(rows):
            return linear_mixture_parameters(
                warm_refit(self, data, rows), expert_X, any_family=True
            )

        parameters = linear_mixture_parameters(self, expert_X, any_family=True)
        with_coefficients = parameters.expert_coef.shape[1] == expert_X.shape[1]
        table = bootstrap_table(
            refit,
            parameters,
            expert_X.shape[0],
            n_boot=n_boot,
            random_state=random_state,
            feature_names=data["names"] if with_coefficients else [],
            gate_feature_names=data["gate_names"],
        )
        if with_coefficients:
            return table
        # Experts without coefficients: only the gate's rows mean anything.
        parts = table.index.get_level_values("part")
        return table[parts.str.startswith("gate")]
