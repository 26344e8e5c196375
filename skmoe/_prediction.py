"""The inference methods both estimators share: gate, routing, likelihoods.

A mixin of ``BaseMixtureOfExperts``: it reads the fitted attributes that
``fit`` sets (the experts, the gate, the standardisation) and the
subclasses' hooks (``_family``, ``_expert_model``, ``_encode_targets``).
"""

import numpy as np
from scipy import sparse
from sklearn.utils._array_api import get_namespace
from sklearn.utils.validation import check_is_fitted, validate_data

from ._array_utils import device, is_numpy, namespace, to_device, to_host
from ._backend import get_kernels
from ._dask_estimator import dask_method
from ._engines import GeneralEngine, make_training_data
from ._features import same_columns, take_columns
from ._responsibilities import keep_top


class PredictionMixin:
    """Gate probabilities, routing, log-likelihoods and information criteria."""

    @property
    def _kernels(self):
        return get_kernels(getattr(self, "_backend", "numpy"))

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

    def _data(self, X, y=None, sample_weight=None, host_X=None):
        """The arrays of validated X (and encoded y) as the engines see them:
        the experts' columns and the gate's (``expert_features``,
        ``gate_features``), each standardised as in fit."""
        if sample_weight is None:
            sample_weight = to_device(np.ones(X.shape[0]), X)
        gate = None
        if not same_columns(self._gate_columns, self._expert_columns):
            gate_X = take_columns(X, self._gate_columns)
            gate = gate_X, self._gate_mean, self._gate_scale
        if host_X is not None:
            host_X = take_columns(host_X, self._expert_columns)
        return make_training_data(
            self._expert_X(X),
            y,
            sample_weight,
            self._feature_mean,
            self._feature_scale,
            host_X,
            gate,
        )

    def _summary_data(self, X, y, sample_weight, method):
        """Host arrays of ``summary``: the fit's input, the experts' and the
        gate's columns and their names, targets as codes and as labels."""
        if method not in ("information", "bootstrap"):
            raise ValueError(
                f'method must be "information" or "bootstrap"; got {method!r}.'
            )
        X = self._validate_X(X, "summary")
        targets = to_host(self._encode_targets(y, X.shape[0]))
        X = to_host(X)
        if sparse.issparse(X):
            X = X.toarray()
        names = np.asarray(
            getattr(self, "feature_names_in_", None)
            if hasattr(self, "feature_names_in_")
            else [f"x{j}" for j in range(X.shape[1])]
        )
        weights = (
            np.ones(X.shape[0])
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float64)
        )
        classes = getattr(self, "classes_", None)
        return {
            "X": X,
            "expert_X": take_columns(X, self._expert_columns),
            "gate_X": take_columns(X, self._gate_columns),
            "names": [
                str(n) for n in take_columns(names[None], self._expert_columns)[0]
            ],
            "gate_names": [
                str(n) for n in take_columns(names[None], self._gate_columns)[0]
            ],
            "targets": targets,
            "labels": targets if classes is None else classes[targets],
            "sample_weight": weights,
        }

    def _expert_X(self, X):
        """The columns of validated X the experts see (``expert_features``)."""
        return take_columns(X, self._expert_columns)

    @dask_method
    def gate_proba(self, X):
        """Gate probabilities: how much each expert is trusted for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts_)
            Rows sum to 1.
        """
        return self._gate_proba(self._validate_X(X, "gate_proba"))

    def _gate_proba(self, X):
        """``gate_proba`` of already validated X."""
        data = self._data(X)
        inputs = data.gate_design if self.gate_.uses_design else data.gate_X
        log_proba = self.gate_.log_proba(inputs, self._kernels)
        return namespace(log_proba).exp(log_proba)

    @dask_method
    def apply(self, X):
        """Index of the most trusted expert for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        experts : ndarray of shape (n_samples,)
            The argmax of ``gate_proba(X)`` along its rows.
        """
        proba = self._gate_proba(self._validate_X(X, "apply"))
        return namespace(proba).argmax(proba, axis=1)

    def _routing(self, X):
        """Gate weights after ``top_k`` routing, (n_samples, n_experts_).

        Gate probabilities, zero outside each sample's ``top_k`` experts and
        renormalised over them.
        """
        if self.top_k is not None and self.top_k > self.n_experts:
            raise ValueError(
                f"top_k={self.top_k} must be at most n_experts={self.n_experts}."
            )
        weights = self._gate_proba(X)
        if self.top_k is not None:
            # top_k >= n_experts_ (experts were removed) keeps them all.
            weights = keep_top(weights, self.top_k)
        return weights

    def _on_device(self):
        """True when the fitted model lives on a device (an array-API fit)."""
        return not is_numpy(self._feature_mean)

    @dask_method
    def log_likelihood(self, X, y):
        """Log-likelihood of each sample, ``log p(y_i | x_i)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,)
            Their targets.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            Its sum on the training data is ``log_likelihood_`` (its sum
            weighted by the ``sample_weight`` of the fit, if one was given).
        """
        log_gate, log_expert, sample_weight = self._log_joint(X, y, "log_likelihood")
        return self._kernels.e_step(log_gate, log_expert, sample_weight)[1]

    def _fitted_engine(self, data):
        """The general engine at the fitted parameters, on ``data``."""
        return GeneralEngine(
            data,
            self.experts_,
            self.gate_,
            self._expert_model(),
            self._family(),
            kernels=self._kernels,
            dispersion=self._fitted_dispersion(),
        )

    def _log_joint(self, X, y, method):
        """``log g_k(x_i)`` and ``log p_k(y_i | x_i)``, (n, K) each, and unit
        sample weights, at the fitted parameters."""
        X = self._validate_X(X, method)
        y = to_device(self._encode_targets(y, X.shape[0]), X)
        engine = self._fitted_engine(self._data(X, y))
        log_gate = self.gate_.log_proba(engine.gate_input, self._kernels)
        return log_gate, engine.log_expert(), engine.data.sample_weight

    def _n_parameters(self):
        """Free parameters: the gate's, the experts' and the family's."""
        return (
            self.gate_.n_parameters
            + sum(expert_n_parameters(expert) for expert in self.experts_)
            + self._family().n_parameters(self.n_experts_)
        )

    def bic(self, X, y):
        """Bayesian information criterion: ``-2 log L + n_params log n``.

        Counts the gate's and the experts' parameters (linear experts only)
        and the family's own (one noise variance per expert for Gaussian
        experts).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,)
            Their targets.

        Returns
        -------
        bic : float
            Lower is better.
        """
        log_likelihood = to_host(self.log_likelihood(X, y))
        return -2 * log_likelihood.sum() + self._n_parameters() * np.log(
            len(log_likelihood)
        )

    def aic(self, X, y):
        """Akaike information criterion: ``-2 log L + 2 n_params``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,)
            Their targets.

        Returns
        -------
        aic : float
            Lower is better.
        """
        log_likelihood = to_host(self.log_likelihood(X, y))
        return -2 * log_likelihood.sum() + 2 * self._n_parameters()

    @dask_method
    def icl(self, X, y):
        """Integrated completed likelihood: BIC penalised by overlapping experts.

        BIC minus twice the log of each sample's largest responsibility. As
        R's flexmix computes it, ``-2 * clogLik + n_params * log n``,
        where the classification log-likelihood ``clogLik`` sums, over the
        samples, ``log g_k(x_i) p_k(y_i | x_i)`` of each sample's most
        responsible expert k: BIC penalised by how much the experts overlap.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,)
            Their targets.

        Returns
        -------
        icl : float
            Lower is better.

        See Also
        --------
        bic : Without the penalty for overlapping experts.
        skmoe.select_n_experts : Choose the number of experts by ICL.
        """
        log_gate, log_expert, _ = self._log_joint(X, y, "icl")
        joint = to_host(log_gate + log_expert)
        classification = np.max(joint, axis=1).sum()
        return -2 * classification + self._n_parameters() * np.log(len(joint))


def expert_n_parameters(expert):
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
