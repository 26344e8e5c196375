"""Checks shared by the gates that speak the EM protocol themselves
(:class:`~skmoe.MLPGate`, :class:`~skmoe.SplineGate`)."""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import _check_sample_weight, check_array


def check_gate_size(n_experts, n_features):
    """``initialize``'s arguments: positive integers (not booleans)."""
    for name, value in (("n_experts", n_experts), ("n_features", n_features)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")


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
