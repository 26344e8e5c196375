"""Gates: the built-in softmax gate and a wrapper for any classifier.

A gate is fitted on soft targets, the responsibilities of the E-step, and
answers log-probabilities of shape (n, K). The EM loop talks to both kinds
through the same three methods: ``transform`` (raw features to the gate's
input, once per fit), ``_fit`` and ``_log_proba``.
"""

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from ._kernels import _xp

#: Inverse strength of the default gate penalty, ``1 / (2 C) * ||W||^2`` on
#: the standardised features: weak enough that the gate sharpens as data
#: grows, strong enough that separable responsibilities keep finite weights.
DEFAULT_GATE_C = 100.0

# Floor of gate probabilities from classifiers that may answer exactly 0.
_LOG_PROBA_FLOOR = np.log(1e-300)


class SoftmaxGate:
    """Multinomial logistic gate ``g(x) = softmax(x @ coef_ + intercept_)``.

    Fitted by block-diagonal Newton ascent on the weighted soft-target
    log-likelihood minus an L2 penalty; every step is line-searched so that
    the objective never decreases, and each fit starts from the previous
    one (EM warm start).

    Parameters
    ----------
    n_experts : int
    feature_mean, feature_scale : ndarray of shape (n_features,)
        Standardisation applied to the raw features before the softmax.
    C : float, default=DEFAULT_GATE_C
        Inverse penalty strength. ``np.inf`` means no penalty.
    raw_units : bool, default=False
        If True the penalty applies to the coefficients of the raw features
        (LogisticRegression's units); otherwise to the standardised ones.
    max_iter : int, default=5
        Newton steps per M-step.
    """

    def __init__(
        self, n_experts, feature_mean, feature_scale, *, C=DEFAULT_GATE_C,
        raw_units=False, max_iter=5,
    ):
        self.n_experts = n_experts
        self.feature_mean = feature_mean
        self.feature_scale = feature_scale
        self.C = C
        self.raw_units = raw_units
        self.max_iter = max_iter
        n_features = len(feature_mean)
        self._coef = np.zeros((n_features, n_experts))
        self._intercept = np.zeros(n_experts)
        inverse_c = 0.0 if np.isinf(C) else 1.0 / C
        scale2 = feature_scale**2 if raw_units else np.ones(n_features)
        self._penalty = inverse_c / scale2

    # -- EM interface -------------------------------------------------------
    def transform(self, X):
        """Standardise raw features into the gate's input."""
        return (X - self.feature_mean) / self.feature_scale

    def _fit(self, Z, responsibilities, sample_weight):
        targets = responsibilities * sample_weight[:, None]
        objective = _xp.gate_objective(
            Z, self._coef, self._intercept, targets, self._penalty
        )
        tol = 1e-10 * max(sample_weight.sum(), 1.0)
        for _ in range(self.max_iter):
            d_coef, d_intercept, decrement = _xp.gate_newton_direction(
                Z, self._coef, self._intercept, targets, sample_weight, self._penalty
            )
            if not decrement > tol:
                break
            step = 1.0
            for _ in range(40):
                coef = self._coef + step * d_coef
                intercept = self._intercept + step * d_intercept
                candidate = _xp.gate_objective(Z, coef, intercept, targets, self._penalty)
                if candidate >= objective + 1e-4 * step * decrement:
                    break
                step *= 0.5
            else:
                break  # no ascent found: keep the current weights
            self._coef, self._intercept, objective = coef, intercept, candidate
        return self

    def _log_proba(self, Z):
        return _xp.gate_log_proba(Z, self._coef, self._intercept)

    @property
    def n_parameters(self):
        """Free parameters: K - 1 softmax columns of ``(coef, intercept)``."""
        return (self.n_experts - 1) * (self._coef.shape[0] + 1)

    # -- user interface -----------------------------------------------------
    @property
    def coef_(self):
        """Gate weights on the raw features, shape (n_features, n_experts)."""
        return self._coef / self.feature_scale[:, None]

    @property
    def intercept_(self):
        """Gate intercepts on the raw features, shape (n_experts,)."""
        return self._intercept - self.feature_mean @ self.coef_

    def predict_log_proba(self, X):
        """Log gate probabilities for raw features, shape (n, n_experts)."""
        return self._log_proba(self.transform(np.asarray(X, dtype=float)))

    def predict_proba(self, X):
        """Gate probabilities for raw features, shape (n, n_experts)."""
        return np.exp(self.predict_log_proba(X))

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

    def transform(self, X):
        return X

    def _fit(self, X, responsibilities, sample_weight):
        n_samples = X.shape[0]
        weights = (responsibilities * sample_weight[:, None]).T.ravel()
        labels = np.repeat(np.arange(self.n_experts), n_samples)
        rows = np.tile(np.arange(n_samples), self.n_experts)
        keep = weights > 0
        self.estimator_ = clone(self.estimator).fit(
            X[rows[keep]], labels[keep], sample_weight=weights[keep]
        )
        return self

    def _log_proba(self, X):
        proba = self.estimator_.predict_proba(X)
        log_proba = np.full((X.shape[0], self.n_experts), _LOG_PROBA_FLOOR)
        with np.errstate(divide="ignore"):
            log_proba[:, self.estimator_.classes_] = np.maximum(
                np.log(proba), _LOG_PROBA_FLOOR
            )
        return _xp.log_softmax(log_proba)

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
        C = np.inf if penalty is None else float(params["C"])
        return SoftmaxGate(
            n_experts, feature_mean, feature_scale, C=C, raw_units=True
        )
    return ClassifierGate(gate, n_experts)
