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
from numba import prange, types
from numba.extending import intrinsic

from ._xp import LOG_2PI, PassStatistics

_JIT = {"cache": True, "nogil": True}
_PARALLEL = {"cache": True, "nogil": True, "parallel": True}

# Rows per block of the parallel reductions.
_BLOCK = 1024


@numba.njit(**_JIT)
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


@numba.njit(**_JIT)
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


@numba.njit(**_PARALLEL)
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


@numba.njit(**_PARALLEL)
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
    """The K weighted Gram matrices (K, p, p) and moments (p, K); twin of
    ``_xp.weighted_normal_equations``."""
    grams, moments = _weighted_normal_equations(
        design, y, responsibilities, sample_weight, _n_blocks(design.shape[0])
    )
    return _unpack(grams.sum(axis=0), design.shape[1]), moments.sum(axis=0).T


@numba.njit(**_PARALLEL)
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
        scratch = np.empty(n_columns)
        outer = np.empty(n_packed)
        for i in range(block * _BLOCK, min((block + 1) * _BLOCK, n_samples)):
            weight = row_weight[i]
            if weight == 0.0:
                continue
            _row_log_softmax(design, coef, i, proba, scratch)
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
    """Value, gradient (p, K) and curvature blocks (m, p, p); twin of
    ``_xp.multinomial_gradient_curvature``."""
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
#
# Rows are processed in tiles of _TILE, transposed so that every loop over
# the experts runs along the tile: long, contiguous, vectorised loops instead
# of a dozen loops of K iterations per row. Sums over rows go to one partial
# per position in the tile (no reassociation: the results are exact IEEE
# sums in a fixed order), reduced once per block. The experts' weighted
# normal equations are the Gram matrices of ``[design, y]``: moments and sums
# of squares come with them. Their entries, and the gate's curvature blocks,
# are dot products along the tile (``_dot``, ``_dot2``), the one place where
# sums are reassociated so that they vectorise: 1.2-1.5x faster passes than
# rank-4 updates of packed outer products, built row by row (the previous
# scheme). The order is fixed by the compiled code, not by the threads.


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (vectorisable)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@intrinsic
def _bits_from_float(typingctx, value):
    """The int64 whose bits are those of the float64 ``value`` (vectorisable)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


# Added to an integral float k, |k| < 2**51, this leaves k in the low bits of
# the sum (1.5 * 2**52): a float-to-integer conversion that vectorises (AVX2
# has no vector conversion of float64 to int64).
_SHIFTER = 6755399441055744.0

_LN2_HIGH = 6.93147180369123816490e-01
_LN2_LOW = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00


# Below this, exp is taken as 0: probabilities under 1e-130 change no sum of
# order one, and products of them would be subnormal numbers, whose
# arithmetic is some hundred times slower.
_EXP_CUTOFF = -300.0


@numba.njit(**_JIT, fastmath={"contract"}, inline="always")
def _exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0`` (0 below ``_EXP_CUTOFF``) to a few ulp, in
    code the compiler vectorises, unlike calls to the libm ``exp``: ``2**k *
    exp(r)``, ``|r| <= log(2) / 2``, ``exp(r)`` by its Taylor polynomial of
    degree 13 (truncation below 2e-16 relative)."""
    clipped = max(x, _EXP_CUTOFF)
    k = math.floor(clipped * _INV_LN2 + 0.5)
    r = (clipped - k * _LN2_HIGH) - k * _LN2_LOW
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    # 2**k: the exponent bias added to k in the low bits of k + _SHIFTER, and
    # shifted into the exponent field (the high bits of the sum shift out).
    value = p * _float_from_bits((_bits_from_float(k + _SHIFTER) + 1023) << 52)
    return value if x >= _EXP_CUTOFF else 0.0


@numba.njit(**_JIT)
def _exp_nonpositive_array(values):
    """``_exp_nonpositive`` of each element (for the tests)."""
    out = np.empty_like(values)
    for i in range(values.shape[0]):
        out[i] = _exp_nonpositive(values[i])
    return out


# Rows per block of the fused pass (one partial result per block).
_PASS_BLOCK = 4096

# Rows per tile (a divisor of _PASS_BLOCK).
_TILE = 128

# Floating-point contraction (a * b + c as one FMA) only; no reassociation
# (but in the dot products along the tile, ``_dot`` and ``_dot2``).
_PARALLEL_CONTRACT = {**_PARALLEL, "fastmath": {"contract"}}


@numba.njit(**_JIT, fastmath={"contract", "reassoc"})
def _dot(u, v, size):
    """``u[:size] @ v[:size]``, summed in the order the compiler vectorises
    (reassociated: fixed for a given build, whatever the number of threads)."""
    value = 0.0
    for t in range(size):
        value += u[t] * v[t]
    return value


@numba.njit(**_JIT, fastmath={"contract", "reassoc"})
def _dot2(u, v, w, size):
    """``(u @ v, u @ w)`` over ``[:size]`` (as ``_dot``), loading ``u`` once."""
    first = 0.0
    second = 0.0
    for t in range(size):
        first += u[t] * v[t]
        second += u[t] * w[t]
    return first, second


@numba.njit(**_JIT, fastmath={"contract"})
def _add_weighted_gram(packed, shares, features, n_rows, size, scaled):
    """``packed += lower triangle of features[:n_rows] diag(shares) features^T``.

    Over the tile's first ``size`` columns; entries row by row, as dot
    products along the tile (``_dot2`` takes two at a time). ``scaled`` is
    scratch of the tile's length.
    """
    index = 0
    for a in range(n_rows):
        for t in range(size):
            scaled[t] = shares[t] * features[a, t]
        for b in range(0, a, 2):
            first, second = _dot2(scaled, features[b], features[b + 1], size)
            packed[index] += first
            packed[index + 1] += second
            index += 2
        if a % 2 == 0:
            packed[index] += _dot(scaled, features[a], size)
            index += 1


@numba.njit(**_JIT, fastmath={"contract"}, inline="always")
def _tile_log_sum_exp(values, size, exps, largest, total):
    """The guarded log-sum-exp of each column of a tile, ``values`` (K, tile).

    ``largest[t]`` gets ``log sum_k exp(values[k, t])``, ``exps`` the terms
    ``exp(values - max)`` and ``total[t]`` their sum, over the first
    ``size`` columns (a max that is not finite counts as 0).
    """
    for t in range(size):
        largest[t] = -np.inf
        total[t] = 0.0
    for k in range(values.shape[0]):
        for t in range(size):
            largest[t] = max(largest[t], values[k, t])
    for t in range(size):
        if not math.isfinite(largest[t]):
            largest[t] = 0.0
    for k in range(values.shape[0]):
        for t in range(size):
            exps[k, t] = _exp_nonpositive(values[k, t] - largest[t])
            total[t] += exps[k, t]
    for t in range(size):
        largest[t] += math.log(total[t])


@numba.njit(**_JIT, fastmath={"contract"}, inline="always")
def _tile_product(features, coef, size, out):
    """``out[k, t] = features[:, t] @ coef[:, k]`` over a tile (features:
    (p, tile), its first ``coef.shape[0]`` rows)."""
    n_params, n_experts = coef.shape
    for k in range(n_experts):
        for t in range(size):
            out[k, t] = 0.0
        for j in range(n_params):
            weight = coef[j, k]
            for t in range(size):
                out[k, t] += features[j, t] * weight


@numba.njit(**_JIT, fastmath={"contract"}, inline="always")
def _tile_log_joint(log_gate, means, target, log_norm, half_precision, size, out):
    """``log g_k + log Normal(y; mean_k, variance_k)`` over a tile, into ``out``."""
    for k in range(log_gate.shape[0]):
        for t in range(size):
            residual = target[t] - means[k, t]
            out[k, t] = (
                log_gate[k, t] + log_norm[k] - half_precision[k] * residual * residual
            )


@numba.njit(**_JIT, inline="always")
def _load_tile(rows, start, size, out):
    """``out[j, t] = rows[start + t, j]``: ``size`` rows as a tile's columns
    (the gate's own features, when it has them, in ``gate_features``)."""
    for t in range(size):
        for j in range(rows.shape[1]):
            out[j, t] = rows[start + t, j]


@numba.njit(**_JIT, inline="always")
def _sum_in_order(values):
    """``sum(values)`` from first to last (no reassociation)."""
    value = 0.0
    for t in range(values.shape[0]):
        value += values[t]
    return value


@numba.njit(**_PARALLEL_CONTRACT)
def _em_pass(
    gate_design,
    shared,
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
    n_gate = gate_design.shape[1]
    n_experts = gate_coef.shape[1]
    n_pairs = pairs.shape[0]
    n_packed = n_gate * (n_gate + 1) // 2
    n_augmented = (n_params + 1) * (n_params + 2) // 2
    scalars = np.zeros((n_blocks, 3))
    gradient = np.zeros((n_blocks, n_gate, n_experts))
    curvature = np.zeros((n_blocks, n_pairs, n_packed))
    grams = np.zeros((n_blocks, n_experts, n_augmented))
    log_norm = np.empty(n_experts)
    half_precision = np.empty(n_experts)
    for k in range(n_experts):
        log_norm[k] = -0.5 * (LOG_2PI + math.log(variance[k]))
        half_precision[k] = 0.5 / variance[k]
    for block in prange(n_blocks):
        # Tile buffers: one column per row of the tile.
        features = np.empty((n_params + 1, _TILE))
        gate_features = features if shared else np.empty((n_gate, _TILE))
        weight = np.empty(_TILE)
        target = np.empty(_TILE)
        log_gate = np.empty((n_experts, _TILE))
        means = np.empty((n_experts, _TILE))
        proba = np.empty((n_experts, _TILE))
        resp = np.empty((n_experts, _TILE))
        largest = np.empty(_TILE)
        total = np.empty(_TILE)
        # Partial sums, one per position in the tile.
        sums = np.zeros((3, _TILE))
        block_gradient = np.zeros((n_experts, n_gate))
        shares = np.empty(_TILE)
        scaled = np.empty(_TILE)
        block_curvature = np.zeros((n_pairs, n_packed))
        block_grams = np.zeros((n_experts, n_augmented))
        block_end = min((block + 1) * _PASS_BLOCK, n_samples)
        for start in range(block * _PASS_BLOCK, block_end, _TILE):
            size = min(_TILE, block_end - start)
            for t in range(size):
                weight[t] = sample_weight[start + t]
                target[t] = y[start + t]
                features[n_params, t] = target[t]  # the Gram of [design, y]
            _load_tile(design, start, size, features)
            if not shared:
                _load_tile(gate_design, start, size, gate_features)
            _tile_product(gate_features, gate_coef, size, log_gate)
            _tile_product(features, expert_coef, size, means)
            # Log softmax of the gate, and its probabilities.
            _tile_log_sum_exp(log_gate, size, proba, largest, total)
            for k in range(n_experts):
                for t in range(size):
                    log_gate[k, t] -= largest[t]
                    proba[k, t] /= total[t]
            if update:
                # The gate's objective on the previous responsibilities.
                for k in range(n_experts):
                    for t in range(size):
                        sums[1, t] += (
                            weight[t] * previous[start + t, k] * log_gate[k, t]
                        )
                # E-step.
                _tile_log_joint(
                    log_gate, means, target, log_norm, half_precision, size, resp
                )
                _tile_log_sum_exp(resp, size, resp, largest, total)
                for t in range(size):
                    sums[0, t] += weight[t] * largest[t]
                for k in range(n_experts):
                    for t in range(size):
                        resp[k, t] /= total[t]
                for t in range(size):
                    for k in range(n_experts):
                        out[start + t, k] = resp[k, t]
            else:
                for t in range(size):
                    for k in range(n_experts):
                        resp[k, t] = previous[start + t, k]
            # The gate's objective and gradient on the responsibilities.
            for k in range(n_experts):
                for t in range(size):
                    sums[2, t] += weight[t] * resp[k, t] * log_gate[k, t]
                    means[k, t] = weight[t] * (resp[k, t] - proba[k, t])
                for j in range(n_gate):
                    block_gradient[k, j] += _dot(means[k], gate_features[j], size)
            # Weighted Gram matrices of [design, y] and gate curvature blocks:
            # each entry is a dot product along the tile (``_dot``).
            for k in range(n_experts):
                for t in range(size):
                    shares[t] = weight[t] * resp[k, t]
                _add_weighted_gram(
                    block_grams[k], shares, features, n_params + 1, size, scaled
                )
            for pair in range(n_pairs):
                k, j = pairs[pair, 0], pairs[pair, 1]
                delta = 1.0 if k == j else 0.0
                for t in range(size):
                    shares[t] = weight[t] * proba[k, t] * (delta - proba[j, t])
                _add_weighted_gram(
                    block_curvature[pair], shares, gate_features, n_gate, size, scaled
                )
        for index in range(3):
            scalars[block, index] = _sum_in_order(sums[index])
        gradient[block] = block_gradient.T
        curvature[block] = block_curvature
        grams[block] = block_grams
    return scalars, gradient, curvature, grams


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
):
    """One fused EM pass, returning ``PassStatistics``; twin of ``_xp.em_pass``."""
    update = out is not None
    shared = gate_design is None or gate_design is design
    gate_design = design if gate_design is None else gate_design
    scalars, gradient, curvature, grams = _em_pass(
        gate_design,
        shared,
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
    n_params = design.shape[1]
    augmented = _unpack(grams.sum(axis=0), n_params + 1)
    return PassStatistics(
        float(scalars[0]),
        float(scalars[1]),
        float(scalars[2]),
        gradient.sum(axis=0),
        _unpack(curvature.sum(axis=0), gate_design.shape[1]),
        augmented[:, :n_params, :n_params],
        augmented[:, n_params, :n_params].T,
        augmented[:, n_params, n_params],
        augmented[:, n_params - 1, n_params - 1],
    )


@numba.njit(**_PARALLEL_CONTRACT)
def _gaussian_responsibilities(
    design, y, gate_coef, expert_coef, variance, out, n_blocks
):
    # The E-step of _em_pass, tile by tile in the same operations: the
    # responsibilities are the ones _em_pass writes, to the bit.
    n_samples, n_params = design.shape
    n_experts = gate_coef.shape[1]
    log_norm = np.empty(n_experts)
    half_precision = np.empty(n_experts)
    for k in range(n_experts):
        log_norm[k] = -0.5 * (LOG_2PI + math.log(variance[k]))
        half_precision[k] = 0.5 / variance[k]
    for block in prange(n_blocks):
        features = np.empty((n_params, _TILE))
        target = np.empty(_TILE)
        log_gate = np.empty((n_experts, _TILE))
        means = np.empty((n_experts, _TILE))
        proba = np.empty((n_experts, _TILE))
        resp = np.empty((n_experts, _TILE))
        largest = np.empty(_TILE)
        total = np.empty(_TILE)
        block_end = min((block + 1) * _PASS_BLOCK, n_samples)
        for start in range(block * _PASS_BLOCK, block_end, _TILE):
            size = min(_TILE, block_end - start)
            for t in range(size):
                target[t] = y[start + t]
            _load_tile(design, start, size, features)
            _tile_product(features, gate_coef, size, log_gate)
            _tile_product(features, expert_coef, size, means)
            _tile_log_sum_exp(log_gate, size, proba, largest, total)
            for k in range(n_experts):
                for t in range(size):
                    log_gate[k, t] -= largest[t]
            _tile_log_joint(
                log_gate, means, target, log_norm, half_precision, size, resp
            )
            _tile_log_sum_exp(resp, size, resp, largest, total)
            for k in range(n_experts):
                for t in range(size):
                    resp[k, t] /= total[t]
            for t in range(size):
                for k in range(n_experts):
                    out[start + t, k] = resp[k, t]


def gaussian_responsibilities(design, y, gate_coef, expert_coef, variance, out):
    """The E-step of ``em_pass`` alone, into ``out``; twin of
    ``_xp.gaussian_responsibilities``."""
    _gaussian_responsibilities(
        design,
        y,
        gate_coef,
        expert_coef,
        variance,
        out,
        max(1, -(-design.shape[0] // _PASS_BLOCK)),
    )
    return out
