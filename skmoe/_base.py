"""BaseMixtureOfExperts: parameter validation, the EM loop and routing.

The loop follows ``sklearn.mixture._base.BaseMixture``: ``fit`` restarts
``n_init`` times and keeps the run with the best log-likelihood; one run is
an initial M-step from the initial responsibilities followed by ``max_iter``
iterations of (M-step, E-step). The regressor and the classifier only say
how their experts are fitted and how likely a target is under each expert.
"""

import warnings
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from numbers import Integral, Real
from time import perf_counter

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils._array_api import get_namespace
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._backend import (
    ARRAY_API,
    device,
    device_namespace,
    get_kernels,
    is_numpy,
    kernel_threads,
    namespace,
    resolve_backend,
    to_device,
    to_host,
)
from ._experts import batched_kind, make_experts
from ._gate import make_gate
from ._model_tree import apply_linear_tree, fit_linear_tree

# Weight of the uniform part mixed into hard initial partitions, so that no
# expert starts with zero responsibility anywhere.
_INIT_SMOOTHING = 0.05

# k-means initialisation is fitted on a random subsample of at most this
# many rows, then assigns every row.
_KMEANS_MAX_ROWS = 10_000

# The model tree of the "tree" initialisation likewise, and on fewer rows
# when it has many features: it holds (d + 1)^2 sums per row, at most
# _TREE_MAX_SUMS in all. Beyond _TREE_MAX_FEATURES features its linear fits
# (d^3 per candidate split) cost more than EM, and k-means starts instead.
_TREE_MAX_ROWS = 10_000
_TREE_MAX_SUMS = 20_000_000
_TREE_MAX_FEATURES = 32


class BaseMixtureOfExperts(BaseEstimator, metaclass=ABCMeta):
    """Shared machinery of the mixture-of-experts estimators."""

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "gate": [HasMethods(["fit", "predict_proba"]), None],
        "init": [StrOptions({"tree", "kmeans", "random"}), "array-like"],
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
    }

    # Fitted arrays that live on the device of the data (array-API fits).
    _DEVICE_ATTRIBUTES = (
        "_feature_mean",
        "_feature_scale",
        "expert_weights_",
        "log_likelihood_path_",
    )

    def __init__(
        self,
        estimator=None,
        n_experts=3,
        *,
        gate=None,
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
    def _prepare_targets(self, y, sample_weight):
        """Validate y and set target attributes; return y as the experts see it."""

    @abstractmethod
    def _partial_fit_experts(self, data, responsibilities, step):
        """Online M-step of the experts (one ``partial_fit`` each)."""

    @abstractmethod
    def _targets_for_init(self, y):
        """Targets as an (n, m) float array for the k-means initialisation."""

    @abstractmethod
    def _fit_expert_params(self, data, responsibilities):
        """M-step of the experts; return ``log p_k(y_i | x_i)``, (n, K)."""

    @abstractmethod
    def _expert_log_density(self, data):
        """``log p_k(y_i | x_i)`` at the current parameters, (n, K)."""

    @abstractmethod
    def _expert_parameters(self):
        """Dict of the per-run fitted attributes besides experts and gate."""

    @abstractmethod
    def _encode_targets(self, y, n_samples):
        """Validate y at inference time; return it as ``_prepare_targets`` does."""

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

    def _compute_arrays(self, X, sample_weight):
        """The fit's arrays where EM runs, and the backend that runs there.

        Array-API input (under ``array_api_dispatch``) stays in its namespace
        and on its device; with ``backend="cupy"`` numpy input is copied to
        the GPU once (densified if sparse). Both run the array-API kernels.
        """
        backend = resolve_backend(self.backend)
        if not is_numpy(X):
            return X, sample_weight, ARRAY_API
        if backend != "cupy":
            return X, sample_weight, backend
        xp, gpu = device_namespace()
        X = xp.asarray(X.toarray() if sparse.issparse(X) else X, device=gpu)
        return X, to_device(sample_weight, X), ARRAY_API

    def fit(self, X, y, sample_weight=None):
        """Fit the mixture of experts by expectation-maximisation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        self._validate_params()
        X, y, sample_weight = self._validate_fit_data(X, y, sample_weight)
        previous_classes = getattr(self, "classes_", None)
        # What experts that only take numpy see: the input itself if it is
        # numpy (kept sparse if it is), else a host copy made when needed.
        host_X = X if is_numpy(X) else None
        X, sample_weight, self._backend = self._compute_arrays(X, sample_weight)
        y = self._prepare_targets(y, sample_weight, X)
        estimator = (
            self._default_estimator() if self.estimator is None else self.estimator
        )
        self._batched = batched_kind(estimator)
        rng = check_random_state(self.random_state)

        continuing = self.warm_start and hasattr(self, "experts_")
        if continuing:
            self._check_warm_start(X, previous_classes)
            self._move_fitted_arrays(lambda array: to_device(array, X))
        else:
            self._feature_mean, self._feature_scale = _weighted_scaling(
                X, sample_weight
            )
        data = self._training_data(X, y, sample_weight, host_X)
        if isinstance(self.init, str) or continuing:
            initial = None
        else:
            initial = self._check_initial_responsibilities(X.shape[0])
        n_runs = 1 if (continuing or initial is not None) else self.n_init

        best = None
        partitions = []
        for run in range(n_runs):
            if continuing:
                responsibilities = None
            else:
                self.n_experts_ = self.n_experts
                self.experts_ = make_experts(estimator, self.n_experts, rng)
                self.gate_ = make_gate(
                    self.gate, self.n_experts, self._feature_mean, self._feature_scale
                )
                if initial is None:
                    responsibilities = self._initial_responsibilities(
                        data, rng, partitions
                    )
                else:
                    responsibilities = to_device(initial, X)
            with kernel_threads(self._backend, X.shape[0]):
                result = self._run_em(data, responsibilities, run)
            if best is None or result["log_likelihood_"] > best["log_likelihood_"]:
                best = {
                    **result,
                    "n_experts_": self.n_experts_,
                    "experts_": self.experts_,
                    "gate_": self.gate_,
                    **self._expert_parameters(),
                }
        for name, value in best.items():
            setattr(self, name, value)
        if host_X is not None and self._backend == ARRAY_API:
            # Trained on the GPU for numpy input: the model comes back to the
            # host and predicts on numpy input like any other estimator.
            self._move_fitted_arrays(to_host)
            self._backend = resolve_backend("auto")
        # The n_experts parameter of this fit, which warm_start must match
        # (n_experts_ may be smaller: experts can be removed).
        self._n_experts_fitted = self.n_experts
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations "
                f"(best of {n_runs} run(s)). Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _move_fitted_arrays(self, convert):
        """Apply ``convert`` (to the host, to a device) to every fitted array."""
        owned = {
            self: self._DEVICE_ATTRIBUTES,
            self.gate_: ("_coef", "feature_mean", "feature_scale"),
        }
        if self._batched:  # other experts hold numpy arrays whatever happens
            owned.update({expert: ("coef_", "intercept_") for expert in self.experts_})
        for owner, names in owned.items():
            for name in names:
                value = getattr(owner, name, None)
                if hasattr(value, "shape"):
                    setattr(owner, name, convert(value))

    def _experts_have_partial_fit(self):
        estimator = (
            self._default_estimator() if self.estimator is None else self.estimator
        )
        return hasattr(estimator, "partial_fit")

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
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array-like of shape (n_classes,), default=None
            Every class of the stream (classifier); the first chunk must hold
            all of them.

        Returns
        -------
        self : object
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
        data = self._training_data(X, y, sample_weight)
        self._n_chunks = getattr(self, "_n_chunks", 1) + 1
        step = self._n_chunks**-0.6
        with kernel_threads(self._backend, X.shape[0]):
            responsibilities = self._e_step(data)[0]
            self._partial_fit_experts(data, responsibilities, step)
            gate_coef = getattr(self.gate_, "_coef", None)
            self.gate_._fit(
                self._gate_input(data),
                responsibilities,
                data.sample_weight,
                self._kernels,
            )
            if gate_coef is not None:
                self.gate_._coef = gate_coef + step * (self.gate_._coef - gate_coef)
            responsibilities, _, log_likelihood = self._e_step(data)
        self.n_iter_ += 1
        self.log_likelihood_ = log_likelihood
        self.log_likelihood_path_ = np.append(self.log_likelihood_path_, log_likelihood)
        shares = data.sample_weight @ responsibilities / data.sample_weight.sum()
        self.expert_weights_ = self.expert_weights_ + step * (
            shares - self.expert_weights_
        )
        return self

    def _training_data(self, X, y, sample_weight, host_X=None):
        """The arrays one EM run reads: raw and standardised features, targets."""
        if not is_numpy(X):
            xp = namespace(X)
            ones = xp.ones((X.shape[0], 1), dtype=xp.float64, device=device(X))
            standard = (X - self._feature_mean) / self._feature_scale
            design = xp.concat([standard, ones], axis=1)
            return _TrainingData(X, design, y, sample_weight, host_X)
        design = np.empty((X.shape[0], X.shape[1] + 1))
        dense = X.toarray() if sparse.issparse(X) else X
        np.subtract(dense, self._feature_mean, out=design[:, :-1])
        design[:, :-1] /= self._feature_scale
        design[:, -1] = 1.0
        return _TrainingData(X, design, y, sample_weight, host_X)

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

    def _check_initial_responsibilities(self, n_samples):
        initial = np.asarray(self.init, dtype=np.float64)
        if initial.shape != (n_samples, self.n_experts):
            raise ValueError(
                "init given as an array must be the initial responsibilities, of "
                f"shape (n_samples, n_experts) = ({n_samples}, {self.n_experts}); "
                f"got shape {initial.shape}."
            )
        if not np.all(np.isfinite(initial)) or np.any(initial < 0):
            raise ValueError("init responsibilities must be finite and non-negative.")
        totals = initial.sum(axis=1, keepdims=True)
        if np.any(totals <= 0):
            raise ValueError(
                "each row of the init responsibilities needs a positive sum."
            )
        return initial / totals

    def _initial_responsibilities(self, data, rng, partitions):
        """Initial responsibilities of a new run, on the device of the data."""
        host = _TrainingData(
            None,
            to_host(data.design),
            to_host(data.y),
            to_host(data.sample_weight),
        )
        return to_device(
            self._host_initial_responsibilities(host, rng, partitions), data.design
        )

    def _host_initial_responsibilities(self, data, rng, partitions):
        """Responsibilities of a new run, from a partition no run started from.

        The first run starts from the leaves of a least-squares model tree
        with K leaves ("tree"; see :func:`skmoe._model_tree.fit_linear_tree`),
        grown on at most ``_TREE_MAX_ROWS`` rows of the standardised
        features and targets, or from k-means on the standardised [X, y]
        ("kmeans", on at most ``_KMEANS_MAX_ROWS`` rows). Every other start
        (and every start with "random") is a random Voronoi partition: each
        sample goes to the nearest of K random samples, measured alternately
        in [X, y] and in X alone. The latter are exactly the partitions a
        sharp softmax gate can draw, and reach optima that partitions of
        [X, y] miss. A partition an earlier run started from is never used
        again. "tree" on more than ``_TREE_MAX_FEATURES`` features starts
        from k-means; a tree with fewer than K leaves (too little data to
        split) gives way to a random partition.
        """
        n_samples = data.design.shape[0]
        features = data.design[:, :-1]
        targets = self._targets_for_init(data.y)
        # Samples of zero weight take no part in choosing the partition.
        candidates = np.flatnonzero(data.sample_weight > 0)
        labels = None
        too_wide = features.shape[1] > _TREE_MAX_FEATURES
        if self.init == "tree" and not partitions and not too_wide:
            labels = self._tree_partition(data, targets, candidates, rng)
        elif self.init in ("kmeans", "tree") and not partitions:
            joint = np.hstack([features, targets])
            rows = candidates
            if len(rows) > _KMEANS_MAX_ROWS:
                rows = rng.choice(rows, _KMEANS_MAX_ROWS, replace=False)
            kmeans = KMeans(
                self.n_experts, n_init=1, random_state=rng.randint(2**31 - 1)
            ).fit(joint[rows], sample_weight=data.sample_weight[rows])
            labels = _canonical(kmeans.predict(joint))
        if labels is None:
            space = features if len(partitions) % 2 else np.hstack([features, targets])
            for _ in range(100):
                chosen = rng.choice(candidates, self.n_experts, replace=False)
                centers = space[chosen]
                labels = _canonical(_nearest(space, centers))
                if not any(np.array_equal(labels, seen) for seen in partitions):
                    break
        partitions.append(labels)
        responsibilities = np.full(
            (n_samples, self.n_experts), _INIT_SMOOTHING / self.n_experts
        )
        responsibilities[np.arange(n_samples), labels] += 1.0 - _INIT_SMOOTHING
        return responsibilities

    def _tree_partition(self, data, targets, candidates, rng):
        """Leaves of a K-leaf model tree of the targets, or None if it has fewer."""
        rows = candidates
        max_rows = min(_TREE_MAX_ROWS, _TREE_MAX_SUMS // data.design.shape[1] ** 2)
        if len(rows) > max_rows:
            rows = np.sort(rng.choice(rows, max_rows, replace=False))
        splits, n_leaves = fit_linear_tree(
            data.design[rows], targets[rows], data.sample_weight[rows], self.n_experts
        )
        if n_leaves < self.n_experts:
            return None
        return _canonical(apply_linear_tree(splits, data.design))

    def _route(self, responsibilities):
        """Responsibilities as the M-step sees them under ``routing``."""
        if self.routing == "soft":
            return responsibilities
        return _keep_top(
            responsibilities, 1 if self.routing == "hard" else self.routing
        )

    def _gate_input(self, data):
        return data.design if self.gate_.uses_design else data.X

    def _m_step(self, data, responsibilities):
        log_expert = self._fit_expert_params(data, responsibilities)
        self.gate_._fit(
            self._gate_input(data), responsibilities, data.sample_weight, self._kernels
        )
        return log_expert

    def _e_step(self, data, log_expert=None):
        """Responsibilities, per-sample and total log-likelihood.

        The responsibilities are written over the gate's log-probabilities,
        a fresh array, so that an E-step holds two (n, K) arrays, not three.
        """
        if log_expert is None:
            log_expert = self._expert_log_density(data)
        log_gate = self.gate_._log_proba(self._gate_input(data), self._kernels)
        return self._kernels.e_step(log_gate, log_expert, data.sample_weight)

    def _run_fused_em(self, data, responsibilities, run):
        """A specialised EM run for models that have one, else None."""
        return None

    @property
    def _kernels(self):
        return get_kernels(getattr(self, "_backend", "numpy"))

    def _run_em(self, data, responsibilities, run):
        """One EM run; the fitted state is kept on self.

        ``responsibilities`` are the initial ones, turned into parameters by a
        first M-step; None continues from the current parameters.
        """
        fused = self._run_fused_em(data, responsibilities, run)
        if fused is not None:
            return fused
        xp = namespace(data.design)
        total_weight = float(xp.sum(data.sample_weight))
        log_expert = None
        if responsibilities is not None:
            responsibilities = self._remove_dead_experts(data, responsibilities, run)
            log_expert = self._m_step(data, responsibilities)
        responsibilities, _, log_likelihood = self._e_step(data, log_expert)
        path = []
        converged = False
        start = perf_counter()
        self._report(run, log_likelihood)
        for iteration in range(1, self.max_iter + 1):
            previous = log_likelihood
            responsibilities = self._remove_dead_experts(data, responsibilities, run)
            log_expert = self._m_step(data, self._route(responsibilities))
            del responsibilities  # free it before the E-step makes new ones
            responsibilities, _, log_likelihood = self._e_step(data, log_expert)
            path.append(log_likelihood)
            change = (log_likelihood - previous) / total_weight
            self._report(run, log_likelihood, iteration, change, start)
            if abs(change) < self.tol:
                converged = True
                break
        if self.max_iter > 0:
            # An expert that died in the last iteration: the fitted state
            # must not keep it.
            while self._dead_experts(data, responsibilities).any():
                responsibilities = self._remove_dead_experts(
                    data, responsibilities, run
                )
                log_expert = self._m_step(data, self._route(responsibilities))
                responsibilities, _, log_likelihood = self._e_step(data, log_expert)
                path.append(log_likelihood)
        self._report(run, log_likelihood, converged=converged)
        return {
            "expert_weights_": data.sample_weight @ responsibilities / total_weight,
            "log_likelihood_": log_likelihood,
            "log_likelihood_path_": xp.asarray(
                path, dtype=xp.float64, device=device(data.design)
            ),
            "n_iter_": len(path),
            "converged_": converged,
        }

    def _report(
        self,
        run,
        log_likelihood,
        iteration=None,
        change=None,
        start=None,
        *,
        converged=None,
    ):
        """With ``verbose``, print one line of an EM run (both EM loops).

        The initial log-likelihood; an iteration (with ``iteration``, the
        change per sample and the run's start time); or, with ``converged``,
        the end of the run.
        """
        if not self.verbose:
            return
        if converged is not None:
            state = "converged" if converged else "did not converge"
            print(f"Run {run} {state}: log-likelihood {log_likelihood:.6f}")
        elif iteration is None:
            print(f"Run {run}: initial log-likelihood {log_likelihood:.6f}")
        else:
            print(
                f"Run {run}, iteration {iteration}: log-likelihood "
                f"{log_likelihood:.6f}, change per sample {change:.3e}, "
                f"{perf_counter() - start:.2f} s"
            )

    def _dead_experts(self, data, responsibilities):
        """Mask of the experts whose share of the data is below the threshold.

        The largest expert is never dead, so that at least one remains.
        """
        return self._dead_shares(to_host(data.sample_weight @ responsibilities))

    def _dead_shares(self, totals):
        """Dead-expert mask from each expert's total weight (numpy, (K,))."""
        shares = totals / totals.sum()
        dead = shares < self.min_expert_weight
        dead[np.argmax(shares)] = False
        return dead

    def _remove_dead_experts(self, data, responsibilities, run):
        """Remove dead experts (and their gate columns); kept responsibilities.

        An expert whose share of the (weighted) data falls below
        ``min_expert_weight`` is collapsing: its fit rests on a handful of
        samples (or none), its noise variance and gate weights run to their
        limits. It is removed; ``n_experts_`` counts the experts that remain.
        The next M-step refits the rest on the renormalised responsibilities.
        """
        dead = self._dead_experts(data, responsibilities)
        if not dead.any():
            return responsibilities
        keep = ~dead
        if self.verbose:
            print(
                f"Run {run}: removing expert(s) {np.flatnonzero(dead).tolist()}, "
                f"share below min_expert_weight={self.min_expert_weight}"
            )
        self.experts_ = [expert for expert, kept in zip(self.experts_, keep) if kept]
        self.gate_._keep_experts(keep)
        self.n_experts_ = int(keep.sum())
        xp = namespace(responsibilities)
        kept = to_device(np.flatnonzero(keep), responsibilities)
        responsibilities = xp.take(responsibilities, kept, axis=1)
        totals = xp.sum(responsibilities, axis=1, keepdims=True)
        # A row only the removed experts were responsible for (to machine
        # precision) is shared evenly.
        positive = totals > 0
        return xp.where(
            positive,
            responsibilities / xp.where(positive, totals, xp.ones_like(totals)),
            xp.full_like(responsibilities, 1.0 / self.n_experts_),
        )

    # -- inference ----------------------------------------------------------
    def _validate_X(self, X, method="predict"):
        check_is_fitted(self)
        xp, _ = get_namespace(X)
        if self._on_device() or not is_numpy(X):
            model = namespace(self._feature_mean), device(self._feature_mean)
            if is_numpy(X) or (namespace(X), device(X)) != model:
                where = "numpy" if is_numpy(X) else f"{xp.__name__} on {device(X)}"
                raise ValueError(
                    f"Inputs passed to {type(self).__name__}.{method}() must use "
                    "the same namespace and the same device as those passed to "
                    f"fit(): the model is in {model[0].__name__} on {model[1]}, "
                    f"X in {where}."
                )
        return validate_data(
            self, X, accept_sparse="csr", dtype=xp.float64, reset=False
        )

    def gate_proba(self, X):
        """Gate probabilities: how much each expert is trusted for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts)
            Rows sum to 1.
        """
        return self._gate_proba(self._validate_X(X, "gate_proba"))

    def _gate_proba(self, X):
        """``gate_proba`` of already validated X."""
        if self.gate_.uses_design:
            X = self._training_data(X, None, None).design
        log_proba = self.gate_._log_proba(X, self._kernels)
        return namespace(log_proba).exp(log_proba)

    def apply(self, X):
        """Index of the most trusted expert for each sample, shape (n_samples,)."""
        proba = self._gate_proba(self._validate_X(X, "apply"))
        return namespace(proba).argmax(proba, axis=1)

    def _routing(self, X):
        """Gate weights after ``top_k`` routing.

        Returns
        -------
        weights : array of shape (n_samples, n_experts)
            Gate probabilities, zero outside each sample's ``top_k`` experts
            and renormalised over them.
        """
        if self.top_k is not None and self.top_k > self.n_experts:
            raise ValueError(
                f"top_k={self.top_k} must be at most n_experts={self.n_experts}."
            )
        weights = self._gate_proba(X)
        if self.top_k is not None:
            # top_k >= n_experts_ (experts were removed) keeps them all.
            weights = _keep_top(weights, self.top_k)
        return weights

    def _on_device(self):
        """True when the fitted model lives on a device (an array-API fit)."""
        return not is_numpy(self._feature_mean)

    def log_likelihood(self, X, y):
        """Log-likelihood of each sample, ``log p(y_i | x_i)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            Its sum on the training data is ``log_likelihood_`` (its sum
            weighted by the ``sample_weight`` of the fit, if one was given).
        """
        X = self._validate_X(X, "log_likelihood")
        y = to_device(self._encode_targets(y, X.shape[0]), X)
        ones = to_device(np.ones(X.shape[0]), X)
        return self._e_step(self._training_data(X, y, ones))[1]

    def _n_parameters(self):
        return self.gate_.n_parameters + sum(
            _expert_n_parameters(expert) for expert in self.experts_
        )

    def bic(self, X, y):
        """Bayesian information criterion: ``-2 log L + n_params log n``.

        Counts the gate's and the experts' parameters (linear experts only)
        and, for the regressor, one noise variance per expert.
        """
        log_likelihood = to_host(self.log_likelihood(X, y))
        return -2 * log_likelihood.sum() + self._n_parameters() * np.log(
            len(log_likelihood)
        )

    def aic(self, X, y):
        """Akaike information criterion: ``-2 log L + 2 n_params``."""
        log_likelihood = to_host(self.log_likelihood(X, y))
        return -2 * log_likelihood.sum() + 2 * self._n_parameters()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.non_deterministic = False
        # Linear experts and the built-in gate run in any array-API namespace.
        estimator = (
            self._default_estimator() if self.estimator is None else self.estimator
        )
        builtin_gate = self.gate is None or type(self.gate) is LogisticRegression
        tags.array_api_support = builtin_gate and batched_kind(estimator) is not None
        return tags


@dataclass
class _TrainingData:
    """Arrays of one fit: raw features, standardised design with a ones column.

    All on the device of the fit; ``host_X`` are the features as experts that
    only take numpy see them (copied from the device once, when first needed).
    """

    X: object
    design: object
    y: object
    sample_weight: object
    _host_X: object = None

    @property
    def host_X(self):
        if self._host_X is None:
            self._host_X = to_host(self.X)
        return self._host_X


def _weighted_scaling(X, sample_weight):
    """Weighted mean and standard deviation of each feature (1 where constant).

    Weighted, so that integer weights and repeated rows agree.
    """
    if sparse.issparse(X):
        X = X.toarray()  # the design is dense anyway; centring must come first
    xp = namespace(X)
    total = xp.sum(sample_weight)
    mean = sample_weight @ X / total
    variance = sample_weight @ (X - mean) ** 2 / total
    scale = xp.sqrt(variance)
    constant = scale <= 1e-12 * xp.clip(xp.abs(mean), min=1e-300)
    return mean, xp.where(constant, xp.ones_like(scale), scale)


def _keep_top(weights, k):
    """Rows of ``weights`` with all but their k largest entries zeroed, renormalised.

    Ties keep the lowest expert index, so exactly k entries survive per row.
    """
    if k >= weights.shape[1]:
        return weights
    xp = namespace(weights)
    order = xp.argsort(-weights, axis=1, stable=True)
    rank = xp.argsort(order, axis=1, stable=True)  # 0 for the largest entry
    kept = xp.where(rank < k, weights, xp.zeros_like(weights))
    return kept / xp.sum(kept, axis=1, keepdims=True)


def _nearest(points, centers):
    """Index of the nearest center of each point, without (n, K, d) temporaries."""
    distances = points @ (-2.0 * centers.T)
    distances += np.einsum("kd,kd->k", centers, centers)
    return distances.argmin(axis=1)


def _canonical(labels):
    """Relabel a partition by order of first appearance (label-permutation free)."""
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first))
    return order[np.unique(labels, return_inverse=True)[1]]


def _expert_n_parameters(expert):
    """Free parameters of a fitted linear expert."""
    coef = getattr(expert, "coef_", None)
    if coef is None:
        raise ValueError(
            f"bic and aic need experts with a known number of parameters (linear "
            f"models with coef_); {type(expert).__name__} has none."
        )
    # Shapes only: the weights may live on a device.
    shape = tuple(coef.shape) if len(coef.shape) == 2 else (1, *coef.shape)
    fit_intercept = getattr(expert, "fit_intercept", False)
    n_params = shape[0] * (shape[1] + (1 if fit_intercept else 0))
    if len(getattr(expert, "classes_", ())) > 2:
        # Multinomial models are over-parametrised by one class.
        n_params -= shape[1] + (1 if fit_intercept else 0)
    return n_params
