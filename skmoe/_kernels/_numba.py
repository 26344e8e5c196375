"""Numba kernels of the EM loop: the functions of ``_xp.py``, fused and parallel.

Each function takes and returns what its twin in ``_xp.py`` does; the tests
assert that they agree. Loops run in parallel over blocks of rows; sums over
rows go to one partial result per block, added up at the end, so the result
does not depend on the number of threads. Compiled once per machine
(``cache=True``), not once per fit.
"""

import functools
import math

import numba
import numpy as np
from numba import prange

from ._tiles import (
    JIT,
    PARALLEL,
    PARALLEL_CONTRACT,
    PASS_BLOCK,
    TILE,
    add_weighted_gram,
    dot,
    load_tile,
    store_tile,
    sum_in_order,
    tile_e_step,
    tile_expert_fit,
    tile_irls,
    tile_log_sum_exp,
    tile_product,
)
from ._xp import PASS_FAMILIES, PassStatistics, expert_terms, pass_log_target

# Rows per block of the parallel reductions.
_BLOCK = 1024


@numba.njit(**JIT)
def _log_sum_exp(values, exps):
    """``log sum exp(values)`` of a 1-D array, stable for any magnitude.

    ``exps`` gets ``exp(values - largest)``, and the sum of those is returned
    too: the one guarded log-sum-exp of the row kernels (a largest value
    that is not finite counts as 0, so rows of -inf give -inf, not NaN).
    """
    largest = -np.inf
    for k in range(values.shape[0]):
        largest = max(largest, values[k])
    if not math.isfinite(largest):
        largest = 0.0
    total = 0.0
    for k in range(values.shape[0]):
        exps[k] = math.exp(values[k] - largest)
        total += exps[k]
    return largest + math.log(total), total


@numba.njit(**JIT)
def _row_log_softmax(design, coef, i, out, scratch):
    """``out[:] = log softmax(design[i] @ coef)`` (``scratch``: K floats)."""
    n_params, n_columns = coef.shape
    for k in range(n_columns):
        value = 0.0
        for j in range(n_params):
            value += design[i, j] * coef[j, k]
        out[k] = value
    shift, _ = _log_sum_exp(out, scratch)
    for k in range(n_columns):
        out[k] -= shift


@numba.njit(**PARALLEL)
def _linear_log_softmax(design, coef, n_blocks):
    n_samples = design.shape[0]
    n_columns = coef.shape[1]
    out = np.empty((n_samples, n_columns))
    for block in prange(n_blocks):
        # A per-block buffer: a view per row would cost reference counting.
        row = np.empty(n_columns)
        scratch = np.empty(n_columns)
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            _row_log_softmax(design, coef, i, row, scratch)
            for k in range(n_columns):
                out[i, k] = row[k]
    return out


def linear_log_softmax(design, coef):
    """``log softmax(design @ coef)``, (n, K); twin of ``_xp.linear_log_softmax``."""
    return _linear_log_softmax(design, coef, _n_blocks(design.shape[0]))


@numba.njit(**PARALLEL)
def _e_step(log_gate, log_expert, n_blocks):
    n_samples, n_experts = log_gate.shape
    responsibilities = log_gate  # overwritten in place, as in the numpy twin
    log_likelihood = np.empty(n_samples)
    for block in prange(n_blocks):
        joint = np.empty(n_experts)
        exps = np.empty(n_experts)
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            for k in range(n_experts):
                joint[k] = log_gate[i, k] + log_expert[i, k]
            log_likelihood[i], total = _log_sum_exp(joint, exps)
            for k in range(n_experts):
                responsibilities[i, k] = exps[k] / total
    return responsibilities, log_likelihood


def e_step(log_gate, log_expert, sample_weight):
    """Responsibilities (over ``log_gate``), per-sample and total log-likelihood;
    twin of ``_xp.e_step``."""
    responsibilities, log_likelihood = _e_step(
        log_gate, log_expert, _n_blocks(log_gate.shape[0])
    )
    return responsibilities, log_likelihood, float(sample_weight @ log_likelihood)


def _n_blocks(n_samples):
    return max(1, -(-n_samples // _BLOCK))


@functools.lru_cache
def _tril_indices(n_params):
    return np.tril_indices(n_params)


def _unpack(packed, n_params):
    """(m, p (p + 1) / 2) packed lower triangles to (m, p, p) symmetric."""
    rows, cols = _tril_indices(n_params)
    full = np.zeros(packed.shape[:-1] + (n_params, n_params))
    full[..., rows, cols] = packed
    full[..., cols, rows] = packed
    return full


@numba.njit(**PARALLEL)
def _multinomial_fit(design, coef, target_proba, row_weight, n_blocks):
    n_samples = design.shape[0]
    n_columns = coef.shape[1]
    partial = np.zeros(n_blocks)
    for block in prange(n_blocks):
        log_proba = np.empty(n_columns)
        scratch = np.empty(n_columns)
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            if row_weight[i] == 0.0:
                continue
            _row_log_softmax(design, coef, i, log_proba, scratch)
            value = 0.0
            for k in range(n_columns):
                if target_proba[i, k] != 0.0:
                    value += target_proba[i, k] * log_proba[k]
            partial[block] += row_weight[i] * value
    return partial


def multinomial_objective(design, coef, target_proba, row_weight, penalty):
    """Penalised soft-target log-likelihood of a multinomial logit; twin of
    ``_xp.multinomial_objective``."""
    partial = _multinomial_fit(
        design, coef, target_proba, row_weight, _n_blocks(design.shape[0])
    )
    return float(partial.sum() - 0.5 * penalty @ np.sum(coef**2, axis=1))


# -- tiled kernels: the fused pass and the multinomial curvature -------------
#
# Their tile primitives (and why they are tiled) are in ``_tiles.py``.


@numba.njit(**PARALLEL_CONTRACT)
def _weighted_normal_equations(design, y, responsibilities, sample_weight, n_blocks):
    # Tiled: the Gram matrices of [design, y] (moments in their last row) as
    # dot products along the tile, as in the fused pass.
    n_samples, n_params = design.shape
    n_experts = responsibilities.shape[1]
    n_augmented = (n_params + 1) * (n_params + 2) // 2
    grams = np.zeros((n_blocks, n_experts, n_augmented))
    for block in prange(n_blocks):
        features = np.empty((n_params + 1, TILE))
        shares = np.empty(TILE)
        scaled = np.empty(TILE)
        block_grams = np.zeros((n_experts, n_augmented))
        block_end = min((block + 1) * PASS_BLOCK, n_samples)
        for start in range(block * PASS_BLOCK, block_end, TILE):
            size = min(TILE, block_end - start)
            load_tile(design, start, size, features)
            for t in range(size):
                features[n_params, t] = y[start + t]
            for k in range(n_experts):
                for t in range(size):
                    shares[t] = (
                        sample_weight[start + t] * responsibilities[start + t, k]
                    )
                add_weighted_gram(
                    block_grams[k], shares, features, n_params + 1, size, scaled
                )
        grams[block] = block_grams
    return grams


def weighted_normal_equations(design, y, responsibilities, sample_weight):
    """The K weighted Gram matrices (K, p, p) and moments (p, K); twin of
    ``_xp.weighted_normal_equations``."""
    grams = _weighted_normal_equations(
        design,
        y,
        responsibilities,
        sample_weight,
        max(1, -(-design.shape[0] // PASS_BLOCK)),
    )
    n_params = design.shape[1]
    augmented = _unpack(grams.sum(axis=0), n_params + 1)
    return augmented[:, :n_params, :n_params], augmented[:, n_params, :n_params].T


@numba.njit(**PARALLEL_CONTRACT)
def _multinomial_gradient_curvature(
    design, coef, target_proba, row_weight, pairs, n_blocks
):
    # Tiled as the fused pass: rows transposed into tiles, the gradient and
    # the curvature blocks as dot products along the tile (vectorised).
    n_samples, n_params = design.shape
    n_columns = coef.shape[1]
    n_pairs = pairs.shape[0]
    n_packed = n_params * (n_params + 1) // 2
    value = np.zeros(n_blocks)
    gradient = np.zeros((n_blocks, n_params, n_columns))
    curvature = np.zeros((n_blocks, n_pairs, n_packed))
    for block in prange(n_blocks):
        features = np.empty((n_params, TILE))
        weight = np.empty(TILE)
        log_proba = np.empty((n_columns, TILE))
        proba = np.empty((n_columns, TILE))
        residual = np.empty((n_columns, TILE))
        largest = np.empty(TILE)
        total = np.empty(TILE)
        shares = np.empty(TILE)
        scaled = np.empty(TILE)
        block_gradient = np.zeros((n_columns, n_params))
        block_curvature = np.zeros((n_pairs, n_packed))
        block_value = 0.0
        block_end = min((block + 1) * PASS_BLOCK, n_samples)
        for start in range(block * PASS_BLOCK, block_end, TILE):
            size = min(TILE, block_end - start)
            for t in range(size):
                weight[t] = row_weight[start + t]
            load_tile(design, start, size, features)
            tile_product(features, coef, size, log_proba)
            tile_log_sum_exp(log_proba, size, proba, largest, total)
            for k in range(n_columns):
                for t in range(size):
                    log_proba[k, t] -= largest[t]
                    proba[k, t] /= total[t]
                    target = target_proba[start + t, k]
                    if target != 0.0 and weight[t] != 0.0:
                        block_value += weight[t] * target * log_proba[k, t]
                    residual[k, t] = weight[t] * (target - proba[k, t])
                for j in range(n_params):
                    block_gradient[k, j] += dot(residual[k], features[j], size)
            for pair in range(n_pairs):
                k, j = pairs[pair, 0], pairs[pair, 1]
                delta = 1.0 if k == j else 0.0
                for t in range(size):
                    shares[t] = weight[t] * proba[k, t] * (delta - proba[j, t])
                add_weighted_gram(
                    block_curvature[pair], shares, features, n_params, size, scaled
                )
        value[block] = block_value
        for k in range(n_columns):
            for j in range(n_params):
                gradient[block, j, k] = block_gradient[k, j]
        curvature[block] = block_curvature
    return value, gradient, curvature


def multinomial_gradient_curvature(design, coef, target_proba, row_weight, pairs):
    """Value, gradient (p, K) and curvature blocks (m, p, p); twin of
    ``_xp.multinomial_gradient_curvature``."""
    value, gradient, curvature = _multinomial_gradient_curvature(
        design,
        coef,
        target_proba,
        row_weight,
        np.asarray(pairs, dtype=np.int64).reshape(-1, 2),
        max(1, -(-design.shape[0] // PASS_BLOCK)),
    )
    return (
        float(value.sum()),
        gradient.sum(axis=0),
        _unpack(curvature.sum(axis=0), design.shape[1]),
    )


@numba.njit(**JIT, fastmath={"contract"}, inline="always")
def _previous_objectives(
    family, weight, previous, start, log_gate, fit, size, gate_sums, values, shares
):
    """The gate's and (log links) the experts' objectives at the pass's
    weights on the previous responsibilities, added to ``gate_sums`` (one
    partial per position in the tile) and ``values`` (K,)."""
    for k in range(log_gate.shape[0]):
        for t in range(size):
            share = weight[t] * previous[start + t, k]
            gate_sums[t] += share * log_gate[k, t]
            shares[t] = share
        if family != 0:
            values[k] += dot(shares, fit[k], size)


@numba.njit(**JIT, fastmath={"contract"}, inline="always")
def _expert_sums(
    family, weight, resp, fit, eta, transformed, target, features, size, grams,
    sums, shares, right, scaled,
):  # fmt: skip
    """A tile's share of each expert's totals (``sums[0]``), objective
    (``sums[1]``, log links) and normal equations (``grams``, packed as the
    Gram of ``[design, y]``): least squares for Gaussian experts, one IRLS
    step for log links (``tile_irls``; the right-hand sides in the last
    row)."""
    n_params = features.shape[0] - 1
    base = n_params * (n_params + 1) // 2
    for k in range(resp.shape[0]):
        for t in range(size):
            shares[t] = weight[t] * resp[k, t]
        for t in range(size):
            sums[0, k] += shares[t]
        if family == 0:
            add_weighted_gram(grams[k], shares, features, n_params + 1, size, scaled)
            continue
        sums[1, k] += dot(shares, fit[k], size)
        tile_irls(family, shares, eta[k], transformed[k], target, size, right)
        add_weighted_gram(grams[k], shares, features, n_params, size, scaled)
        for j in range(n_params):
            grams[k, base + j] += dot(right, features[j], size)


@numba.njit(**PARALLEL_CONTRACT)
def _em_pass(
    gate_design,
    shared,
    design,
    y,
    log_target,
    sample_weight,
    gate_coef,
    expert_coef,
    terms,
    family,
    previous,
    out,
    update,
    pairs,
    n_blocks,
):
    n_samples, n_params = design.shape
    n_gate = gate_design.shape[1]
    n_experts = gate_coef.shape[1]
    n_pairs = pairs.shape[0]
    n_packed = n_gate * (n_gate + 1) // 2
    n_augmented = (n_params + 1) * (n_params + 2) // 2
    scalars = np.zeros((n_blocks, 3))
    expert_sums = np.zeros((n_blocks, 3, n_experts))
    gradient = np.zeros((n_blocks, n_gate, n_experts))
    curvature = np.zeros((n_blocks, n_pairs, n_packed))
    grams = np.zeros((n_blocks, n_experts, n_augmented))
    for block in prange(n_blocks):
        # Tile buffers: one column per row of the tile.
        features = np.empty((n_params + 1, TILE))
        gate_features = features if shared else np.empty((n_gate, TILE))
        weight = np.empty(TILE)
        target = np.empty(TILE)
        log_y = np.empty(TILE)
        log_gate = np.empty((n_experts, TILE))
        eta = np.empty((n_experts, TILE))
        fit = np.empty((n_experts, TILE))
        transformed = np.empty((n_experts, TILE))
        proba = np.empty((n_experts, TILE))
        resp = np.empty((n_experts, TILE))
        largest = np.empty(TILE)
        total = np.empty(TILE)
        # Partial sums, one per position in the tile.
        sums = np.zeros((3, TILE))
        block_expert = np.zeros((3, n_experts))
        block_gradient = np.zeros((n_experts, n_gate))
        shares = np.empty(TILE)
        right = np.empty(TILE)
        scaled = np.empty(TILE)
        block_curvature = np.zeros((n_pairs, n_packed))
        block_grams = np.zeros((n_experts, n_augmented))
        block_end = min((block + 1) * PASS_BLOCK, n_samples)
        for start in range(block * PASS_BLOCK, block_end, TILE):
            size = min(TILE, block_end - start)
            for t in range(size):
                weight[t] = sample_weight[start + t]
                target[t] = y[start + t]
                features[n_params, t] = target[t]  # the Gram of [design, y]
            if family == 2:
                for t in range(size):
                    log_y[t] = log_target[start + t]
            load_tile(design, start, size, features)
            if not shared:
                load_tile(gate_design, start, size, gate_features)
            tile_product(gate_features, gate_coef, size, log_gate)
            tile_product(features, expert_coef, size, eta)
            tile_expert_fit(family, eta, target, log_y, size, fit, transformed)
            # Log softmax of the gate, and its probabilities.
            tile_log_sum_exp(log_gate, size, proba, largest, total)
            for k in range(n_experts):
                for t in range(size):
                    log_gate[k, t] -= largest[t]
                    proba[k, t] /= total[t]
            if update:
                _previous_objectives(
                    family, weight, previous, start, log_gate, fit, size, sums[1],
                    block_expert[2], shares,
                )  # fmt: skip
                # E-step.
                tile_e_step(log_gate, fit, terms, size, resp, largest, total)
                for t in range(size):
                    sums[0, t] += weight[t] * largest[t]
                store_tile(resp, start, size, out)
            else:
                for t in range(size):
                    for k in range(n_experts):
                        resp[k, t] = previous[start + t, k]
            # The gate's objective and gradient on the responsibilities.
            for k in range(n_experts):
                for t in range(size):
                    sums[2, t] += weight[t] * resp[k, t] * log_gate[k, t]
                    scaled[t] = weight[t] * (resp[k, t] - proba[k, t])
                for j in range(n_gate):
                    block_gradient[k, j] += dot(scaled, gate_features[j], size)
            # The experts' sums and normal equations, the gate's curvature
            # blocks: each entry is a dot product along the tile (``dot``).
            _expert_sums(
                family, weight, resp, fit, eta, transformed, target, features,
                size, block_grams, block_expert, shares, right, scaled,
            )  # fmt: skip
            for pair in range(n_pairs):
                k, j = pairs[pair, 0], pairs[pair, 1]
                delta = 1.0 if k == j else 0.0
                for t in range(size):
                    shares[t] = weight[t] * proba[k, t] * (delta - proba[j, t])
                add_weighted_gram(
                    block_curvature[pair], shares, gate_features, n_gate, size, scaled
                )
        for index in range(3):
            scalars[block, index] = sum_in_order(sums[index])
        expert_sums[block] = block_expert
        gradient[block] = block_gradient.T
        curvature[block] = block_curvature
        grams[block] = block_grams
    return scalars, expert_sums, gradient, curvature, grams


def em_pass(
    design,
    y,
    sample_weight,
    gate_coef,
    expert_coef,
    variance,
    previous,
    out,
    pairs,
    gate_design=None,
    family="gaussian",
    log_target=None,
):
    """One fused EM pass, returning ``PassStatistics``; twin of ``_xp.em_pass``."""
    update = out is not None
    shared = gate_design is None or gate_design is design
    gate_design = design if gate_design is None else gate_design
    scalars, expert_sums, gradient, curvature, grams = _em_pass(
        gate_design,
        shared,
        design,
        y,
        pass_log_target(family, y, log_target),
        sample_weight,
        gate_coef,
        expert_coef,
        np.stack(expert_terms(family, variance)),
        PASS_FAMILIES[family],
        previous,
        out if update else previous[:0],
        update,
        np.asarray(pairs, dtype=np.int64).reshape(-1, 2),
        max(1, -(-design.shape[0] // PASS_BLOCK)),
    )
    scalars = scalars.sum(axis=0)
    expert_sums = expert_sums.sum(axis=0)
    n_params = design.shape[1]
    augmented = _unpack(grams.sum(axis=0), n_params + 1)
    squares = augmented[:, n_params, n_params]
    return PassStatistics(
        float(scalars[0]),
        float(scalars[1]),
        float(scalars[2]),
        gradient.sum(axis=0),
        _unpack(curvature.sum(axis=0), gate_design.shape[1]),
        augmented[:, :n_params, :n_params],
        augmented[:, n_params, :n_params].T,
        squares if family == "gaussian" else np.zeros_like(squares),
        expert_sums[0],
        expert_sums[1],
        expert_sums[2],
    )


@numba.njit(**PARALLEL_CONTRACT)
def _pass_responsibilities(
    design, y, log_target, gate_coef, expert_coef, terms, family, out, n_blocks
):
    # The E-step of _em_pass, tile by tile in the same operations: the
    # responsibilities are the ones _em_pass writes, to the bit.
    n_samples, n_params = design.shape
    n_experts = gate_coef.shape[1]
    for block in prange(n_blocks):
        features = np.empty((n_params, TILE))
        target = np.empty(TILE)
        log_y = np.empty(TILE)
        log_gate = np.empty((n_experts, TILE))
        eta = np.empty((n_experts, TILE))
        fit = np.empty((n_experts, TILE))
        transformed = np.empty((n_experts, TILE))
        proba = np.empty((n_experts, TILE))
        resp = np.empty((n_experts, TILE))
        largest = np.empty(TILE)
        total = np.empty(TILE)
        block_end = min((block + 1) * PASS_BLOCK, n_samples)
        for start in range(block * PASS_BLOCK, block_end, TILE):
            size = min(TILE, block_end - start)
            for t in range(size):
                target[t] = y[start + t]
            if family == 2:
                for t in range(size):
                    log_y[t] = log_target[start + t]
            load_tile(design, start, size, features)
            tile_product(features, gate_coef, size, log_gate)
            tile_product(features, expert_coef, size, eta)
            tile_log_sum_exp(log_gate, size, proba, largest, total)
            for k in range(n_experts):
                for t in range(size):
                    log_gate[k, t] -= largest[t]
            tile_expert_fit(family, eta, target, log_y, size, fit, transformed)
            tile_e_step(log_gate, fit, terms, size, resp, largest, total)
            store_tile(resp, start, size, out)


def pass_responsibilities(
    design,
    y,
    gate_coef,
    expert_coef,
    dispersion,
    out,
    family="gaussian",
    log_target=None,
):
    """The E-step of ``em_pass`` alone, into ``out``; twin of
    ``_xp.pass_responsibilities``."""
    _pass_responsibilities(
        design,
        y,
        pass_log_target(family, y, log_target),
        gate_coef,
        expert_coef,
        np.stack(expert_terms(family, dispersion)),
        PASS_FAMILIES[family],
        out,
        max(1, -(-design.shape[0] // PASS_BLOCK)),
    )
    return out
