"""What the gates that speak the EM protocol themselves share
(:class:`~skmoe.MLPGate`, :class:`~skmoe.SplineGate`): input checks and the
scikit-learn-style prediction methods."""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import _check_sample_weight, check_array, validate_data


def check_gate_size(n_experts, n_features):
    """``initialize``'s arguments: positive integers (not booleans)."""
    for name, value in (("n_experts", n_experts), ("n_features", n_features)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def initialize_for_fit(gate, X, responsibilities):
    """The first half of a gate's ``fit``: X validated (its feature names
    kept), the gate initialised for the width of the responsibilities.

    Returns
    -------
    X : ndarray of shape (n, n_features)
    """
    X = validate_data(gate, X, reset=True, dtype=np.float64)
    names = getattr(gate, "feature_names_in_", None)
    width = check_array(responsibilities, input_name="responsibilities").shape[1]
    gate.initialize(width, X.shape[1])
    if names is not None:
        gate.feature_names_in_ = names
    return X


def check_soft_targets(X, responsibilities, sample_weight, n_experts):
    """Responsibilities of shape (n, n_experts), non-negative, and weights.

    Returns
    -------
    responsibilities : ndarray of shape (n, n_experts)
    sample_weight : ndarray of shape (n,)
    """
    responsibilities = check_array(
        responsibilities, dtype=np.float64, input_name="responsibilities"
    )
    if responsibilities.shape != (X.shape[0], n_experts):
        raise ValueError(
            f"responsibilities must have shape ({X.shape[0]}, {n_experts}) "
            f"(n_samples, n_experts); got {responsibilities.shape}."
        )
    if np.any(responsibilities < 0):
        raise ValueError("responsibilities must be non-negative.")
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    return responsibilities, sample_weight


def check_keep(keep, n_experts):
    """``keep_experts``'s mask: booleans of shape (n_experts,), one True."""
    keep = np.asarray(keep)
    if keep.dtype != bool or keep.shape != (n_experts,):
        raise ValueError(
            f"keep must be a boolean mask of shape ({n_experts},); got "
            f"dtype {keep.dtype} and shape {keep.shape}."
        )
    if not keep.any():
        raise ValueError("keep must keep at least one expert.")
    return keep


class GateProbaMixin:
    """``predict_log_proba`` and ``predict_proba`` from the gate's
    ``log_proba(X)``."""

    def predict_log_proba(self, X):
        """Predict the log gate probabilities of raw features.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
            Raw features.

        Returns
        -------
        log_proba : ndarray of shape (n, n_experts)
            Rows logsumexp to 0.
        """
        return self.log_proba(X)

    def predict_proba(self, X):
        """Predict the gate probabilities of raw features.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
            Raw features.

        Returns
        -------
        proba : ndarray of shape (n, n_experts)
            Rows sum to 1.
        """
        return np.exp(self.log_proba(X))
