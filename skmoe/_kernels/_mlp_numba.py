"""Numba twins of ``_mlp_xp.py``: the neural gate, one row at a time.

Each function takes and returns what its twin in ``_mlp_xp.py`` does; the
tests assert that they agree. Rows are processed in parallel blocks, each
row through the whole network with small per-block buffers, so no (n, hidden)
array is ever held and the features are standardised on the fly. Sums over
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


@numba.njit(**JIT)
def _forward_row(
    X, i, mean, scale, params, sizes, unit_offsets, param_offsets, relu, units
):
    """Fill ``units`` with row i's activations: input, hidden layers, log softmax."""
    n_layers = sizes.shape[0] - 1
    for j in range(sizes[0]):
        units[j] = (X[i, j] - mean[j]) / scale[j]
    for layer in range(n_layers):
        fan_in, fan_out = sizes[layer], sizes[layer + 1]
        inputs, outputs = unit_offsets[layer], unit_offsets[layer + 1]
        weights = param_offsets[layer]
        intercepts = weights + fan_in * fan_out
        for h in range(fan_out):
            value = 0.0
            for j in range(fan_in):
                value += units[inputs + j] * params[weights + j * fan_out + h]
            value += params[intercepts + h]
            if layer < n_layers - 1:
                value = max(value, 0.0) if relu else math.tanh(value)
            units[outputs + h] = value
    output = unit_offsets[n_layers]
    largest = -np.inf
    for k in range(sizes[n_layers]):
        largest = max(largest, units[output + k])
    if not math.isfinite(largest):
        largest = 0.0
    total = 0.0
    for k in range(sizes[n_layers]):
        units[output + k] -= largest
        total += math.exp(units[output + k])
    log_total = math.log(total)
    for k in range(sizes[n_layers]):
        units[output + k] -= log_total


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
        units = np.empty(unit_offsets[n_layers] + n_outputs)
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            _forward_row(
                X,
                i,
                mean,
                scale,
                params,
                sizes,
                unit_offsets,
                param_offsets,
                relu,
                units,
            )
            for k in range(n_outputs):
                out[i, k] = units[output + k]
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


@numba.njit(**JIT)
def _backward_row(
    params, sizes, unit_offsets, param_offsets, relu, units, delta, spare, gradient
):
    """Add row i's gradient to ``gradient``, from ``delta`` = d value / d logits.

    ``delta`` and ``spare`` are buffers as wide as the widest layer; both are
    overwritten.
    """
    for layer in range(sizes.shape[0] - 2, -1, -1):
        fan_in, fan_out = sizes[layer], sizes[layer + 1]
        inputs = unit_offsets[layer]
        weights = param_offsets[layer]
        intercepts = weights + fan_in * fan_out
        for j in range(fan_in):
            unit = units[inputs + j]
            for h in range(fan_out):
                gradient[weights + j * fan_out + h] += unit * delta[h]
        for h in range(fan_out):
            gradient[intercepts + h] += delta[h]
        if layer == 0:
            break
        for j in range(fan_in):
            unit = units[inputs + j]
            total = 0.0
            for h in range(fan_out):
                total += params[weights + j * fan_out + h] * delta[h]
            if relu:
                spare[j] = total if unit > 0.0 else 0.0
            else:
                spare[j] = total * (1.0 - unit * unit)
        for j in range(fan_in):
            delta[j] = spare[j]


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
        units = np.empty(output + n_outputs)
        delta = np.empty(width)
        spare = np.empty(width)
        gradient = gradients[block]
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            weight = row_weight[i]
            if weight == 0.0:
                continue
            _forward_row(
                X,
                i,
                mean,
                scale,
                params,
                sizes,
                unit_offsets,
                param_offsets,
                relu,
                units,
            )
            value = 0.0
            target_total = 0.0
            for k in range(n_outputs):
                value += targets[i, k] * units[output + k]
                target_total += targets[i, k]
            values[block] += weight * value
            for k in range(n_outputs):
                delta[k] = weight * (
                    targets[i, k] - math.exp(units[output + k]) * target_total
                )
            _backward_row(
                params,
                sizes,
                unit_offsets,
                param_offsets,
                relu,
                units,
                delta,
                spare,
                gradient,
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
