"""Dask input in the estimators: exact EM on the cluster, lazy inference.

:class:`DaskMixin` is a mixin of ``BaseMixtureOfExperts`` (it reads and sets
the fitted attributes, as ``_prediction.PredictionMixin`` does): ``fit`` on
a dask array or DataFrame runs the EM driver with the dask engine
(``skmoe._dask``), starting each run from EM on a sample drawn on the
workers. The fitted model is an ordinary one: numpy arrays, it predicts on
numpy input and pickles like any other.

:func:`dask_method` makes an inference method take dask input too: the
method maps over the row chunks (``dask.array.blockwise``) and returns a
lazy dask array; ``score`` returns a float computed on the workers.
"""

import functools
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import is_regressor
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._backend import kernel_threads, resolve_backend
from ._dask import (
    SAMPLE_ROWS,
    DaskEngine,
    draw_sample,
    is_dask_collection,
    prepare_dask_data,
)
from ._dask_input import as_dask_matrix, as_dask_vector, initial_chunks
from ._em import EMReport, fit_em, run_em
from ._engines import make_training_data
from ._experts import batched_kind, make_experts
from ._families import make_family
from ._fused import FusedEngine, fused_experts
from ._gate import make_gate
from ._init import initial_responsibilities
from ._predictive import check_coverage, check_probabilities


class DaskMixin:
    """``fit`` on dask input (see the module docstring)."""

    def _check_dask_fit(self):
        """TypeError unless the model's EM runs on Dask."""
        gate_ok = self.gate is None or type(self.gate) is LogisticRegression
        if not (
            fused_experts(self._base_estimator(), self._resolved_likelihood())
            and is_regressor(self)
            and gate_ok
            and self.routing == "soft"
            and self.backend != "cupy"
            and getattr(self, "gate_features", None) is None
            and getattr(self, "expert_features", None) is None
        ):
            raise TypeError(
                "fit on dask input runs exact EM on the cluster for "
                "MixtureOfExpertsRegressor with LinearRegression or Ridge experts "
                "(Gaussian likelihood) or PoissonRegressor or GammaRegressor "
                "experts (their own likelihood), "
                "the built-in gate (gate=None or LogisticRegression), "
                "routing='soft', a CPU backend and all the features for gate and "
                f"experts; {type(self).__name__}("
                f"estimator={self._base_estimator()!r}, gate={self.gate!r}, "
                f"routing={self.routing!r}, backend={self.backend!r}) is not. "
                "Other models: compute the data (X.compute()) if it fits in "
                "memory, or stream its chunks through partial_fit (experts with "
                "partial_fit, such as SGDRegressor)."
            )

    def _fit_dask(self, X, y, sample_weight):
        """Exact EM on the workers; the fitted model is in numpy."""
        self._check_dask_fit()
        X, names = as_dask_matrix(X)
        y = as_dask_vector(y, X, "y")
        sample_weight = as_dask_vector(sample_weight, X, "sample_weight")
        if self.n_experts > X.shape[0]:
            raise ValueError(
                f"n_experts={self.n_experts} must be at most the number of "
                f"samples, n_samples = {X.shape[0]}."
            )
        if isinstance(self.top_k, Integral) and self.top_k > self.n_experts:
            raise ValueError(
                f"top_k={self.top_k} must be at most n_experts={self.n_experts}."
            )
        likelihood = self._resolved_likelihood()
        data = prepare_dask_data(X, y, sample_weight, likelihood)
        # The smallest target says whether the family takes them all.
        make_family(likelihood, data.target_scale).check_targets(
            np.array([data.target_min])
        )
        continuing = self.warm_start and hasattr(self, "experts_")
        if continuing:
            if (
                data.n_features != self._feature_mean.shape[0]
                or self.n_experts != self._n_experts_fitted
                or likelihood != self.likelihood_
            ):
                raise ValueError(
                    "warm_start=True continues the previous fit: it needs the "
                    "same n_experts, number of features and likelihood (fitted "
                    f"{self.likelihood_!r}, now {likelihood!r})."
                )
            data = data._replace(
                feature_mean=self._feature_mean, feature_scale=self._feature_scale
            )
        self.n_features_in_ = data.n_features
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._backend = resolve_backend(self.backend)
        self._feature_mean, self._feature_scale = data.feature_mean, data.feature_scale
        # Gate and experts see every column (gate_features=expert_features=None).
        self._gate_columns = self._expert_columns = None
        self._gate_mean, self._gate_scale = data.feature_mean, data.feature_scale
        self._target_mean, self._target_scale = data.target_mean, data.target_scale
        self.likelihood_ = likelihood
        self.estimator_ = self._base_estimator()
        self._batched = batched_kind(self.estimator_)
        rng = check_random_state(self.random_state)
        initial = None
        if not (isinstance(self.init, str) or continuing):
            initial = initial_chunks(self.init, data, self.n_experts)
        sample = draw_sample(data, SAMPLE_ROWS, rng.randint(np.iinfo(np.int32).max))
        n_runs = 1 if (continuing or initial is not None) else self.n_init
        run, parameters = fit_em(
            self._dask_run_starter(data, sample, continuing, initial, rng),
            n_runs,
            max_iter=self.max_iter,
            tol=self.tol,
            min_expert_weight=self.min_expert_weight,
            verbose=self.verbose,
        )
        self._set_parameters(run, parameters, data.feature_mean)
        self._n_experts_fitted = self.n_experts
        return self

    def _dask_run_starter(self, data, sample, continuing, initial, rng):
        """``start_run(run)`` of a dask fit: the dask engine, started from
        EM on the sample (or from ``init`` responsibilities, or the fit)."""
        family = self._family()
        mean, scale = data.feature_mean, data.feature_scale
        sample = make_training_data(*sample, mean, scale)
        curvature_sample = (sample.design, sample.sample_weight)
        targets = self._targets_for_init(sample.y)
        partitions = []

        def engine(experts, gate, dispersion=None):
            return DaskEngine(
                data,
                experts,
                gate,
                family,
                curvature_sample,
                backend=self._backend,
                dispersion=dispersion,
            )

        def start_run(run):
            if continuing:
                return engine(
                    self.experts_, self.gate_, self._fitted_dispersion()
                ), None
            experts = make_experts(self.estimator_, self.n_experts, rng)
            gate = make_gate(self.gate, self.n_experts, mean, scale, random_state=rng)
            if initial is not None:
                return engine(experts, gate), initial
            start = FusedEngine(
                sample, experts, gate, family, mean, scale, kernels=self._kernels
            )
            responsibilities = initial_responsibilities(
                "tree" if self.init == "spline" else self.init,
                sample.design,
                targets,
                sample.sample_weight,
                self.n_experts,
                rng,
                partitions,
            )
            with kernel_threads(self._backend, len(sample.y)):
                run_em(
                    start,
                    responsibilities,
                    max_iter=self.max_iter,
                    tol=self.tol,
                    min_expert_weight=self.min_expert_weight,
                    report=EMReport(self.verbose, f"{run} (on a sample)"),
                )
            parameters = start.parameters()
            return engine(*parameters), None

        return start_run


def dask_method(method):
    """Let an inference method take dask input (lazy results, see above)."""

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if is_dask_collection(X):
            return _DASK_METHODS[method.__name__](self, X, *args, **kwargs)
        return method(self, X, *args, **kwargs)

    return wrapper


def _call_block(estimator, method, kwargs, empty, X, *extra):
    """``estimator.method(X, *extra, **kwargs)`` on one chunk (on a worker);
    ``empty`` (the result's shape with no rows) for a chunk without rows."""
    if X.shape[0] == 0:
        return empty
    with warnings.catch_warnings():
        # Chunks of a dask DataFrame arrive as numpy arrays; their columns
        # were checked against feature_names_in_ on the client.
        warnings.filterwarnings("ignore", message="X does not have valid feature")
        result = getattr(estimator, method)(X, *extra, **kwargs)
    return np.column_stack(result) if isinstance(result, tuple) else result


def _checked_matrix(estimator, X, method):
    check_is_fitted(estimator)
    X, names = as_dask_matrix(X, method)
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if names is not None and fitted_names is not None:
        if not np.array_equal(names, fitted_names):
            raise ValueError(
                "The feature names should match those that were passed during "
                f"fit: got {list(names)}, fitted on {list(fitted_names)}."
            )
    return X


def _map(estimator, method, X, *extra, n_columns=None, dtype=np.float64, **kwargs):
    """A lazy dask array of ``method`` mapped over the row chunks."""
    import dask.array as da

    X = _checked_matrix(estimator, X, method)
    extra = [as_dask_vector(values, X, "y") for values in extra]
    arguments = [X, "ij"] + [item for values in extra for item in (values, "i")]
    index, new_axes = ("i", None) if n_columns is None else ("ik", {"k": n_columns})
    empty = np.empty((0,) if n_columns is None else (0, n_columns), dtype=dtype)
    return da.blockwise(
        _call_block,
        index,
        estimator,
        None,
        method,
        None,
        kwargs,
        None,
        empty,
        None,
        *arguments,
        dtype=dtype,
        concatenate=True,
        new_axes=new_axes,
        meta=np.empty((0,) * len(index), dtype=dtype),
    )


def _predict(estimator, X, **kwargs):
    if kwargs.get("return_std"):
        both = _map(estimator, "predict", X, n_columns=2, return_std=True)
        return both[:, 0], both[:, 1]
    dtype = getattr(estimator, "classes_", np.empty(0)).dtype
    if is_regressor(estimator):
        dtype = np.float64
    return _map(estimator, "predict", X, dtype=dtype, **kwargs)


def _predict_proba(estimator, X):
    check_is_fitted(estimator)
    return _map(estimator, "predict_proba", X, n_columns=len(estimator.classes_))


def _gate_proba(estimator, X):
    check_is_fitted(estimator)
    return _map(estimator, "gate_proba", X, n_columns=estimator.n_experts_)


def _apply(estimator, X):
    return _map(estimator, "apply", X, dtype=np.int64)


def _log_likelihood(estimator, X, y):
    if not is_regressor(estimator):
        raise TypeError(
            "log_likelihood on dask input takes numeric targets "
            "(MixtureOfExpertsRegressor); compute the classifier's inputs."
        )
    return _map(estimator, "log_likelihood", X, y)


def _predict_quantiles(estimator, X, quantiles=(0.05, 0.5, 0.95)):
    check_is_fitted(estimator)
    quantiles = check_probabilities(quantiles, "quantiles")
    return _map(
        estimator,
        "predict_quantiles",
        X,
        n_columns=len(quantiles),
        quantiles=quantiles,
    )


def _predict_interval(estimator, X, coverage=0.9):
    check_is_fitted(estimator)
    coverage = check_coverage(coverage)
    return _map(estimator, "predict_interval", X, n_columns=2, coverage=coverage)


def _sample_y(estimator, X, n_samples=1, random_state=None):
    raise TypeError(
        "sample_y on dask input would draw each chunk's targets from its own "
        "random stream; compute X (X.compute()) or draw from predict_quantiles "
        "at uniform probabilities."
    )


def _chunk_icl(estimator, X, y):
    """ICL of a chunk and its number of rows (on a worker; 0.0 and 0 for a
    chunk without rows)."""
    return _call_block(estimator, "icl", {}, 0.0, X, y), len(y)


def _icl(estimator, X, y):
    """ICL summed over the chunks: each chunk's ICL gives its classification
    log-likelihood back (``(n_params log n_c - icl_c) / 2``)."""
    from dask import compute, delayed

    if not is_regressor(estimator):
        raise TypeError(
            "icl on dask input takes numeric targets "
            "(MixtureOfExpertsRegressor); compute the classifier's inputs."
        )
    X = _checked_matrix(estimator, X, "icl")
    y = as_dask_vector(y, X, "y")
    parts = compute(
        *(
            delayed(_chunk_icl, pure=True)(estimator, X_chunk, y_chunk)
            for X_chunk, y_chunk in zip(X.to_delayed().ravel(), y.to_delayed().ravel())
        )
    )
    n_params = estimator._n_parameters()
    classification = sum(
        0.5 * (n_params * np.log(n) - icl) for icl, n in parts if n > 0
    )
    return -2 * classification + n_params * np.log(X.shape[0])


def _score(estimator, X, y, sample_weight=None):
    """R^2 (regressor) or accuracy (classifier), summed on the workers."""
    import dask
    import dask.array as da

    # The prediction's row chunks are those y and sample_weight align on.
    prediction = _predict(estimator, X)
    if is_regressor(estimator):
        y = as_dask_vector(y, prediction, "y")
    else:
        y = _aligned_labels(y, prediction)
    weight = as_dask_vector(sample_weight, prediction, "sample_weight")
    if weight is None:
        weight = da.ones_like(prediction, dtype=np.float64)
    if not is_regressor(estimator):
        hits, total = dask.compute((weight * (prediction == y)).sum(), weight.sum())
        return float(hits / total)
    total, target_sum = dask.compute(weight.sum(), weight @ y)
    residual, spread = dask.compute(
        weight @ (y - prediction) ** 2, weight @ (y - target_sum / total) ** 2
    )
    if spread == 0:
        return 1.0 if residual == 0 else 0.0
    return float(1.0 - residual / spread)


def _aligned_labels(y, like):
    import dask.array as da

    if hasattr(y, "to_dask_array"):
        y = y.to_dask_array(lengths=True)
    if not isinstance(y, da.Array):
        y = da.from_array(np.asarray(y).ravel(), chunks=-1)
    if y.shape[0] != like.shape[0]:
        raise ValueError(f"X has {like.shape[0]} samples but y has {y.shape[0]}.")
    return y.rechunk((like.chunks[0],))


_DASK_METHODS = {
    "predict": _predict,
    "predict_proba": _predict_proba,
    "gate_proba": _gate_proba,
    "apply": _apply,
    "log_likelihood": _log_likelihood,
    "score": _score,
    "predict_quantiles": _predict_quantiles,
    "predict_interval": _predict_interval,
    "sample_y": _sample_y,
    "icl": _icl,
}
