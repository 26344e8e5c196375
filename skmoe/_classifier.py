"""MixtureOfExpertsClassifier: categorical experts through predict_proba."""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._backend import device, namespace, to_device, to_host
from ._base import BaseMixtureOfExperts
from ._experts import fit_experts, fit_logistic_experts
from ._kernels import _xp

# Floor of an expert's probability for a class, so that an expert that never
# saw a class gives it a tiny, not zero, likelihood.
_PROBA_FLOOR = 1e-300


class MixtureOfExpertsClassifier(ClassifierMixin, BaseMixtureOfExperts):
    """Mixture of experts for classification, trained by EM.

    The model is ``p(y | x) = sum_k g_k(x) p_k(y | x)``, where ``p_k`` is
    expert k's ``predict_proba`` at class y and ``g`` a softmax gate. Experts
    and gate are trained together by expectation-maximisation. Labels may be
    of any type; binary and multiclass problems are supported, and an expert
    that saw only some classes gives the others probability zero.

    Parameters
    ----------
    estimator : classifier with predict_proba, default=None
        The base expert, cloned ``n_experts`` times; None means
        ``LogisticRegression()``. Experts whose ``fit`` takes no
        ``sample_weight`` are fitted on the samples they are most responsible
        for.
    n_experts : int, default=3
    gate : classifier, default=None
        As for :class:`MixtureOfExpertsRegressor`.
    init : {"tree", "kmeans", "random"} or array-like of shape \
            (n_samples, n_experts), default="tree"
        As for :class:`MixtureOfExpertsRegressor`; the model tree and
        k-means see the labels one-hot encoded (the tree fits them by least
        squares, a linear probability model per leaf).
    n_init : int, default=1
    max_iter : int, default=100
    tol : float, default=1e-5
    top_k : int, default=None
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
    n_jobs : int, default=None
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
    verbose : int, default=0
    routing : {"soft", "hard"} or int, default="soft"
        As for :class:`MixtureOfExpertsRegressor`.
    min_expert_weight : float in [0, 1), default=1e-3
        As for :class:`MixtureOfExpertsRegressor`: experts whose share of
        the data falls below it are removed.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_experts_ : int
        Experts in the fitted model (``n_experts`` minus those removed).
    experts_ : list of fitted classifiers
    gate_ : SoftmaxGate or ClassifierGate
    expert_weights_ : ndarray of shape (n_experts_,)
        Share of the (weighted) training data each expert is responsible for.
    log_likelihood_ : float
    log_likelihood_path_ : ndarray of shape (n_iter_,)
    n_iter_ : int
    converged_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Examples
    --------
    >>> from skmoe import MixtureOfExpertsClassifier
    >>> from skmoe.datasets import make_moe_classification
    >>> X, y = make_moe_classification(n_samples=500, random_state=0)
    >>> clf = MixtureOfExpertsClassifier(n_experts=3, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: dict = {
        **BaseMixtureOfExperts._parameter_constraints,
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
    }

    def _default_estimator(self):
        return LogisticRegression()

    def _prepare_targets(self, y, sample_weight, like):
        # Labels are encoded on the host (they may be strings); the class
        # indices go to the device of the data.
        y = column_or_1d(to_host(y), warn=True)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        present = np.unique(encoded[to_host(sample_weight) > 0])
        if len(present) < 2:
            raise ValueError(
                "MixtureOfExpertsClassifier needs samples of at least 2 classes "
                f"with positive weight; got 1 class: {self.classes_[present]}."
            )
        return to_device(encoded, like)

    def _encode_targets(self, y, n_samples):
        y = column_or_1d(to_host(y))
        if len(y) != n_samples:
            raise ValueError(f"X has {n_samples} samples but y has {len(y)}.")
        encoded = np.searchsorted(self.classes_, y)
        encoded = np.minimum(encoded, len(self.classes_) - 1)
        unknown = self.classes_[encoded] != y
        if np.any(unknown):
            raise ValueError(
                f"y contains labels not seen in fit: {np.unique(y[unknown])}."
            )
        return encoded

    def _targets_for_init(self, y):
        onehot = np.zeros((len(y), len(self.classes_)))
        onehot[np.arange(len(y)), y] = 1.0
        return onehot

    def _expert_proba(self, expert, X, host_X=None):
        """predict_proba of one expert, aligned to ``classes_``, on X's device.

        Experts other than batched logistic ones predict on ``host_X`` (a
        numpy copy of X, made here if not given).
        """
        if self._batched == "logistic":
            # Batched logistic experts know every class; computed on the device.
            xp = namespace(self._feature_mean)
            logits = X @ expert.coef_.T + expert.intercept_
            if len(self.classes_) == 2:
                logits = xp.concat([xp.zeros_like(logits), logits], axis=1)
            return xp.exp(_xp.log_softmax(logits))
        host_X = to_host(X) if host_X is None else host_X
        proba = np.zeros((host_X.shape[0], len(self.classes_)))
        columns = np.searchsorted(self.classes_, expert.classes_)
        proba[:, columns] = expert.predict_proba(host_X)
        return to_device(proba, X)

    def _fit_expert_params(self, data, responsibilities):
        if self._batched == "logistic":
            self.experts_ = fit_logistic_experts(
                self._kernels,
                self.experts_,
                data.design,
                data.y,
                self.classes_,
                responsibilities,
                data.sample_weight,
                self._feature_mean,
                self._feature_scale,
            )
        else:
            self.experts_ = fit_experts(
                self.experts_,
                data.host_X,
                self.classes_[to_host(data.y)],
                responsibilities,
                data.sample_weight,
                self.n_jobs,
            )
        return self._expert_log_density(data)

    def _partial_fit_experts(self, data, responsibilities, step):
        for k, expert in enumerate(self.experts_):
            expert.partial_fit(
                data.X,
                self.classes_[data.y],
                classes=self.classes_,
                sample_weight=responsibilities[:, k] * data.sample_weight,
            )

    def _expert_log_density(self, data):
        xp = namespace(data.design)
        classes = xp.arange(len(self.classes_), device=device(data.design))
        onehot = xp.astype(data.y[:, None] == classes[None, :], xp.float64)
        likelihood = [
            xp.sum(self._expert_proba(expert, data.X, data.host_X) * onehot, axis=1)
            for expert in self.experts_
        ]
        return xp.log(xp.clip(xp.stack(likelihood, axis=1), min=_PROBA_FLOOR))

    def _expert_parameters(self):
        return {}

    def predict_proba(self, X):
        """Class probabilities of the mixture, shape (n_samples, n_classes)."""
        return self._predict_proba(self._validate_X(X, "predict_proba"))

    def _predict_proba(self, X):
        weights = self._routing(X)
        if self._on_device():
            # Every expert on every row (the array API has no scatter); experts
            # other than batched logistic ones predict on one host copy.
            host_X = None if self._batched else to_host(X)
            proba = 0.0
            for k, expert in enumerate(self.experts_):
                expert_proba = self._expert_proba(expert, X, host_X)
                proba = proba + weights[:, k : k + 1] * expert_proba
            return proba
        # Each expert predicts only the rows routed to it.
        proba = np.zeros((X.shape[0], len(self.classes_)))
        for k, expert in enumerate(self.experts_):
            rows = np.flatnonzero(weights[:, k] > 0)
            if len(rows):
                proba[rows] += weights[rows, k, None] * self._expert_proba(
                    expert, X[rows]
                )
        return proba

    def predict_log_proba(self, X):
        """Log class probabilities of the mixture, shape (n_samples, n_classes)."""
        proba = self._predict_proba(self._validate_X(X, "predict_log_proba"))
        xp = namespace(proba)
        with np.errstate(divide="ignore"):
            return xp.log(proba)

    def predict(self, X):
        """Most probable class for each sample, shape (n_samples,)."""
        proba = self._predict_proba(self._validate_X(X, "predict"))
        best = to_host(namespace(proba).argmax(proba, axis=1))
        labels = self.classes_[best]
        # Numeric labels follow the data to its namespace and device.
        return to_device(labels, proba) if labels.dtype.kind in "biuf" else labels
