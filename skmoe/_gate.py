"""Gates: the built-in softmax gate and a wrapper for any classifier.

A gate is fitted on soft targets, the responsibilities of the E-step, and
answers log-probabilities of shape (n, K). The EM engines talk to every gate
through one protocol: ``m_step(inputs, responsibilities, sample_weight,
kernels, full)`` (``full``: fit to convergence, as at the first M-step of a
run, rather than take one step), ``log_proba(inputs, kernels)``,
``keep_experts(keep)`` and ``n_parameters``, where the inputs are the
standardised design matrix with a column of ones (``uses_design``) or the
raw features.
"""

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils.validation import has_fit_parameter

from ._array_utils import device, is_numpy, namespace, to_device, to_host
from ._kernels import _xp
from ._solvers import CURVATURE_ROWS, GATE_NEWTON_BUDGET, fit_multinomial

#: Inverse strength of the default gate penalty, ``1 / (2 C) * ||W||^2`` on
#: the standardised features: weak enough that the gate sharpens as data
#: grows, strong enough that separable responsibilities keep finite weights.
#: (C=100 blurred sharp regime boundaries at n = 100,000: benchmarks/bench_init.py.)
DEFAULT_GATE_C = 1000.0

#: Newton steps of a full M-step (``m_step(..., full=True)``), until the
#: solver's tolerance; explicit, since ``max_iter=None`` takes one block step
#: once the full Hessian is over budget.
FULL_M_STEP_MAX_ITER = 100

# Floor of gate probabilities from classifiers that may answer exactly 0.
_LOG_PROBA_FLOOR = np.log(1e-300)


class SoftmaxGate:
    """Multinomial logistic gate ``g(x) = softmax(x @ coef_ + intercept_)``.

    Fitted by :func:`fit_multinomial` on the responsibilities, each M-step
    starting from the previous weights (EM warm start). Internally the gate
    works on standardised features; ``coef_`` and ``intercept_`` are in the
    units of the raw features.

    Parameters
    ----------
    n_experts : int
    feature_mean, feature_scale : ndarray of shape (n_features,)
        Standardisation applied to the raw features.
    C : float, default=DEFAULT_GATE_C
        Inverse penalty strength, ``1 / (2 C) * ||W||^2``; ``np.inf``: none.
    raw_units : bool, default=False
        If True the penalty applies to the coefficients of the raw features
        (LogisticRegression's units); otherwise to the standardised ones.
    max_iter : int, default=1
        Newton steps per M-step. One warm-started step is all EM needs (a
        generalised EM), and it is the cheapest.
    newton_budget : float, default=GATE_NEWTON_BUDGET
        Largest ``n * (free columns * n_params)**2`` for which Newton steps
        take the full Hessian on all rows.
    curvature_rows : int, default=CURVATURE_ROWS
        Beyond the budget, the full Hessian on this many rows sampled once,
        the gradient and the line search staying exact (the same optimum);
        0: the Hessian's diagonal blocks on all rows.

    Attributes
    ----------
    weights : array of shape (n_features + 1, n_experts)
        Weights on the standardised features, intercepts last, on the
        device of the data.
    penalty : ndarray of shape (n_features + 1,)
        L2 penalty per row of ``weights`` (0 for the intercepts).
    free : ndarray of bool of shape (n_experts,)
        The columns that are fitted; without a penalty (and with two
        experts) column 0 is the reference, fixed at 0.
    """

    uses_design = True

    def __init__(
        self,
        n_experts,
        feature_mean,
        feature_scale,
        *,
        C=DEFAULT_GATE_C,
        raw_units=False,
        max_iter=1,
        newton_budget=GATE_NEWTON_BUDGET,
        curvature_rows=CURVATURE_ROWS,
    ):
        self.n_experts = n_experts
        self.feature_mean = feature_mean
        self.feature_scale = feature_scale
        self.C = C
        self.raw_units = raw_units
        self.max_iter = max_iter
        self.newton_budget = newton_budget
        self.curvature_rows = curvature_rows
        n_features = feature_mean.shape[0]
        # On the device of the data (the host for numpy); the penalty stays
        # on the host with the small solves.
        xp = namespace(feature_mean)
        self.weights = xp.zeros(
            (n_features + 1, n_experts), dtype=xp.float64, device=device(feature_mean)
        )
        inverse_c = 0.0 if np.isinf(C) else 1.0 / C
        scale2 = to_host(feature_scale) ** 2 if raw_units else np.ones(n_features)
        self.penalty = np.append(inverse_c / scale2, 0.0)
        self.free = _free_columns(n_experts, inverse_c > 0)

    def m_step(self, design, responsibilities, sample_weight, kernels=_xp, full=False):
        """Raise the gate's objective on the responsibilities (warm start):
        ``max_iter`` Newton steps, or to convergence if ``full``."""
        self.weights, _ = fit_multinomial(
            kernels,
            design,
            self.weights,
            responsibilities,
            sample_weight,
            self.penalty,
            free=self.free,
            max_iter=FULL_M_STEP_MAX_ITER if full else self.max_iter,
            newton_budget=self.newton_budget,
            curvature_rows=self.curvature_rows,
        )
        return self

    def log_proba(self, design, kernels=_xp):
        """Log gate probabilities on the standardised design, (n, K)."""
        return kernels.linear_log_softmax(design, self.weights)

    def keep_experts(self, keep):
        """Drop the columns of removed experts (``keep``: bool mask, (K,)).

        The kept columns are the warm start of the next M-step; the reference
        column is chosen as a fresh gate of the new size would choose it.
        """
        kept = to_device(np.flatnonzero(keep), self.weights)
        self.weights = namespace(self.weights).take(self.weights, kept, axis=1)
        self.n_experts = self.weights.shape[1]
        self.free = _free_columns(self.n_experts, self.penalty[0] > 0)
        if not self.free[0]:
            # A common shift of the columns leaves the softmax unchanged.
            self.weights = self.weights - self.weights[:, :1]
        return self

    @property
    def n_parameters(self):
        """Free parameters: K - 1 softmax columns of ``(coef, intercept)``."""
        return (self.n_experts - 1) * self.weights.shape[0]

    @property
    def coef_(self):
        """Gate weights on the raw features, shape (n_features, n_experts)."""
        return self.weights[:-1, ...] / self.feature_scale[:, None]

    @property
    def intercept_(self):
        """Gate intercepts on the raw features, shape (n_experts,)."""
        return self.weights[-1, ...] - self.feature_mean @ self.coef_

    def predict_log_proba(self, X):
        """Log gate probabilities for raw features, shape (n, n_experts)."""
        if is_numpy(X):
            X = np.asarray(X, dtype=float)
        return _xp.log_softmax(X @ self.coef_ + self.intercept_)

    def predict_proba(self, X):
        """Gate probabilities for raw features, shape (n, n_experts)."""
        log_proba = self.predict_log_proba(X)
        return namespace(log_proba).exp(log_proba)

    def __repr__(self):
        return f"SoftmaxGate(C={self.C!r}, raw_units={self.raw_units})"


def _free_columns(n_experts, penalised):
    """Fitted columns of a softmax gate.

    Without a penalty the softmax is identified only up to a common shift of
    the columns, so expert 0 is the reference; with two experts the same
    parametrisation makes the penalty LogisticRegression's binary one (a
    single weight vector).
    """
    free = np.ones(n_experts, dtype=bool)
    free[0] = penalised and n_experts > 2
    return free


class ClassifierGate:
    """Any classifier with ``predict_proba`` used as a gate.

    Fitted on soft targets by stacking the data once per expert: sample i
    appears with label k and weight ``sample_weight_i * R_ik``.

    Parameters
    ----------
    estimator : classifier
        Cloned before fitting; the fitted clone is ``estimator_``.
    n_experts : int
    """

    def __init__(self, estimator, n_experts):
        self.estimator = estimator
        self.n_experts = n_experts

    uses_design = False

    def m_step(self, X, responsibilities, sample_weight, kernels=None, full=False):
        """Refit the classifier on the responsibilities as soft targets
        (always a full M-step)."""
        # Any classifier may only take numpy: it is fitted on host copies.
        X, responsibilities = to_host(X), to_host(responsibilities)
        sample_weight = to_host(sample_weight)
        n_samples = X.shape[0]
        weights = (responsibilities * sample_weight[:, None]).T.ravel()
        labels = np.repeat(np.arange(self.n_experts), n_samples)
        rows = np.tile(np.arange(n_samples), self.n_experts)
        keep = weights > 0
        self.estimator_ = clone(self.estimator).fit(
            X[rows[keep]], labels[keep], sample_weight=weights[keep]
        )
        return self

    def keep_experts(self, keep):
        """Forget removed experts; the next M-step refits the classifier."""
        self.n_experts = int(keep.sum())
        return self

    def log_proba(self, X, kernels=None):
        """Log gate probabilities, floored and renormalised, (n, K)."""
        on_device, X = X, to_host(X)
        proba = self.estimator_.predict_proba(X)
        log_proba = np.full((X.shape[0], self.n_experts), _LOG_PROBA_FLOOR)
        with np.errstate(divide="ignore"):
            log_proba[:, self.estimator_.classes_] = np.maximum(
                np.log(proba), _LOG_PROBA_FLOOR
            )
        return to_device(_xp.log_softmax(log_proba), on_device)

    @property
    def n_parameters(self):
        raise ValueError(
            "The number of parameters of a gate given as an arbitrary classifier "
            "is unknown; bic and aic need the built-in softmax gate."
        )

    def predict_log_proba(self, X):
        """Log gate probabilities for raw features, shape (n, n_experts)."""
        return self.log_proba(X)

    def predict_proba(self, X):
        """Gate probabilities for raw features, shape (n, n_experts)."""
        return np.exp(self.log_proba(X))


def make_gate(gate, n_experts, feature_mean, feature_scale, random_state=None):
    """The gate object for the ``gate`` parameter of the estimators.

    None and ``LogisticRegression`` give the built-in :class:`SoftmaxGate`;
    a gate that speaks the EM protocol itself (:class:`~skmoe.MLPGate`,
    :class:`~skmoe.SplineGate`: ``initialize`` and ``m_step``) is cloned and
    initialised (seeded from ``random_state`` when it has no seed of its
    own); any other classifier is wrapped in a :class:`ClassifierGate`.
    """
    if gate is None:
        return SoftmaxGate(n_experts, feature_mean, feature_scale)
    if all(callable(getattr(gate, name, None)) for name in ("initialize", "m_step")):
        own = getattr(gate, "random_state", None)
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        return clone(gate).initialize(
            n_experts, feature_mean.shape[0], seed if own is None else own
        )
    if type(gate) is LogisticRegression:
        params = gate.get_params()
        penalty = params.get("penalty", "deprecated")
        l1_ratio = params.get("l1_ratio") or 0.0
        if penalty in ("l1", "elasticnet") or (penalty != "l2" and l1_ratio > 0):
            raise ValueError(
                "gate=LogisticRegression(...) supports the L2 penalty only "
                f"(got penalty={penalty!r}, l1_ratio={l1_ratio!r})."
            )
        if not params["fit_intercept"] or params["class_weight"] is not None:
            raise ValueError(
                "gate=LogisticRegression(...) sets the built-in gate's penalty "
                "only; it always fits intercepts and weighs samples by their "
                f"responsibilities (got fit_intercept={params['fit_intercept']!r}, "
                f"class_weight={params['class_weight']!r})."
            )
        C = np.inf if penalty is None else float(params["C"])
        return SoftmaxGate(n_experts, feature_mean, feature_scale, C=C, raw_units=True)
    if not has_fit_parameter(gate, "sample_weight"):
        raise TypeError(
            f"gate={type(gate).__name__}() is trained on responsibilities as "
            "sample weights, but its fit takes no sample_weight; use a classifier "
            "that does, or gate=None."
        )
    return ClassifierGate(gate, n_experts)
