"""Numba kernels of the EM loop: the functions of ``_xp.py``, fused and parallel.

Each function takes and returns what its twin in ``_xp.py`` does; the tests
assert that they agree. Loops run in parallel over blocks of rows; sums over
rows go to one partial result per block, added up at the end, so the result
does not depend on the number of threads. Compiled once per machine
(``cache=True``), not once per fit.
"""

import math

import numba
import numpy as np
from numba import prange

from ._xp import LOG_2PI

_JIT = {"cache": True, "nogil": True}
_PARALLEL = {"cache": True, "nogil": True, "parallel": True}

# Rows per block of the parallel reductions.
_BLOCK = 1024


@numba.njit(**_JIT)
def _row_log_softmax(design, coef, i, out):
    """``out[:] = log softmax(design[i] @ coef)``."""
    n_params, n_columns = coef.shape
    largest = -np.inf
    for k in range(n_columns):
        value = 0.0
        for j in range(n_params):
            value += design[i, j] * coef[j, k]
        out[k] = value
        largest = max(largest, value)
    if not math.isfinite(largest):
        largest = 0.0
    total = 0.0
    for k in range(n_columns):
        total += math.exp(out[k] - largest)
    shift = largest + math.log(total)
    for k in range(n_columns):
        out[k] -= shift


@numba.njit(**_PARALLEL)
def linear_log_softmax(design, coef):
    n_samples = design.shape[0]
    out = np.empty((n_samples, coef.shape[1]))
    for i in prange(n_samples):
        _row_log_softmax(design, coef, i, out[i])
    return out


@numba.njit(**_JIT)
def log_softmax(logits):
    out = np.empty_like(logits)
    n_samples, n_columns = logits.shape
    for i in range(n_samples):
        largest = -np.inf
        for k in range(n_columns):
            largest = max(largest, logits[i, k])
        if not math.isfinite(largest):
            largest = 0.0
        total = 0.0
        for k in range(n_columns):
            total += math.exp(logits[i, k] - largest)
        shift = largest + math.log(total)
        for k in range(n_columns):
            out[i, k] = logits[i, k] - shift
    return out


@numba.njit(**_PARALLEL)
def _e_step(log_gate, log_expert, sample_weight):
    n_samples, n_experts = log_gate.shape
    responsibilities = np.empty((n_samples, n_experts))
    log_likelihood = np.empty(n_samples)
    for i in prange(n_samples):
        largest = -np.inf
        for k in range(n_experts):
            joint = log_gate[i, k] + log_expert[i, k]
            responsibilities[i, k] = joint
            largest = max(largest, joint)
        if not math.isfinite(largest):
            largest = 0.0
        total = 0.0
        for k in range(n_experts):
            value = math.exp(responsibilities[i, k] - largest)
            responsibilities[i, k] = value
            total += value
        for k in range(n_experts):
            responsibilities[i, k] /= total
        log_likelihood[i] = largest + math.log(total)
    return responsibilities, log_likelihood


def e_step(log_gate, log_expert, sample_weight):
    responsibilities, log_likelihood = _e_step(log_gate, log_expert, sample_weight)
    return responsibilities, log_likelihood, float(sample_weight @ log_likelihood)


def _n_blocks(n_samples):
    return max(1, -(-n_samples // _BLOCK))


@numba.njit(**_PARALLEL)
def _weighted_grams(design, responsibilities, sample_weight, n_blocks):
    n_samples, n_params = design.shape
    n_experts = responsibilities.shape[1]
    partial = np.zeros((n_blocks, n_experts, n_params, n_params))
    for block in prange(n_blocks):
        gram = partial[block]
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            for k in range(n_experts):
                weight = sample_weight[i] * responsibilities[i, k]
                if weight == 0.0:
                    continue
                for a in range(n_params):
                    weighted = weight * design[i, a]
                    for b in range(a + 1):
                        gram[k, a, b] += weighted * design[i, b]
    return partial


def _symmetric_sum(partial):
    total = partial.sum(axis=0)
    lower = np.tril(total)
    return lower + np.swapaxes(np.tril(total, -1), -1, -2)


def weighted_grams(design, responsibilities, sample_weight):
    partial = _weighted_grams(
        design, responsibilities, sample_weight, _n_blocks(design.shape[0])
    )
    return _symmetric_sum(partial)


@numba.njit(**_PARALLEL)
def _gaussian_residual_sums(design, coef, y, responsibilities, sample_weight, n_blocks):
    n_samples, n_params = design.shape
    n_experts = coef.shape[1]
    partial = np.zeros((n_blocks, n_experts))
    for block in prange(n_blocks):
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            for k in range(n_experts):
                mean = 0.0
                for j in range(n_params):
                    mean += design[i, j] * coef[j, k]
                residual = y[i] - mean
                partial[block, k] += (
                    sample_weight[i] * responsibilities[i, k] * residual * residual
                )
    return partial


def gaussian_residual_sums(design, coef, y, responsibilities, sample_weight):
    partial = _gaussian_residual_sums(
        design, coef, y, responsibilities, sample_weight, _n_blocks(design.shape[0])
    )
    return partial.sum(axis=0)


@numba.njit(**_PARALLEL)
def gaussian_log_density(design, coef, y, variance):
    n_samples, n_params = design.shape
    n_experts = coef.shape[1]
    out = np.empty((n_samples, n_experts))
    log_norm = np.empty(n_experts)
    for k in range(n_experts):
        log_norm[k] = LOG_2PI + math.log(variance[k])
    for i in prange(n_samples):
        for k in range(n_experts):
            mean = 0.0
            for j in range(n_params):
                mean += design[i, j] * coef[j, k]
            residual = y[i] - mean
            out[i, k] = -0.5 * (log_norm[k] + residual * residual / variance[k])
    return out


@numba.njit(**_PARALLEL)
def _multinomial_fit(design, coef, target_proba, row_weight, n_blocks):
    n_samples = design.shape[0]
    n_columns = coef.shape[1]
    partial = np.zeros(n_blocks)
    for block in prange(n_blocks):
        log_proba = np.empty(n_columns)
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            if row_weight[i] == 0.0:
                continue
            _row_log_softmax(design, coef, i, log_proba)
            value = 0.0
            for k in range(n_columns):
                if target_proba[i, k] != 0.0:
                    value += target_proba[i, k] * log_proba[k]
            partial[block] += row_weight[i] * value
    return partial


def multinomial_objective(design, coef, target_proba, row_weight, penalty):
    partial = _multinomial_fit(
        design, coef, target_proba, row_weight, _n_blocks(design.shape[0])
    )
    return float(partial.sum() - 0.5 * penalty @ np.sum(coef**2, axis=1))


@numba.njit(**_PARALLEL)
def _multinomial_gradient_blocks(design, coef, target_proba, row_weight, n_blocks):
    n_samples, n_params = design.shape
    n_columns = coef.shape[1]
    gradient = np.zeros((n_blocks, n_params, n_columns))
    blocks = np.zeros((n_blocks, n_columns, n_params, n_params))
    for block in prange(n_blocks):
        proba = np.empty(n_columns)
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            weight = row_weight[i]
            if weight == 0.0:
                continue
            _row_log_softmax(design, coef, i, proba)
            for k in range(n_columns):
                proba[k] = math.exp(proba[k])
            for k in range(n_columns):
                residual = weight * (target_proba[i, k] - proba[k])
                curvature = weight * proba[k] * (1.0 - proba[k])
                for a in range(n_params):
                    gradient[block, a, k] += residual * design[i, a]
                    weighted = curvature * design[i, a]
                    for b in range(a + 1):
                        blocks[block, k, a, b] += weighted * design[i, b]
    return gradient, blocks


def multinomial_gradient_blocks(design, coef, target_proba, row_weight):
    gradient, blocks = _multinomial_gradient_blocks(
        design, coef, target_proba, row_weight, _n_blocks(design.shape[0])
    )
    return gradient.sum(axis=0), _symmetric_sum(blocks)


@numba.njit(**_PARALLEL)
def _multinomial_hessian(design, coef, row_weight, columns, n_blocks):
    n_samples, n_params = design.shape
    n_columns = coef.shape[1]
    n_free = len(columns)
    size = n_free * n_params
    partial = np.zeros((n_blocks, size, size))
    for block in prange(n_blocks):
        proba = np.empty(n_columns)
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            weight = row_weight[i]
            if weight == 0.0:
                continue
            _row_log_softmax(design, coef, i, proba)
            for k in range(n_columns):
                proba[k] = math.exp(proba[k])
            for fa in range(n_free):
                k = columns[fa]
                for fb in range(fa + 1):
                    j = columns[fb]
                    curvature = (
                        weight * proba[k] * ((1.0 if k == j else 0.0) - proba[j])
                    )
                    for a in range(n_params):
                        weighted = curvature * design[i, a]
                        row = fa * n_params + a
                        for b in range(n_params):
                            partial[block, row, fb * n_params + b] += (
                                weighted * design[i, b]
                            )
    return partial


def multinomial_hessian(design, coef, row_weight, columns):
    partial = _multinomial_hessian(
        design,
        coef,
        row_weight,
        np.asarray(columns, dtype=np.int64),
        _n_blocks(design.shape[0]),
    )
    total = partial.sum(axis=0)
    # Blocks were filled for fb <= fa: mirror the lower block triangle.
    n_params = design.shape[1]
    n_free = len(columns)
    for fa in range(n_free):
        for fb in range(fa):
            rows = slice(fa * n_params, (fa + 1) * n_params)
            cols = slice(fb * n_params, (fb + 1) * n_params)
            total[cols, rows] = total[rows, cols].T
    return total
