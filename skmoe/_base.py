"""BaseMixtureOfExperts: parameters, fit orchestration, inference.

``fit`` validates the data, places it where EM runs (``_backend``), starts
each run (``_init``), lets the EM driver (``_em``) run an engine
(``_engines``) and sets the fitted attributes from the best run's
parameters. The regressor and the classifier are thin: they say what the
targets are, which family gives their likelihood, and how their experts
are fitted and predict.
"""

from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils._array_api import get_namespace
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    _check_sample_weight,
    validate_data,
)

from ._array_utils import is_numpy, to_device, to_host
from ._backend import (
    ARRAY_API,
    compute_arrays,
    kernel_threads,
    resolve_backend,
)
from ._dask import is_dask_collection
from ._dask_estimator import DaskMixin
from ._em import fit_em
from ._engines import GeneralEngine, weighted_scaling
from ._experts import batched_kind, make_experts
from ._features import resolve_columns, take_columns
from ._flexible import continuation
from ._fused import FusedEngine, fused_experts
from ._gate import SoftmaxGate, make_gate
from ._init import (
    check_initial_responsibilities,
    initial_responsibilities,
    spline_mixture_start,
)
from ._losses import likelihood_of
from ._online import step_size, stepwise_em_step
from ._prediction import PredictionMixin


class BaseMixtureOfExperts(
    DaskMixin, PredictionMixin, BaseEstimator, metaclass=ABCMeta
):
    """Shared machinery of the mixture-of-experts estimators."""

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "gate": [HasMethods(["fit", "predict_proba"]), None],
        "init": [StrOptions({"tree", "kmeans", "random", "spline"}), "array-like"],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "top_k": [Interval(Integral, 1, None, closed="left"), None],
        "backend": [StrOptions({"auto", "numpy", "numba", "cupy"})],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "routing": [
            StrOptions({"soft", "hard"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "min_expert_weight": [Interval(Real, 0, 1, closed="left")],
        "gate_features": [list, tuple, "array-like", callable, None],
        "expert_features": [list, tuple, "array-like", callable, None],
    }

    # Fitted arrays that live on the device of the data (array-API fits).
    _DEVICE_ATTRIBUTES = (
        "_feature_mean",
        "_feature_scale",
        "_gate_mean",
        "_gate_scale",
        "expert_weights_",
        "log_likelihood_path_",
    )

    def __init__(
        self,
        estimator=None,
        n_experts=3,
        *,
        gate=None,
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
        self.estimator = estimator
        self.n_experts = n_experts
        self.gate = gate
        self.gate_features = gate_features
        self.expert_features = expert_features
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.top_k = top_k
        self.backend = backend
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.routing = routing
        self.min_expert_weight = min_expert_weight

    # -- hooks of the subclasses -------------------------------------------
    @abstractmethod
    def _default_estimator(self):
        """The expert used when ``estimator`` is None."""

    @abstractmethod
    def _prepare_targets(self, y, sample_weight, like):
        """Validate y, set the target attributes; y as the engines see it,
        where ``like`` lives."""

    @abstractmethod
    def _encode_targets(self, y, n_samples):
        """Validate y at inference time; return it as ``_prepare_targets`` does."""

    @abstractmethod
    def _targets_for_init(self, y):
        """Targets as an (n, m) float host array for the initialisation."""

    @abstractmethod
    def _family(self):
        """The family of the experts' likelihood."""

    @abstractmethod
    def _expert_model(self):
        """How the experts are fitted and what they predict for the family."""

    def _store_dispersion(self, dispersion):
        """Set the family's fitted parameters (none by default)."""

    def _fitted_dispersion(self):
        """The family's fitted parameters (none by default)."""
        return None

    def _expert_targets(self, y):
        """Targets as the experts' ``partial_fit`` takes them, and the classes."""
        return y, None

    def _base_estimator(self):
        """The base expert: ``estimator``, or the default when it is None."""
        return self._default_estimator() if self.estimator is None else self.estimator

    def _resolved_likelihood(self):
        """The likelihood a fit takes: ``likelihood`` with "auto" resolved by
        the expert's own loss; Gaussian for estimators without the parameter."""
        likelihood = getattr(self, "likelihood", "gaussian")
        if likelihood == "auto":
            likelihood = likelihood_of(self._base_estimator())
        return likelihood

    # -- fitting ------------------------------------------------------------
    def _validate_fit_data(self, X, y, sample_weight):
        xp, _ = get_namespace(X)
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=xp.float64, y_numeric=False
        )
        sample_weight = _check_sample_weight(sample_weight, X, dtype=xp.float64)
        n_samples = X.shape[0]
        if self.n_experts > n_samples:
            raise ValueError(
                f"n_experts={self.n_experts} must be at most the number of "
                f"samples, n_samples = {n_samples}."
            )
        for name in ("top_k", "routing"):
            value = getattr(self, name)
            if isinstance(value, Integral) and value > self.n_experts:
                raise ValueError(
                    f"{name}={value} must be at most n_experts={self.n_experts}."
                )
        if not float(xp.sum(sample_weight)) > 0:
            raise ValueError("sample_weight must have a positive sum.")
        return X, y, sample_weight

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the mixture of experts by expectation-maximisation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training features: numpy, pandas, sparse or array-API arrays,
            or dask arrays / DataFrames (exact EM on the cluster).
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples; None gives every sample weight 1.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if is_dask_collection(X):
            return self._fit_dask(X, y, sample_weight)
        raw_X = X
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight)
        self._resolve_features(raw_X, X.shape[1])
        previous_classes = getattr(self, "classes_", None)
        # What experts that only take numpy see: the input itself if it is
        # numpy (kept sparse if it is), else a host copy made when needed.
        host_X = X if is_numpy(X) else None
        X, sample_weight, self._backend = compute_arrays(X, sample_weight, self.backend)
        y = self._prepare_targets(y, sample_weight, X)
        self.estimator_ = self._base_estimator()
        self._batched = batched_kind(self.estimator_)
        continuing = self.warm_start and hasattr(self, "experts_")
        if continuing:
            self._check_warm_start(self._expert_X(X), previous_classes)
            self._move_fitted_arrays(lambda array: to_device(array, X))
        else:
            self._feature_mean, self._feature_scale = weighted_scaling(
                self._expert_X(X), sample_weight
            )
            self._gate_mean, self._gate_scale = weighted_scaling(
                take_columns(X, self._gate_columns), sample_weight
            )
        data = self._data(X, y, sample_weight, host_X)
        initial = None
        if not (isinstance(self.init, str) or continuing):
            initial = check_initial_responsibilities(
                self.init, X.shape[0], self.n_experts
            )
        n_runs = 1 if (continuing or initial is not None) else self.n_init
        start_run = self._run_starter(data, continuing, initial)
        # Restarts of experts that continue training are screened.
        how = continuation(self.estimator_)
        screen_iter = None if how is None else how.screen
        with kernel_threads(self._backend, X.shape[0]):
            run, parameters = fit_em(
                start_run,
                n_runs,
                max_iter=self.max_iter,
                tol=self.tol,
                min_expert_weight=self.min_expert_weight,
                verbose=self.verbose,
                screen_iter=screen_iter,
            )
        self._set_parameters(run, parameters, X)
        if host_X is not None and self._backend == ARRAY_API:
            # Trained on the GPU for numpy input: the model comes back to the
            # host and predicts on numpy input like any other estimator.
            self._move_fitted_arrays(to_host)
            self._backend = resolve_backend("auto")
        # The n_experts parameter of this fit, which warm_start must match
        # (n_experts_ may be smaller: experts can be removed).
        self._n_experts_fitted = self.n_experts
        return self

    def _resolve_features(self, X, n_features):
        """Column indices of ``gate_features`` and ``expert_features``."""
        names = getattr(self, "feature_names_in_", None)
        self._gate_columns, self._expert_columns = (
            resolve_columns(getattr(self, name), X, n_features, names, name)
            for name in ("gate_features", "expert_features")
        )

    def _run_starter(self, data, continuing, initial):
        """``start_run(run) -> (engine, initial responsibilities)`` of a fit."""
        rng = check_random_state(self.random_state)
        family = self._family()
        partitions = []
        if continuing or initial is not None:
            # No start to draw: no host copies of the data for it.
            host_design = host_weight = targets = None
        else:
            host_design = to_host(data.design)
            host_weight = to_host(data.sample_weight)
            targets = self._targets_for_init(to_host(data.y))

        def start_run(run):
            if continuing:
                engine = self._engine(
                    data, self.experts_, self.gate_, family, self._fitted_dispersion()
                )
                return engine, None
            experts = make_experts(self.estimator_, self.n_experts, rng)
            gate = make_gate(
                self.gate,
                self.n_experts,
                self._gate_mean,
                self._gate_scale,
                random_state=rng,
            )
            responsibilities = initial
            if initial is None and self.init == "spline" and run == 0:
                responsibilities = spline_mixture_start(
                    self, data.host_X, to_host(data.y), host_weight, rng
                )
            if responsibilities is None:
                responsibilities = initial_responsibilities(
                    "tree" if self.init == "spline" else self.init,
                    host_design,
                    targets,
                    host_weight,
                    self.n_experts,
                    rng,
                    partitions,
                )
            engine = self._engine(data, experts, gate, family)
            return engine, to_device(responsibilities, data.design)

        return start_run

    def _engine(self, data, experts, gate, family, dispersion=None):
        """The engine of a run: fused where it applies, else the general one."""
        if (
            fused_experts(self.estimator_, family.name)
            and self._backend != ARRAY_API  # numpy and numba only
            and isinstance(gate, SoftmaxGate)
            and self.routing == "soft"
        ):
            return FusedEngine(
                data,
                experts,
                gate,
                family,
                self._feature_mean,
                self._feature_scale,
                kernels=self._kernels,
                dispersion=dispersion,
            )
        return GeneralEngine(
            data,
            experts,
            gate,
            self._expert_model(),
            family,
            kernels=self._kernels,
            routing=self.routing,
            dispersion=dispersion,
        )

    def _set_parameters(self, run, parameters, like):
        """The fitted attributes from the best run (on ``like``'s device)."""
        self.experts_ = parameters.experts
        self.gate_ = parameters.gate
        # A gate that keeps its transform of the training matrix lets go.
        getattr(self.gate_, "clear_cache", lambda: None)()
        self.n_experts_ = len(self.experts_)
        self._store_dispersion(
            None
            if parameters.dispersion is None
            else to_device(parameters.dispersion, like)
        )
        self.log_likelihood_ = float(run.log_likelihood)
        self.log_likelihood_path_ = to_device(
            np.asarray(run.path, dtype=np.float64), like
        )
        self.n_iter_ = len(run.path)
        self.converged_ = run.converged
        self.expert_weights_ = to_device(run.expert_weights, like)

    def _move_fitted_arrays(self, convert):
        """Apply ``convert`` (to the host, to a device) to every fitted array."""
        owned = {
            self: self._DEVICE_ATTRIBUTES,
            self.gate_: ("weights", "feature_mean", "feature_scale"),
        }
        if self._batched:  # other experts hold numpy arrays whatever happens
            owned.update({expert: ("coef_", "intercept_") for expert in self.experts_})
        for owner, names in owned.items():
            for name in names:
                value = getattr(owner, name, None)
                if hasattr(value, "shape"):
                    setattr(owner, name, convert(value))

    def _check_warm_start(self, X, previous_classes):
        same_classes = previous_classes is None or np.array_equal(
            previous_classes, getattr(self, "classes_", None)
        )
        if (
            X.shape[1] != self._feature_mean.shape[0]
            or self.n_experts != self._n_experts_fitted
            or not same_classes
        ):
            raise ValueError(
                "warm_start=True continues the previous fit: it needs the same "
                "n_experts, number of features and classes."
            )

    def _experts_have_partial_fit(self):
        return hasattr(self._base_estimator(), "partial_fit")

    @available_if(_experts_have_partial_fit)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the mixture with one chunk of data (online EM).

        The first chunk (when the estimator is not fitted yet) is fitted by
        batch EM, restarts and all, which finds the regimes far more
        reliably than online updates from a single start. Every later chunk
        takes one step of stepwise EM (Cappé & Moulines, 2009): its
        responsibilities come from the current model; each expert takes one
        ``partial_fit`` step on them; the gate and, for the regressor, the
        noise variances move towards the chunk's estimates with step size
        ``(t + 1) ** -0.6`` at chunk t. The experts need ``partial_fit``
        (SGDRegressor, SGDClassifier, MLP...); with other experts the
        estimator has no ``partial_fit``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The chunk's features (numpy or pandas).
        y : array-like of shape (n_samples,)
            The chunk's targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the chunk's samples.
        classes : array-like of shape (n_classes,), default=None
            Every class of the stream (classifier); the first chunk must hold
            all of them.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if not hasattr(self, "experts_"):
            self.fit(X, y, sample_weight)
            seen = getattr(self, "classes_", None)
            if classes is not None and not np.array_equal(np.unique(classes), seen):
                raise ValueError(
                    f"The first chunk must hold every class of the stream: it has "
                    f"{seen}, classes={np.unique(classes)}."
                )
            self._n_chunks = 1
            return self
        if self._on_device() or not is_numpy(X):
            raise TypeError(
                "partial_fit takes numpy input and a model on the host; fit "
                "array-API input with fit."
            )
        X = self._validate_X(X, "partial_fit")
        y = self._encode_targets(y, X.shape[0])
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        engine = self._fitted_engine(self._data(X, y, sample_weight))
        self._n_chunks = getattr(self, "_n_chunks", 1) + 1
        step = step_size(self._n_chunks)
        targets, classes = self._expert_targets(y)
        with kernel_threads(self._backend, X.shape[0]):
            log_likelihood, shares = stepwise_em_step(engine, targets, step, classes)
        self._store_dispersion(engine.dispersion)
        self.n_iter_ += 1
        self.log_likelihood_ = log_likelihood
        self.log_likelihood_path_ = np.append(self.log_likelihood_path_, log_likelihood)
        self.expert_weights_ = self.expert_weights_ + step * (
            shares - self.expert_weights_
        )
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.non_deterministic = False
        # Linear experts and the built-in gate run in any array-API namespace.
        builtin_gate = self.gate is None or type(self.gate) is LogisticRegression
        tags.array_api_support = (
            builtin_gate and batched_kind(self._base_estimator()) is not None
        )
        return tags
