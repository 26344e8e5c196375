"""Which columns the gate and the experts see (``gate_features``,
``expert_features``).

A selection is resolved once per fit, against the training input, to the
indices of the chosen columns; every later method takes those columns of
its (validated) input.
"""

from numbers import Integral

import numpy as np
from scipy import sparse

from ._array_utils import is_numpy, namespace, to_device


def resolve_columns(selection, X, n_features, feature_names, parameter):
    """Column indices of a selection, or None for every column.

    Parameters
    ----------
    selection : None, list of int or str, boolean mask, or callable
        None: every column. Integers: positions (negative ones count from
        the end). Strings: names of the columns of a DataFrame. A boolean
        mask of length ``n_features``. A callable (such as
        ``sklearn.compose.make_column_selector``) is called on ``X`` and
        returns one of the above. An empty list selects no column.
    X : array-like or DataFrame
        The input of ``fit`` as the user gave it (callables read it).
    n_features : int
    feature_names : ndarray of str or None
        ``feature_names_in_`` of the fit.
    parameter : str
        The parameter's name, for error messages.

    Returns
    -------
    columns : ndarray of int or None
    """
    if selection is None:
        return None
    if callable(selection):
        selection = selection(X)
    values = np.asarray(selection)
    if values.ndim != 1:
        raise ValueError(
            f"{parameter} must be a 1-D list of column indices, column names or "
            f"a boolean mask; got an array of shape {values.shape}."
        )
    if values.size == 0:
        return np.zeros(0, dtype=np.intp)
    if values.dtype.kind == "b":
        if len(values) != n_features:
            raise ValueError(
                f"{parameter} as a boolean mask must have one entry per feature "
                f"({n_features}); got {len(values)}."
            )
        return np.flatnonzero(values)
    if values.dtype.kind in "OUS":
        if feature_names is None:
            raise ValueError(
                f"{parameter} names columns ({list(values)}), but X has no column "
                "names: pass a pandas DataFrame, or select columns by index."
            )
        names = list(feature_names)
        missing = [name for name in values if name not in names]
        if missing:
            raise ValueError(
                f"{parameter}: column(s) {missing} not in X, whose columns are {names}."
            )
        return np.array([names.index(name) for name in values], dtype=np.intp)
    if not all(isinstance(value, Integral) for value in values.tolist()):
        raise ValueError(
            f"{parameter} must hold column indices, column names or booleans; "
            f"got {list(values)}."
        )
    out_of_range = [int(v) for v in values if not -n_features <= v < n_features]
    if out_of_range:
        raise ValueError(
            f"{parameter}: index(es) {out_of_range} out of range for X with "
            f"{n_features} features."
        )
    return np.asarray(values, dtype=np.intp) % n_features


def take_columns(X, columns):
    """The chosen columns of validated X (numpy, sparse or array API)."""
    if columns is None:
        return X
    if is_numpy(X) or sparse.issparse(X):
        return X[:, columns]
    return namespace(X).take(X, to_device(columns, X), axis=1)


def same_columns(first, second):
    """Whether two resolved selections (index arrays or None) are the same."""
    if first is None or second is None:
        return first is None and second is None
    return np.array_equal(first, second)
