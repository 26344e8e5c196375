"""Fitting the K experts of one M-step.

Each expert k is fitted with ``sample_weight = sample_weight * R[:, k]``.
Samples whose responsibility for expert k is below ``RESPONSIBILITY_THRESHOLD``
are left out of its fit (their weight would be negligible anyway, and leaving
them out makes costly experts cheaper). Experts whose ``fit`` takes no
``sample_weight`` are fitted on the samples assigned to them (those for which
they are the most responsible expert).
"""

import warnings

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import has_fit_parameter

from ._array_utils import device, namespace, to_device, to_host
from ._flexible import ContinuationState, continue_fit, needs_fit
from ._kernels import _xp
from ._linear import (
    expert_alphas,
    raw_coefficients,
    set_linear_experts,
    solve_linear_experts,
    standardised_coefficients,
)
from ._losses import glm_power
from ._solvers import EXPERT_NEWTON_BUDGET, fit_multinomial

RESPONSIBILITY_THRESHOLD = 1e-8

# Fewest rows any expert is fitted on, so that a starved expert stays fittable.
MIN_EXPERT_ROWS = 10


def make_experts(estimator, n_experts, random_state):
    """K unfitted clones of ``estimator`` with distinct random states."""
    experts = []
    for _ in range(n_experts):
        expert = clone(estimator)
        seeds = {
            name: random_state.randint(np.iinfo(np.int32).max)
            for name in expert.get_params()
            if name == "random_state" or name.endswith("__random_state")
        }
        experts.append(expert.set_params(**seeds))
    return experts


def expert_rows(responsibilities, sample_weight, k, min_rows):
    """Indices of the samples expert ``k`` is fitted on (with sample_weight)."""
    weights = responsibilities[:, k] * sample_weight
    rows = np.flatnonzero(responsibilities[:, k] > RESPONSIBILITY_THRESHOLD)
    rows = rows[weights[rows] > 0]
    if len(rows) < min_rows:
        rows = np.sort(np.argsort(-weights, kind="stable")[:min_rows])
    return rows


def assigned_rows(responsibilities, sample_weight, k, min_rows):
    """Indices of the samples assigned to expert ``k`` (no sample_weight).

    Those it is the most responsible expert for; at least ``min_rows``, the
    most responsible ones.
    """
    rows = np.flatnonzero((responsibilities.argmax(axis=1) == k) & (sample_weight > 0))
    if len(rows) < min_rows:
        score = responsibilities[:, k] * (sample_weight > 0)
        rows = np.sort(np.argsort(-score, kind="stable")[:min_rows])
    return rows


def _fit_rows(expert, X, y, rows, weights):
    row_weights = None if weights is None else weights[rows]
    if row_weights is not None and not row_weights.sum() > 0:
        # An expert no sample is routed to: any fit will do, the gate gives
        # it no weight; estimators refuse all-zero weights.
        row_weights = np.ones(len(rows))
    X_rows, y_rows = _safe_indexing(X, rows), y[rows]
    if row_weights is None:
        return expert.fit(X_rows, y_rows)
    return expert.fit(X_rows, y_rows, sample_weight=row_weights)


def _fit_one(expert, X, y, rows, weights, wider_rows):
    """Fit one expert on ``rows``; if it fails, on ``wider_rows``; else a constant.

    A degenerate share of the data (a single class, too few or collinear
    rows...) must not end the whole fit: the expert is replaced by a
    constant one, with a warning, and the original is tried again at the
    next M-step. Invalid parameters of the expert are the user's error,
    not the data's: scikit-learn's own error is raised.
    """
    expert = getattr(expert, "replaced_estimator_", expert)
    failure = None
    for candidate in (rows, wider_rows):
        try:
            return _fit_rows(expert, X, y, candidate, weights)
        except InvalidParameterError:
            raise
        except Exception as error:  # noqa: PERF203 (a retry, not a hot loop)
            failure = error
    warnings.warn(
        f"{type(expert).__name__} failed to fit its share of the data "
        f"({len(rows)} samples): {failure!r}. A constant expert replaces it.",
        ExpertFitWarning,
        stacklevel=2,
    )
    constant = DummyClassifier() if is_classifier(expert) else DummyRegressor()
    constant = _fit_rows(constant, X, y, rows, weights)
    constant.replaced_estimator_ = clone(expert)
    return constant


class ExpertFitWarning(UserWarning):
    """An expert could not be fitted and was replaced by a constant one."""


def fit_experts(
    experts, X, y, responsibilities, sample_weight, n_jobs=None, state=None
):
    """Fit each expert on its responsibility-weighted share of the data.

    Parameters
    ----------
    experts : list of K estimators
    X : array-like of shape (n, d)
    y : ndarray of shape (n,)
    responsibilities : ndarray of shape (n, K)
    sample_weight : ndarray of shape (n,)
    n_jobs : int or None
        Parallel fits through ``sklearn.utils.parallel`` (joblib).
    state : ContinuationState or None
        What experts that continue training keep between M-steps of a run.

    Returns
    -------
    experts : list of K fitted estimators
    """
    # Arbitrary estimators take numpy: device arrays get host copies.
    X, y = to_host(X), to_host(y)
    responsibilities, sample_weight = to_host(responsibilities), to_host(sample_weight)
    n_samples = X.shape[0]
    classifier = is_classifier(experts[0])
    everyone = np.flatnonzero(sample_weight > 0)
    n_classes_seen = len(np.unique(y[everyone])) if classifier else 0
    state = ContinuationState() if state is None else state
    tasks, fitted = [], list(experts)
    for k, expert in enumerate(experts):
        min_rows = min(
            n_samples, max(MIN_EXPERT_ROWS, getattr(expert, "n_neighbors", 0))
        )
        template = getattr(expert, "replaced_estimator_", expert)
        how = state.how(template)
        if has_fit_parameter(template, "sample_weight"):
            rows = expert_rows(responsibilities, sample_weight, k, min_rows)
            n_classes = len(np.unique(y[rows])) if classifier else 0
            if n_classes == 1 or (how is not None and n_classes < n_classes_seen):
                # A classifier needs two classes, one continuing its training
                # all of them: keep every weighted sample.
                rows = everyone
            weights = responsibilities[:, k] * sample_weight
        else:
            rows = assigned_rows(responsibilities, sample_weight, k, min_rows)
            weights = None
        if how is not None and weights is not None:
            if not needs_fit(template, how):
                continue  # held: kept as it is, nothing dispatched
            features = state.features(X, everyone, how)
            fit = (template, how, _fit_one, features, y, rows, weights, everyone)
            tasks.append((k, delayed(continue_fit)(*fit)))
        else:
            tasks.append((k, delayed(_fit_one)(expert, X, y, rows, weights, everyone)))
    if tasks:
        results = Parallel(n_jobs=n_jobs)(task for _, task in tasks)
        for (k, _), result in zip(tasks, results):
            fitted[k] = result
    return fitted


# -- batched linear experts ----------------------------------------------------
#
# LinearRegression / Ridge (regressor) and LogisticRegression (classifier)
# experts are not fitted one by one: the K weighted problems are solved from
# the standardised design matrix, and genuine fitted estimators of the user's
# class are returned, with coef_ and intercept_ on the raw features.


def batched_kind(estimator):
    """ "regression", "glm", "logistic" or None (generic) for a base expert."""
    kind = type(estimator)
    params = estimator.get_params()
    if not params.get("fit_intercept", False) or params.get("positive", False):
        return None
    if glm_power(estimator) is not None:
        return "glm"  # fitted by ``_glm.GLMExperts``
    if kind is LinearRegression:
        return "regression"
    if kind is Ridge and np.ndim(params["alpha"]) == 0:
        return "regression"
    if (
        kind is LogisticRegression
        and params["class_weight"] is None
        and params["solver"] != "liblinear"
        and params.get("penalty", "deprecated") in ("l2", None, "deprecated")
        and (params.get("penalty") == "l2" or not params.get("l1_ratio"))
    ):
        return "logistic"
    return None


class RegressionExperts:
    """How the K experts of a regressor are fitted and predict.

    Batched linear experts (``kind="regression"``) are fitted together from
    their weighted normal equations; any other regressor one by one with
    the responsibilities as sample weights (``fit_experts``).

    Parameters
    ----------
    kind : {"regression", None}
        From :func:`batched_kind`.
    feature_mean, feature_scale : array of shape (d,)
        The standardisation of the design.
    n_jobs : int or None
    """

    def __init__(self, kind, feature_mean, feature_scale, n_jobs=None):
        self.kind = kind
        self.feature_mean = feature_mean
        self.feature_scale = feature_scale
        self.n_jobs = n_jobs
        self.state = ContinuationState()

    def fit(self, experts, data, responsibilities, kernels):
        """M-step of the experts; returns them fitted."""
        if self.kind != "regression":
            return fit_experts(
                experts,
                data.host_X,
                data.y,
                responsibilities,
                data.sample_weight,
                self.n_jobs,
                self.state,
            )
        grams, moments = kernels.weighted_normal_equations(
            data.design, data.y, responsibilities, data.sample_weight
        )
        coef = solve_linear_experts(
            to_host(grams),
            to_host(moments),
            expert_alphas(experts),
            to_host(self.feature_scale),
        )
        return set_linear_experts(
            experts, coef, self.feature_mean, self.feature_scale, data.design
        )

    def predict(self, experts, X, host_X=None):
        """Every expert's prediction on every row, (n, K), on X's device.

        Experts other than batched linear ones predict on ``host_X`` (a numpy
        copy of X, made here if not given).
        """
        if self.kind == "regression":
            xp = namespace(self.feature_mean)  # X may be sparse
            coef = xp.stack([expert.coef_ for expert in experts], axis=1)
            intercept = [expert.intercept_ for expert in experts]
            return X @ coef + xp.asarray(intercept, device=device(coef))
        host_X = to_host(X) if host_X is None else host_X
        means = np.column_stack([expert.predict(host_X) for expert in experts])
        return to_device(means, X)

    def predictions(self, experts, data):
        """What the family reads: each expert's mean on the training rows."""
        if self.kind == "regression":
            return self.predict(experts, data.X)
        host_X, kept = data.host_X, self.state.predictions
        means = [kept(expert, lambda e: e.predict(host_X)) for expert in experts]
        return to_device(np.column_stack(means), data.X)


class ClassificationExperts:
    """How the K experts of a classifier are fitted and predict.

    Batched logistic experts (``kind="logistic"``) are fitted by Newton from
    the standardised design; any other classifier one by one.

    Parameters
    ----------
    kind : {"logistic", None}
    classes : ndarray of shape (n_classes,)
        The labels; targets are their indices.
    feature_mean, feature_scale : array of shape (d,)
    n_jobs : int or None
    """

    def __init__(self, kind, classes, feature_mean, feature_scale, n_jobs=None):
        self.kind = kind
        self.classes = classes
        self.feature_mean = feature_mean
        self.feature_scale = feature_scale
        self.n_jobs = n_jobs
        self.state = ContinuationState()

    def fit(self, experts, data, responsibilities, kernels):
        """M-step of the experts; returns them fitted."""
        if self.kind == "logistic":
            return fit_logistic_experts(
                kernels,
                experts,
                data.design,
                data.y,
                self.classes,
                responsibilities,
                data.sample_weight,
                self.feature_mean,
                self.feature_scale,
            )
        return fit_experts(
            experts,
            data.host_X,
            self.classes[to_host(data.y)],
            responsibilities,
            data.sample_weight,
            self.n_jobs,
            self.state,
        )

    def proba(self, expert, X, host_X=None):
        """predict_proba of one expert, aligned to ``classes``, on X's device.

        Experts other than batched logistic ones predict on ``host_X`` (a
        numpy copy of X, made here if not given).
        """
        if self.kind == "logistic":
            xp = namespace(self.feature_mean)  # X may be sparse
            logits = X @ expert.coef_.T + expert.intercept_
            if len(self.classes) == 2:
                logits = xp.concat([xp.zeros_like(logits), logits], axis=1)
            return xp.exp(_xp.log_softmax(logits))
        host_X = to_host(X) if host_X is None else host_X
        proba = np.zeros((host_X.shape[0], len(self.classes)))
        columns = np.searchsorted(self.classes, expert.classes_)
        proba[:, columns] = expert.predict_proba(host_X)
        return to_device(proba, X)

    def predictions(self, experts, data):
        """What the family reads: each expert's probability of the observed
        class, (n, K)."""
        xp = namespace(data.design)
        classes = xp.arange(len(self.classes), device=device(data.design))
        onehot = xp.astype(data.y[:, None] == classes[None, :], xp.float64)
        proba = [
            self.state.predictions(expert, lambda e: self.proba(e, data.X, data.host_X))
            for expert in experts
        ]
        likelihood = [xp.sum(each * onehot, axis=1) for each in proba]
        return xp.stack(likelihood, axis=1)


def fit_logistic_experts(
    kernels,
    experts,
    design,
    y,
    classes,
    responsibilities,
    sample_weight,
    feature_mean,
    feature_scale,
):
    """Weighted (multinomial) logistic regression for all K experts by Newton.

    Binary experts have one free column (class 0 is the reference, as in
    LogisticRegression's ``coef_`` of shape (1, d)); multiclass experts use
    the symmetric multinomial parametrisation, as LogisticRegression does.
    Each starts from its previous fit.

    Parameters
    ----------
    kernels : module
    experts : list of K LogisticRegression
    design : ndarray of shape (n, p)
    y : ndarray of shape (n,)
        Class indices in ``range(len(classes))``.
    classes : ndarray of shape (n_classes,)
        The labels, set as each expert's ``classes_``.
    responsibilities : ndarray of shape (n, K)
    sample_weight : ndarray of shape (n,)
    feature_mean, feature_scale : ndarray of shape (p - 1,)

    Returns
    -------
    experts : list of K fitted estimators (the same objects)
    """
    xp = namespace(design)
    n_classes = len(classes)
    onehot = xp.astype(
        y[:, None] == xp.arange(n_classes, device=device(design))[None, :], xp.float64
    )
    feature_mean, feature_scale = to_host(feature_mean), to_host(feature_scale)
    binary = n_classes == 2
    free = np.array([False, True]) if binary else np.ones(n_classes, dtype=bool)
    for k, expert in enumerate(experts):
        C = float(expert.C)
        inverse_c = (
            0.0
            if expert.get_params().get("penalty") is None or np.isinf(C)
            else 1.0 / C
        )
        penalty = np.append(inverse_c / feature_scale**2, 0.0)
        coef = np.zeros((design.shape[1], n_classes))
        if hasattr(expert, "coef_"):
            start = standardised_coefficients(
                to_host(expert.coef_),
                to_host(expert.intercept_),
                feature_mean,
                feature_scale,
            )
            coef[:, free] = start
        coef, n_iter = fit_multinomial(
            kernels,
            design,
            to_device(coef, design),
            onehot,
            responsibilities[:, k] * sample_weight,
            penalty,
            free=free,
            newton_budget=EXPERT_NEWTON_BUDGET,
            tol=1e-12,
        )
        raw_coef, raw_intercept = raw_coefficients(
            to_host(coef)[:, free], feature_mean, feature_scale
        )
        expert.coef_ = to_device(raw_coef, design)
        expert.intercept_ = to_device(raw_intercept, design)
        expert.classes_ = classes
        expert.n_iter_ = np.array([n_iter])
        expert.n_features_in_ = len(feature_mean)
    return experts
