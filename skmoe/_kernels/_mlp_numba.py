"""Numba twins of ``_mlp_xp.py``: the neural gate, one row at a time.

Each function takes and returns what its twin in ``_mlp_xp.py`` does; the
tests assert that they agree. Rows are processed in parallel blocks, a block
through the whole network at once in (units, block) buffers with the rows
innermost (so the loops vectorise), so no (n, hidden) array is ever held
and the features are standardised on the fly. Sums over
rows go to one partial result per block, added up in block order at the
end, so the result does not depend on the number of threads.
"""

import math

import numba
import numpy as np
from numba import prange

from ._mlp_xp import ACTIVATIONS, MLPObjective, add_penalty, n_params
from ._tiles import JIT, PARALLEL

# Rows per block of the parallel loops: a row costs a whole forward (and
# backward) pass, so blocks are smaller than those of the linear kernels.
_BLOCK = 256


def _n_blocks(n_samples):
    return max(1, -(-n_samples // _BLOCK))


def _offsets(layer_sizes):
    """Start of each layer's units in a row's buffer, of its parameters in params."""
    sizes = np.asarray(layer_sizes, dtype=np.int64)
    unit_offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    param_sizes = (sizes[:-1] + 1) * sizes[1:]
    param_offsets = np.concatenate([[0], np.cumsum(param_sizes)[:-1]]).astype(np.int64)
    return sizes, unit_offsets, param_offsets


def _check(params, layer_sizes, activation):
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {ACTIVATIONS}; got {activation!r}."
        )
    if params.shape != (n_params(layer_sizes),):
        raise ValueError(
            f"params has shape {params.shape}; layer sizes {tuple(layer_sizes)} "
            f"need ({n_params(layer_sizes)},)."
        )


# Sums along the rows of a block may be reassociated (vectorised); the
# result stays the same for any number of threads, block by block.
_BLOCK_MATH = {"fastmath": {"contract", "reassoc"}}


@numba.njit(**JIT, **_BLOCK_MATH)
def _forward_block(
    X, start, rows, mean, scale, params, sizes, unit_offsets, param_offsets, relu, acts
):
    """Fill ``acts`` (units, _BLOCK) with the activations of rows
    ``start:start + rows``: input, hidden layers, log softmax; rows innermost.
    """
    n_layers = sizes.shape[0] - 1
    for j in range(sizes[0]):
        for r in range(rows):
            acts[j, r] = (X[start + r, j] - mean[j]) / scale[j]
    for layer in range(n_layers):
        fan_in, fan_out = sizes[layer], sizes[layer + 1]
        inputs, outputs = unit_offsets[layer], unit_offsets[layer + 1]
        weights = param_offsets[layer]
        intercepts = weights + fan_in * fan_out
        for h in range(fan_out):
            unit = outputs + h
            intercept = params[intercepts + h]
            for r in range(rows):
                acts[unit, r] = intercept
            for j in range(fan_in):
                weight = params[weights + j * fan_out + h]
                for r in range(rows):
                    acts[unit, r] += weight * acts[inputs + j, r]
            if layer < n_layers - 1 and relu:
                for r in range(rows):
                    acts[unit, r] = max(acts[unit, r], 0.0)
            elif layer < n_layers - 1:
                for r in range(rows):
                    acts[unit, r] = math.tanh(acts[unit, r])
    output, n_outputs = unit_offsets[n_layers], sizes[n_layers]
    for r in range(rows):
        largest = -np.inf
        for k in range(n_outputs):
            largest = max(largest, acts[output + k, r])
        if not math.isfinite(largest):
            largest = 0.0
        total = 0.0
        for k in range(n_outputs):
            total += math.exp(acts[output + k, r] - largest)
        shift = largest + math.log(total)
        for k in range(n_outputs):
            acts[output + k, r] -= shift


@numba.njit(**PARALLEL)
def _log_softmax_blocks(
    X, mean, scale, params, sizes, unit_offsets, param_offsets, relu, n_blocks
):
    n_samples = X.shape[0]
    n_layers = sizes.shape[0] - 1
    n_outputs = sizes[n_layers]
    output = unit_offsets[n_layers]
    out = np.empty((n_samples, n_outputs))
    for block in prange(n_blocks):
        acts = np.empty((output + n_outputs, _BLOCK))
        start = block * _BLOCK
        rows = min(_BLOCK, n_samples - start)
        _forward_block(
            X,
            start,
            rows,
            mean,
            scale,
            params,
            sizes,
            unit_offsets,
            param_offsets,
            relu,
            acts,
        )
        for r in range(rows):
            for k in range(n_outputs):
                out[start + r, k] = acts[output + k, r]
    return out


def mlp_log_softmax(X, mean, scale, params, layer_sizes, activation):
    """Log-probabilities of the network's softmax output, shape (n, n_outputs).

    The twin of :func:`skmoe._kernels._mlp_xp.mlp_log_softmax`; same
    parameters and result.
    """
    _check(params, layer_sizes, activation)
    return _log_softmax_blocks(
        X,
        mean,
        scale,
        params,
        *_offsets(layer_sizes),
        activation == "relu",
        _n_blocks(X.shape[0]),
    )


@numba.njit(**JIT, **_BLOCK_MATH)
def _backward_block(
    rows, params, sizes, unit_offsets, param_offsets, relu, acts, delta, spare, gradient
):
    """Add the block's gradient to ``gradient``, from ``delta`` (d value / d
    logits, shape (width, _BLOCK)); ``delta`` and ``spare`` are overwritten.
    """
    for layer in range(sizes.shape[0] - 2, -1, -1):
        fan_in, fan_out = sizes[layer], sizes[layer + 1]
        inputs = unit_offsets[layer]
        weights = param_offsets[layer]
        intercepts = weights + fan_in * fan_out
        for h in range(fan_out):
            total = 0.0
            for r in range(rows):
                total += delta[h, r]
            gradient[intercepts + h] += total
            for j in range(fan_in):
                total = 0.0
                for r in range(rows):
                    total += acts[inputs + j, r] * delta[h, r]
                gradient[weights + j * fan_out + h] += total
        if layer == 0:
            break
        for j in range(fan_in):
            for r in range(rows):
                spare[j, r] = 0.0
            for h in range(fan_out):
                weight = params[weights + j * fan_out + h]
                for r in range(rows):
                    spare[j, r] += weight * delta[h, r]
        # Only once every input's sum is made: they all read delta.
        for j in range(fan_in):
            unit = inputs + j
            if relu:
                for r in range(rows):
                    delta[j, r] = spare[j, r] if acts[unit, r] > 0.0 else 0.0
            else:
                for r in range(rows):
                    delta[j, r] = spare[j, r] * (1.0 - acts[unit, r] * acts[unit, r])


@numba.njit(**PARALLEL)
def _objective_blocks(
    X,
    mean,
    scale,
    params,
    sizes,
    unit_offsets,
    param_offsets,
    relu,
    targets,
    row_weight,
    n_blocks,
):
    n_samples = X.shape[0]
    n_layers = sizes.shape[0] - 1
    n_outputs = sizes[n_layers]
    output = unit_offsets[n_layers]
    width = 0
    for size in sizes:
        width = max(width, size)
    values = np.zeros(n_blocks)
    gradients = np.zeros((n_blocks, params.shape[0]))
    for block in prange(n_blocks):
        acts = np.empty((output + n_outputs, _BLOCK))
        delta = np.empty((width, _BLOCK))
        spare = np.empty((width, _BLOCK))
        start = block * _BLOCK
        rows = min(_BLOCK, n_samples - start)
        _forward_block(
            X,
            start,
            rows,
            mean,
            scale,
            params,
            sizes,
            unit_offsets,
            param_offsets,
            relu,
            acts,
        )
        value = 0.0
        for r in range(rows):
            weight = row_weight[start + r]
            if weight == 0.0:
                for k in range(n_outputs):
                    delta[k, r] = 0.0
                continue
            row_value = 0.0
            target_total = 0.0
            for k in range(n_outputs):
                target = targets[start + r, k]
                row_value += target * acts[output + k, r]
                target_total += target
            value += weight * row_value
            for k in range(n_outputs):
                delta[k, r] = weight * (
                    targets[start + r, k] - math.exp(acts[output + k, r]) * target_total
                )
        values[block] = value
        _backward_block(
            rows,
            params,
            sizes,
            unit_offsets,
            param_offsets,
            relu,
            acts,
            delta,
            spare,
            gradients[block],
        )
    return values, gradients


def mlp_objective(
    X, mean, scale, params, layer_sizes, activation, targets, row_weight, alpha
):
    """Penalised weighted soft-target log-likelihood and its gradient.

    The twin of :func:`skmoe._kernels._mlp_xp.mlp_objective`; same
    parameters, returns an :class:`~skmoe._kernels._mlp_xp.MLPObjective`.
    """
    _check(params, layer_sizes, activation)
    values, gradients = _objective_blocks(
        X,
        mean,
        scale,
        params,
        *_offsets(layer_sizes),
        activation == "relu",
        targets,
        row_weight,
        _n_blocks(X.shape[0]),
    )
    return add_penalty(values.sum(), gradients.sum(axis=0), params, layer_sizes, alpha)


__all__ = ["MLPObjective", "mlp_log_softmax", "mlp_objective"]
