"""MixtureOfExpertsRegressor: Gaussian experts with one noise variance each."""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.linear_model import LinearRegression
from sklearn.utils.validation import column_or_1d

from ._backend import device, is_numpy, namespace, to_device, to_host
from ._base import BaseMixtureOfExperts
from ._experts import fit_experts, fit_linear_regressors
from ._fused import run_fused_em, supports_fused_em

# Noise variances are floored at this fraction of the target's variance, so
# that an expert collapsing onto a few points cannot make the likelihood
# infinite.
VARIANCE_FLOOR = 1e-6


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
        they are most responsible for.
    n_experts : int, default=3
        Number of experts K.
    gate : classifier, default=None
        None: the built-in softmax gate with a weak L2 penalty
        (``1 / (2 * 1000) * ||W||^2`` on the standardised features).
        ``LogisticRegression(C=...)``: the built-in gate with that penalty in
        LogisticRegression's units (``C=np.inf``: none). Any other classifier
        with ``predict_proba`` is fitted on the responsibilities as soft
        targets (each sample once per expert, weighted by its responsibility).
    init : {"tree", "kmeans", "random"} or array-like of shape \
            (n_samples, n_experts), default="tree"
        Initial responsibilities. "tree": the leaves of a greedy
        least-squares model tree with ``n_experts`` leaves (each split is
        where one linear fit per side, instead of one for both, lowers the
        squared error the most), grown on the standardised features and
        target (at most 10,000 rows); it finds regimes that switch along the
        features, where k-means on ``[X, y]`` and random partitions leave
        EM stuck (``benchmarks/bench_init.py``). With more than 32 features
        the tree's linear fits cost more than EM, and "tree" starts as
        "kmeans" does. "kmeans": k-means on the standardised ``[X, y]``.
        "random": each sample to the nearest of K random samples. An array:
        given. Restarts after the first (``n_init``) start from random
        partitions, and never twice from one partition.
    n_init : int, default=1
        Number of EM runs; the one with the best log-likelihood is kept.
    max_iter : int, default=100
        EM iterations per run.
    tol : float, default=1e-5
        Convergence threshold on the change of the mean (per unit of sample
        weight) log-likelihood.
    top_k : int, default=None
        None: predict with the full soft mixture. k: each sample goes to its
        k most trusted experts only (gate renormalised over them); other
        experts are not evaluated on it.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        Array backend of the gate and E-step kernels.
    n_jobs : int, default=None
        Parallel expert fits through joblib.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Continue from the previous fit (one run) instead of initialising.
    verbose : int, default=0
        Print the log-likelihood at every iteration.
    routing : {"soft", "hard"} or int, default="soft"
        Responsibilities the experts and the gate are trained on. "soft":
        the posterior probabilities (EM proper; the log-likelihood never
        decreases). "hard": each sample trains only its most responsible
        expert (classification EM): experts see disjoint subsets, which
        makes costly experts (trees, neighbours, networks) much cheaper to
        fit and regimes crisper, at the price of a biased fit where regimes
        overlap. k: each sample trains its k most responsible experts, with
        renormalised weights; a middle ground, and the training-time
        counterpart of ``top_k``.
    min_expert_weight : float in [0, 1), default=1e-3
        An expert whose share of the (weighted) training data, the mean of
        its responsibilities, falls below this value during EM is removed
        (with its gate column), and EM goes on with the others:
        ``n_experts_`` says how many remain. Such an expert is collapsing:
        its fit rests on less than a thousandth of the data, its noise
        variance and gate weights run to their limits. The default is small
        enough never to remove a real regime of a few samples in hundreds
        (the noise variance floor keeps those finite); 0 never removes.
        R's flexmix has the same rule (``minprior``, default 0.05).

    Attributes
    ----------
    n_experts_ : int
        Experts in the fitted model: ``n_experts`` minus those removed
        (see ``min_expert_weight``). Every per-expert attribute has this
        length.
    experts_ : list of fitted regressors
    gate_ : SoftmaxGate or ClassifierGate
    noise_variance_ : ndarray of shape (n_experts_,)
    expert_weights_ : ndarray of shape (n_experts_,)
        Share of the (weighted) training data each expert is responsible for.
    log_likelihood_ : float
        Training log-likelihood (natural log) of the kept run.
    log_likelihood_path_ : ndarray of shape (n_iter_,)
    n_iter_ : int
    converged_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Examples
    --------
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(n_samples=500, random_state=0)
    >>> moe = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    >>> moe.gate_proba(X[:2]).shape
    (2, 3)
    """

    def _default_estimator(self):
        return LinearRegression()

    _DEVICE_ATTRIBUTES = (*BaseMixtureOfExperts._DEVICE_ATTRIBUTES, "noise_variance_")

    def _prepare_targets(self, y, sample_weight, like):
        y = to_device(self._as_float_vector(y, warn=True), like)
        xp = namespace(y)
        total = xp.sum(sample_weight)
        mean = float(sample_weight @ y / total)
        variance = float(sample_weight @ (y - mean) ** 2 / total)
        self._target_mean = mean
        self._target_scale = float(np.sqrt(variance)) if variance > 0 else 1.0
        self._variance_floor = VARIANCE_FLOOR * self._target_scale**2
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

    def _expert_means(self, X, host_X=None):
        """Every expert's prediction on every row, (n, K), on X's device.

        Experts other than batched linear ones predict on ``host_X`` (a numpy
        copy of X, made here if not given).
        """
        if self._batched == "regression":
            # Linear experts (on the device): one product for all of them.
            xp = namespace(self._feature_mean)
            coef = xp.stack([expert.coef_ for expert in self.experts_], axis=1)
            intercept = [expert.intercept_ for expert in self.experts_]
            return X @ coef + xp.asarray(intercept, device=device(coef))
        host_X = to_host(X) if host_X is None else host_X
        means = np.column_stack([expert.predict(host_X) for expert in self.experts_])
        return to_device(means, X)

    def _fit_expert_params(self, data, responsibilities):
        kernels = self._kernels
        if self._batched == "regression":
            self.experts_, coef = fit_linear_regressors(
                kernels,
                self.experts_,
                data.design,
                data.y,
                responsibilities,
                data.sample_weight,
                self._feature_mean,
                self._feature_scale,
            )
            inputs = data.design
        else:
            self.experts_ = fit_experts(
                self.experts_,
                data.host_X,
                data.y,
                responsibilities,
                data.sample_weight,
                self.n_jobs,
            )
            # The kernels take linear maps: map the predictions by identity.
            inputs = self._expert_means(data.X, data.host_X)
            coef = namespace(inputs).eye(len(self.experts_), device=device(inputs))
        sums = kernels.gaussian_residual_sums(
            inputs, coef, data.y, responsibilities, data.sample_weight
        )
        xp = namespace(sums)
        totals = data.sample_weight @ responsibilities
        variance = xp.where(
            totals > 0,
            sums / xp.clip(totals, min=1e-300),
            xp.full_like(sums, self._target_scale**2),
        )
        self.noise_variance_ = xp.clip(variance, min=self._variance_floor)
        return kernels.gaussian_log_density(inputs, coef, data.y, self.noise_variance_)

    def _run_fused_em(self, data, responsibilities, run):
        # Linear experts and the softmax gate: one pass over the data per
        # iteration (see skmoe._fused).
        if not supports_fused_em(self):
            return None
        return run_fused_em(self, data, responsibilities, run)

    def _partial_fit_experts(self, data, responsibilities, step):
        for k, expert in enumerate(self.experts_):
            expert.partial_fit(
                data.X,
                data.y,
                sample_weight=responsibilities[:, k] * data.sample_weight,
            )
        identity = np.eye(len(self.experts_))
        sums = self._kernels.gaussian_residual_sums(
            self._expert_means(data.X),
            identity,
            data.y,
            responsibilities,
            data.sample_weight,
        )
        totals = data.sample_weight @ responsibilities
        previous = self.noise_variance_
        chunk = np.where(totals > 0, sums / np.maximum(totals, 1e-300), previous)
        self.noise_variance_ = np.maximum(
            previous + step * (chunk - previous), self._variance_floor
        )

    def _expert_log_density(self, data):
        means = self._expert_means(data.X, data.host_X)
        return self._kernels.gaussian_log_density(
            means,
            namespace(means).eye(len(self.experts_), device=device(means)),
            data.y,
            self.noise_variance_,
        )

    def _expert_parameters(self):
        return {"noise_variance_": self.noise_variance_}

    def _n_parameters(self):
        return super()._n_parameters() + len(self.experts_)

    def predict(self, X, return_std=False):
        """Predict the mixture mean, and optionally its standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation of the predictive mixture
            (spread of the experts' means plus their noise).

        Returns
        -------
        mean : ndarray of shape (n_samples,)
        std : ndarray of shape (n_samples,), only if ``return_std``
        """
        X = self._validate_X(X)
        weights = self._routing(X)
        if self._on_device():
            # Linear experts on the device: every expert on every row (the
            # array API has no scatter); others predict on a host copy.
            means = self._expert_means(X)
        else:
            # Each expert predicts only the rows routed to it.
            means = np.zeros(weights.shape)
            for k, expert in enumerate(self.experts_):
                rows = np.flatnonzero(weights[:, k] > 0)
                if len(rows):
                    means[rows, k] = expert.predict(X[rows])
        xp = namespace(weights)
        mean = xp.sum(weights * means, axis=1)
        if not return_std:
            return mean
        second = xp.sum(weights * (self.noise_variance_ + means**2), axis=1)
        return mean, xp.sqrt(xp.clip(second - mean**2, min=0.0))
