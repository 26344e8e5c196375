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
def _linear_log_softmax(design, coef, n_blocks):
    n_samples = design.shape[0]
    n_columns = coef.shape[1]
    out = np.empty((n_samples, n_columns))
    for block in prange(n_blocks):
        # A per-block buffer: a view per row would cost reference counting.
        row = np.empty(n_columns)
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            _row_log_softmax(design, coef, i, row)
            for k in range(n_columns):
                out[i, k] = row[k]
    return out


def linear_log_softmax(design, coef):
    return _linear_log_softmax(design, coef, _n_blocks(design.shape[0]))


@numba.njit(**_PARALLEL)
def _e_step(log_gate, log_expert, sample_weight):
    n_samples, n_experts = log_gate.shape
    responsibilities = log_gate  # overwritten in place, as in the numpy twin
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


@numba.njit(**_JIT)
def _packed_outer(design, i, out):
    """``out`` = the lower triangle of ``outer(design[i], design[i])``, packed."""
    n_params = design.shape[1]
    index = 0
    for a in range(n_params):
        value = design[i, a]
        for b in range(a + 1):
            out[index] = value * design[i, b]
            index += 1


def _unpack(packed, n_params):
    """(m, p (p + 1) / 2) packed lower triangles to (m, p, p) symmetric."""
    rows, cols = np.tril_indices(n_params)
    full = np.zeros(packed.shape[:-1] + (n_params, n_params))
    full[..., rows, cols] = packed
    full[..., cols, rows] = packed
    return full


@numba.njit(**_PARALLEL)
def _weighted_normal_equations(design, y, responsibilities, sample_weight, n_blocks):
    n_samples, n_params = design.shape
    n_experts = responsibilities.shape[1]
    n_packed = n_params * (n_params + 1) // 2
    grams = np.zeros((n_blocks, n_experts, n_packed))
    moments = np.zeros((n_blocks, n_experts, n_params))
    for block in prange(n_blocks):
        outer = np.empty(n_packed)
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            if sample_weight[i] == 0.0:
                continue
            _packed_outer(design, i, outer)
            for k in range(n_experts):
                weight = sample_weight[i] * responsibilities[i, k]
                for m in range(n_packed):
                    grams[block, k, m] += weight * outer[m]
                weight *= y[i]
                for a in range(n_params):
                    moments[block, k, a] += weight * design[i, a]
    return grams, moments


def weighted_normal_equations(design, y, responsibilities, sample_weight):
    grams, moments = _weighted_normal_equations(
        design, y, responsibilities, sample_weight, _n_blocks(design.shape[0])
    )
    return _unpack(grams.sum(axis=0), design.shape[1]), moments.sum(axis=0).T


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
def _multinomial_gradient_curvature(
    design, coef, target_proba, row_weight, pairs, n_blocks
):
    n_samples, n_params = design.shape
    n_columns = coef.shape[1]
    n_pairs = pairs.shape[0]
    n_packed = n_params * (n_params + 1) // 2
    value = np.zeros(n_blocks)
    gradient = np.zeros((n_blocks, n_params, n_columns))
    curvature = np.zeros((n_blocks, n_pairs, n_packed))
    for block in prange(n_blocks):
        proba = np.empty(n_columns)
        outer = np.empty(n_packed)
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            weight = row_weight[i]
            if weight == 0.0:
                continue
            _row_log_softmax(design, coef, i, proba)
            _packed_outer(design, i, outer)
            for k in range(n_columns):
                if target_proba[i, k] != 0.0:
                    value[block] += weight * target_proba[i, k] * proba[k]
                proba[k] = math.exp(proba[k])
            for k in range(n_columns):
                residual = weight * (target_proba[i, k] - proba[k])
                for a in range(n_params):
                    gradient[block, a, k] += residual * design[i, a]
            for pair in range(n_pairs):
                k, j = pairs[pair, 0], pairs[pair, 1]
                delta = 1.0 if k == j else 0.0
                factor = weight * proba[k] * (delta - proba[j])
                for m in range(n_packed):
                    curvature[block, pair, m] += factor * outer[m]
    return value, gradient, curvature


def multinomial_gradient_curvature(design, coef, target_proba, row_weight, pairs):
    value, gradient, curvature = _multinomial_gradient_curvature(
        design,
        coef,
        target_proba,
        row_weight,
        np.asarray(pairs, dtype=np.int64).reshape(-1, 2),
        _n_blocks(design.shape[0]),
    )
    return (
        float(value.sum()),
        gradient.sum(axis=0),
        _unpack(curvature.sum(axis=0), design.shape[1]),
    )


# -- one fused pass per EM iteration (linear Gaussian experts, softmax gate) ---

# Rows per block of the fused pass: its per-block partial sums are larger.
_PASS_BLOCK = 4096

# Floating-point contraction (a * b + c as one FMA) only; no reassociation,
# so that results do not depend on how a loop is vectorised.
_PARALLEL_CONTRACT = {**_PARALLEL, "fastmath": {"contract"}}


@numba.njit(**_PARALLEL_CONTRACT)
def _em_pass(
    design,
    y,
    sample_weight,
    gate_coef,
    expert_coef,
    variance,
    previous,
    out,
    update,
    pairs,
    n_blocks,
):
    n_samples, n_params = design.shape
    n_experts = gate_coef.shape[1]
    n_pairs = pairs.shape[0]
    n_packed = n_params * (n_params + 1) // 2
    scalars = np.zeros((n_blocks, 3))
    gradient = np.zeros((n_blocks, n_params, n_experts))
    curvature = np.zeros((n_blocks, n_pairs, n_packed))
    grams = np.zeros((n_blocks, n_experts, n_packed))
    moments = np.zeros((n_blocks, n_params, n_experts))
    sums = np.zeros((n_blocks, 2, n_experts))
    log_norm = np.empty(n_experts)
    half_precision = np.empty(n_experts)
    for k in range(n_experts):
        log_norm[k] = -0.5 * (LOG_2PI + math.log(variance[k]))
        half_precision[k] = 0.5 / variance[k]
    for block in prange(n_blocks):
        log_gate = np.empty(n_experts)
        means = np.empty(n_experts)
        proba = np.empty(n_experts)
        resp = np.empty(n_experts)
        outer = np.empty(n_packed)
        block_gradient = np.zeros((n_params, n_experts))
        block_curvature = np.zeros((n_pairs, n_packed))
        block_grams = np.zeros((n_experts, n_packed))
        block_moments = np.zeros((n_params, n_experts))
        block_sums = np.zeros((2, n_experts))
        log_likelihood = 0.0
        previous_value = 0.0
        value = 0.0
        for i in range(block * _PASS_BLOCK, min((block + 1) * _PASS_BLOCK, n_samples)):
            weight = sample_weight[i]
            target = y[i]
            # Gate logits and expert means: j outer, k inner (contiguous).
            for k in range(n_experts):
                log_gate[k] = 0.0
                means[k] = 0.0
            for j in range(n_params):
                x = design[i, j]
                for k in range(n_experts):
                    log_gate[k] += x * gate_coef[j, k]
                    means[k] += x * expert_coef[j, k]
            largest = -np.inf
            for k in range(n_experts):
                largest = max(largest, log_gate[k])
            if not math.isfinite(largest):
                largest = 0.0
            total = 0.0
            for k in range(n_experts):
                proba[k] = math.exp(log_gate[k] - largest)
                total += proba[k]
            shift = largest + math.log(total)
            for k in range(n_experts):
                log_gate[k] -= shift
                proba[k] /= total
            if update:
                row_value = 0.0
                for k in range(n_experts):
                    if previous[i, k] != 0.0:
                        row_value += previous[i, k] * log_gate[k]
                previous_value += weight * row_value
                largest = -np.inf
                for k in range(n_experts):
                    residual = target - means[k]
                    resp[k] = (
                        log_gate[k]
                        + log_norm[k]
                        - half_precision[k] * residual * residual
                    )
                    largest = max(largest, resp[k])
                if not math.isfinite(largest):
                    largest = 0.0
                total = 0.0
                for k in range(n_experts):
                    resp[k] = math.exp(resp[k] - largest)
                    total += resp[k]
                for k in range(n_experts):
                    resp[k] /= total
                    out[i, k] = resp[k]
                log_likelihood += weight * (largest + math.log(total))
            else:
                for k in range(n_experts):
                    resp[k] = previous[i, k]
            if weight == 0.0:
                continue
            row_value = 0.0
            for k in range(n_experts):
                if resp[k] != 0.0:
                    row_value += resp[k] * log_gate[k]
            value += weight * row_value
            index = 0
            for a in range(n_params):
                x = design[i, a]
                for b in range(a + 1):
                    outer[index] = x * design[i, b]
                    index += 1
            for j in range(n_params):
                x = weight * design[i, j]
                x_target = x * target
                for k in range(n_experts):
                    block_gradient[j, k] += x * (resp[k] - proba[k])
                    block_moments[j, k] += x_target * resp[k]
            for k in range(n_experts):
                share = weight * resp[k]
                block_sums[0, k] += share * target * target
                block_sums[1, k] += share
                for m in range(n_packed):
                    block_grams[k, m] += share * outer[m]
            for pair in range(n_pairs):
                k, j = pairs[pair, 0], pairs[pair, 1]
                delta = 1.0 if k == j else 0.0
                factor = weight * proba[k] * (delta - proba[j])
                for m in range(n_packed):
                    block_curvature[pair, m] += factor * outer[m]
        scalars[block, 0] = log_likelihood
        scalars[block, 1] = previous_value
        scalars[block, 2] = value
        gradient[block] = block_gradient
        curvature[block] = block_curvature
        grams[block] = block_grams
        moments[block] = block_moments
        sums[block] = block_sums
    return scalars, gradient, curvature, grams, moments, sums


def em_pass(
    design, y, sample_weight, gate_coef, expert_coef, variance, previous, out, pairs
):
    update = out is not None
    scalars, gradient, curvature, grams, moments, sums = _em_pass(
        design,
        y,
        sample_weight,
        gate_coef,
        expert_coef,
        variance,
        previous,
        out if update else previous[:0],
        update,
        np.asarray(pairs, dtype=np.int64).reshape(-1, 2),
        max(1, -(-design.shape[0] // _PASS_BLOCK)),
    )
    scalars = scalars.sum(axis=0)
    sums = sums.sum(axis=0)
    n_params = design.shape[1]
    return (
        float(scalars[0]),
        float(scalars[1]),
        float(scalars[2]),
        gradient.sum(axis=0),
        _unpack(curvature.sum(axis=0), n_params),
        _unpack(grams.sum(axis=0), n_params),
        moments.sum(axis=0),
        sums[0],
        sums[1],
    )
