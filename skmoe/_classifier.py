"""MixtureOfExpertsClassifier: classifier experts, categorical likelihood."""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._array_utils import namespace, to_device, to_host
from ._base import BaseMixtureOfExperts
from ._dask_estimator import dask_method
from ._docstrings import fill_doc
from ._experts import ClassificationExperts
from ._families import CategoricalFamily


@fill_doc
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
        for. ``LogisticRegression`` experts are fitted by Newton steps on
        the standardised data, warm-started from one M-step to the next.
        {continuation}
    {n_experts}
    {gate}
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
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    {n_experts_}
    experts_ : list of fitted classifiers
        The experts, genuine fitted estimators of the base expert's class.
    {gate_}
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
    MixtureOfExpertsRegressor : The same model for regression.
    skmoe.SplineGate : An additive spline gate for curved regime boundaries.
    skmoe.MLPGate : A neural gate for curved regime boundaries.

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

    def _family(self):
        return CategoricalFamily()

    def _expert_model(self):
        return ClassificationExperts(
            self._batched,
            self.classes_,
            self._feature_mean,
            self._feature_scale,
            self.n_jobs,
        )

    def _expert_targets(self, y):
        return self.classes_[to_host(y)], self.classes_

    # Dask input: R^2 / accuracy summed on the workers.
    score = dask_method(ClassifierMixin.score)

    @dask_method
    def predict_proba(self, X):
        """Predict class probabilities: the gate-weighted experts' probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            ``sum_k g_k(x) p_k(c | x)`` (over the ``top_k`` experts when
            set), columns in the order of ``classes_``.
        """
        return self._predict_proba(self._validate_X(X, "predict_proba"))

    def _predict_proba(self, X):
        weights = self._routing(X)
        X = self._expert_X(X)
        if self._on_device():
            # Every expert on every row (the array API has no scatter); experts
            # other than batched logistic ones predict on one host copy.
            host_X = None if self._batched else to_host(X)
            experts = self._expert_model()
            proba = 0.0
            for k, expert in enumerate(self.experts_):
                expert_proba = experts.proba(expert, X, host_X)
                proba = proba + weights[:, k : k + 1] * expert_proba
            return proba
        # Each expert predicts only the rows routed to it.
        experts = self._expert_model()
        proba = np.zeros((X.shape[0], len(self.classes_)))
        for k, expert in enumerate(self.experts_):
            rows = np.flatnonzero(weights[:, k] > 0)
            if len(rows):
                proba[rows] += weights[rows, k, None] * experts.proba(expert, X[rows])
        return proba

    def predict_log_proba(self, X):
        """Predict the logarithm of the class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The log of :meth:`predict_proba` (``-inf`` for a probability 0).
        """
        proba = self._predict_proba(self._validate_X(X, "predict_log_proba"))
        xp = namespace(proba)
        with np.errstate(divide="ignore"):
            return xp.log(proba)

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

        As for :meth:`MixtureOfExpertsRegressor.summary`, for logistic
        experts: the observed information of the whole mixture
        log-likelihood (experts and gate jointly; its central finite
        difference of the analytic score), or a bootstrap. Class 0 is each
        expert's reference class and expert 0 the gate's reference.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training features.
        y : array-like of shape (n_samples,)
            The training labels.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights of the fit, if any.
        method : {"information", "bootstrap"}, default="information"
            "bootstrap": refit on ``n_boot`` resamples, warm-started from this
            fit, each replicate's experts matched to the fitted ones.
        n_boot : int, default=100
            Bootstrap replicates.
        random_state : int, RandomState instance or None, default=None
            Seeds the resamples.

        Returns
        -------
        table : pandas.DataFrame
            Index ``(part, term)``: parts "expert 0" (binary) or "expert 0,
            class c" (multiclass), ..., then "gate 1", ...; terms "intercept"
            then the feature names; columns ``estimate``, ``std_error``,
            ``z``, ``p_value``.
        """
        from ._glm_summary import glm_summary

        data = self._summary_data(X, y, sample_weight, method)
        return glm_summary(self, "logit", data, method, n_boot, random_state)

    @dask_method
    def predict(self, X):
        """Predict the most probable class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The class of largest :meth:`predict_proba`.
        """
        proba = self._predict_proba(self._validate_X(X, "predict"))
        best = to_host(namespace(proba).argmax(proba, axis=1))
        labels = self.classes_[best]
        # Numeric labels follow the data to its namespace and device.
        return to_device(labels, proba) if labels.dtype.kind in "biuf" else labels
