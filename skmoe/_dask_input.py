"""Dask input: conversion and checks of the arrays a fit or a method takes.

Dask is imported when a function here is called, never at ``import skmoe``.
"""

import numpy as np

from ._dask import is_dask_collection
from ._init import check_initial_responsibilities


def as_dask_matrix(X, method="fit"):
    """X as a 2-D float64 dask array with one chunk of columns, and its
    feature names (None unless X is a dask DataFrame)."""
    import dask.array as da

    names = None
    if hasattr(X, "to_dask_array"):  # a dask DataFrame
        names = np.asarray(X.columns, dtype=object)
        bad = [name for name, dtype in X.dtypes.items() if not _numeric(dtype)]
        if bad:
            raise TypeError(
                f"{method} on a dask DataFrame takes numeric columns only; "
                f"{bad} are not."
            )
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(
            f"{method} takes dask arrays and DataFrames (or numpy input); got "
            f"{type(X).__name__}."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D dask array of shape (n_samples, n_features), got "
            f"shape {X.shape}."
        )
    if not _numeric(X.dtype):
        raise TypeError(f"X must be numeric; got a dask array of dtype {X.dtype}.")
    if any(np.isnan(size) for size in X.chunks[0]):
        X = X.compute_chunk_sizes()
    return X.astype(np.float64).rechunk({1: -1}), names


def as_dask_vector(values, X, name):
    """A 1-D float64 dask array with the row chunks of X (None stays None)."""
    import dask.array as da

    if values is None:
        return None
    if hasattr(values, "to_dask_array"):  # a dask Series or DataFrame
        values = values.to_dask_array(lengths=True)
    if not isinstance(values, da.Array):
        values = np.asarray(values)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        values = da.from_array(values, chunks=values.shape or 1)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {values.shape}.")
    if not _numeric(values.dtype):
        raise TypeError(f"{name} must be numeric; got dtype {values.dtype}.")
    if any(np.isnan(size) for size in values.chunks[0]):
        values = values.compute_chunk_sizes()
    if values.shape[0] != X.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} samples but {name} has {values.shape[0]}."
        )
    return values.astype(np.float64).rechunk((X.chunks[0],))


def _numeric(dtype):
    return np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_)


def initial_chunks(init, data, n_experts):
    """``init`` responsibilities as a dask array persisted with the data's row
    chunks (sent to the workers once), validated and normalised.

    ``init`` is a numpy array (checked on the client) or a dask array
    (checked on the workers).
    """
    import dask
    import dask.array as da

    if not is_dask_collection(init):
        init = da.from_array(
            check_initial_responsibilities(init, data.n_samples, n_experts),
            chunks=(data.row_chunks, (n_experts,)),
        )
        return init.persist()
    init = as_dask_matrix(init, "fit")[0]
    if init.shape != (data.n_samples, n_experts):
        raise ValueError(
            "init given as an array must be the initial responsibilities, of "
            f"shape (n_samples, n_experts) = ({data.n_samples}, {n_experts}); "
            f"got shape {init.shape}."
        )
    totals = init.sum(axis=1)
    negative, empty = dask.compute(
        (~(da.isfinite(init) & (init >= 0))).sum(), (totals <= 0).sum()
    )
    if negative:
        raise ValueError("init responsibilities must be finite and non-negative.")
    if empty:
        raise ValueError("each row of the init responsibilities needs a positive sum.")
    return (init / totals[:, None]).rechunk((data.row_chunks, (n_experts,))).persist()
