"""Gates: the built-in softmax gate and a wrapper for any classifier.

A gate is fitted on soft targets, the responsibilities of the E-step, and
answers log-probabilities of shape (n, K). The EM loop talks to both kinds
through ``_fit`` and ``_log_proba``, on the standardised design matrix
(``uses_design``) or on the raw features.
"""

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import has_fit_parameter

from ._backend import device, is_numpy, namespace, to_device, to_host
from ._kernels import _xp
from ._kernels._linalg import multinomial_newton_direction

#: Inverse strength of the default gate penalty, ``1 / (2 C) * ||W||^2`` on
#: the standardised features: weak enough that the gate sharpens as data
#: grows, strong enough that separable responsibilities keep finite weights.
#: (C=100 blurred sharp regime boundaries at n = 100,000: benchmarks/bench_init.py.)
DEFAULT_GATE_C = 1000.0

# Newton steps use the full Hessian while n * n_params**2 (its cost in
# multiply-adds) stays below this; block-diagonal Hessians beyond. Logistic
# experts, solved to convergence at every M-step, use this budget.
FULL_NEWTON_BUDGET = 2e7

# The gate takes one Newton step per EM iteration and may afford far more
# (about a second of one core per step): the full Hessian costs K/2 times
# the blocks per pass but sharpens a gate in tens of EM iterations where the
# blocks take hundreds (benchmarks/bench_init.py).
GATE_NEWTON_BUDGET = 1e9

# Floor of gate probabilities from classifiers that may answer exactly 0.
_LOG_PROBA_FLOOR = np.log(1e-300)


def fit_multinomial(
    kernels,
    design,
    coef,
    target_proba,
    row_weight,
    penalty,
    *,
    free=None,
    max_iter=None,
    tol=1e-10,
    newton_budget=None,
):
    """Raise the penalised soft-target log-likelihood of a multinomial logit.

    Newton steps with a backtracking (Armijo) line search, so the objective
    never decreases; the shared solver of the softmax gate and of batched
    logistic experts. While the full Hessian is cheap (``n * n_params**2``
    below ``FULL_NEWTON_BUDGET``) it is used, with quadratic convergence;
    beyond, its diagonal blocks, at the cost of about one pass over the data
    per step.

    Parameters
    ----------
    kernels : module
        ``skmoe._kernels._xp`` or ``skmoe._kernels._numba``.
    design : ndarray of shape (n, p)
        Standardised features with a final column of ones.
    coef : ndarray of shape (p, K)
        Starting point (warm start).
    target_proba : ndarray of shape (n, K)
        Soft targets, rows summing to one.
    row_weight : ndarray of shape (n,)
        Weight of each row.
    penalty : ndarray of shape (p,)
        L2 penalty per row of ``coef`` (0 for the intercept).
    free : ndarray of bool of shape (K,), default=None
        Columns to optimise; the others stay as they are. None: all.
    max_iter : int, default=None
        Newton steps. None: up to 100 (until ``tol``) with the full Hessian,
        1 with its blocks (one ascent step per EM iteration is all EM
        needs, and it costs about one pass).
    tol : float, default=1e-10
        Stop when the Newton decrement per unit of weight falls below it.
    newton_budget : float, default=None
        Largest ``n * n_params**2`` solved with the full Hessian; None:
        ``FULL_NEWTON_BUDGET``.

    Returns
    -------
    coef : ndarray of shape (p, K)
    n_iter : int
    """
    if free is None:
        free = np.ones(coef.shape[1], dtype=bool)
    n_params = int(free.sum()) * design.shape[1]
    if newton_budget is None:
        newton_budget = FULL_NEWTON_BUDGET
    full = design.shape[0] * n_params**2 <= newton_budget
    if max_iter is None:
        max_iter = 100 if full else 1
    threshold = tol * max(float(namespace(row_weight).sum(row_weight)), 1.0)
    n_iter = 0
    while n_iter < max_iter:
        direction, decrement, objective = multinomial_newton_direction(
            kernels, design, coef, target_proba, row_weight, penalty, free, full
        )
        if not decrement > threshold:
            break
        step = 1.0
        for _ in range(40):
            candidate = coef + step * direction
            value = kernels.multinomial_objective(
                design, candidate, target_proba, row_weight, penalty
            )
            if value >= objective + 1e-4 * step * decrement:
                break
            step *= 0.5
        else:
            break  # no ascent found: keep the current weights
        coef = candidate
        n_iter += 1
    return coef, n_iter


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
    ):
        self.n_experts = n_experts
        self.feature_mean = feature_mean
        self.feature_scale = feature_scale
        self.C = C
        self.raw_units = raw_units
        self.max_iter = max_iter
        n_features = feature_mean.shape[0]
        # On the device of the data (the host for numpy); the penalty stays
        # on the host with the small solves.
        xp = namespace(feature_mean)
        self._coef = xp.zeros(
            (n_features + 1, n_experts), dtype=xp.float64, device=device(feature_mean)
        )
        inverse_c = 0.0 if np.isinf(C) else 1.0 / C
        scale2 = to_host(feature_scale) ** 2 if raw_units else np.ones(n_features)
        self._penalty = np.append(inverse_c / scale2, 0.0)
        # Without a penalty the softmax is identified only up to a common
        # shift of the columns, so expert 0 is the reference; with two experts
        # the same parametrisation makes the penalty LogisticRegression's
        # binary one (a single weight vector).
        self._free = np.ones(n_experts, dtype=bool)
        self._free[0] = inverse_c > 0 and n_experts > 2

    def _fit(self, design, responsibilities, sample_weight, kernels=_xp):
        self._coef, _ = fit_multinomial(
            kernels,
            design,
            self._coef,
            responsibilities,
            sample_weight,
            self._penalty,
            free=self._free,
            max_iter=self.max_iter,
            newton_budget=GATE_NEWTON_BUDGET,
        )
        return self

    def _log_proba(self, design, kernels=_xp):
        return kernels.linear_log_softmax(design, self._coef)

    def _keep_experts(self, keep):
        """Drop the columns of removed experts (``keep``: bool mask, (K,)).

        The kept columns are the warm start of the next M-step; the reference
        column is chosen as a fresh gate of the new size would choose it.
        """
        kept = to_device(np.flatnonzero(keep), self._coef)
        self._coef = namespace(self._coef).take(self._coef, kept, axis=1)
        self.n_experts = self._coef.shape[1]
        self._free = np.ones(self.n_experts, dtype=bool)
        self._free[0] = self._penalty[0] > 0 and self.n_experts > 2
        if not self._free[0]:
            # A common shift of the columns leaves the softmax unchanged.
            self._coef = self._coef - self._coef[:, :1]
        return self

    @property
    def n_parameters(self):
        """Free parameters: K - 1 softmax columns of ``(coef, intercept)``."""
        return (self.n_experts - 1) * self._coef.shape[0]

    @property
    def coef_(self):
        """Gate weights on the raw features, shape (n_features, n_experts)."""
        return self._coef[:-1, ...] / self.feature_scale[:, None]

    @property
    def intercept_(self):
        """Gate intercepts on the raw features, shape (n_experts,)."""
        return self._coef[-1, ...] - self.feature_mean @ self.coef_

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

    def _fit(self, X, responsibilities, sample_weight, kernels=None):
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

    def _keep_experts(self, keep):
        """Forget removed experts; the next M-step refits the classifier."""
        self.n_experts = int(keep.sum())
        return self

    def _log_proba(self, X, kernels=None):
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
        return self._log_proba(X)

    def predict_proba(self, X):
        return np.exp(self._log_proba(X))


def make_gate(gate, n_experts, feature_mean, feature_scale):
    """The gate object for the ``gate`` parameter of the estimators."""
    if gate is None:
        return SoftmaxGate(n_experts, feature_mean, feature_scale)
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
