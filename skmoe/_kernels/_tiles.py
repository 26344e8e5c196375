"""Tile primitives of the tiled numba kernels (``_numba.py``).

Rows are processed in tiles of ``TILE``, transposed so that every loop over
the experts runs along the tile: long, contiguous, vectorised loops instead
of a dozen loops of K iterations per row. Sums over rows go to one partial
per position in the tile (no reassociation: the results are exact IEEE sums
in a fixed order), reduced once per block. Weighted Gram matrices and the
gate's curvature blocks are dot products along the tile (``dot``,
``dot2``), the one place where sums are reassociated so that they
vectorise: 1.2-1.5x faster than rank-4 updates of packed outer products
built row by row. The order is fixed by the compiled code, not by the
threads.
"""

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from ._xp import ETA_MAX, ETA_MIN

#: The numba flags of every kernel, defined once: compiled once per machine
#: (``cache``), without the GIL; parallel kernels run ``prange`` over blocks.
JIT = {"cache": True, "nogil": True}
PARALLEL = {**JIT, "parallel": True}
#: Floating-point contraction (a * b + c as one FMA) only; no reassociation
#: (but in the dot products along the tile, ``dot`` and ``dot2``).
PARALLEL_CONTRACT = {**PARALLEL, "fastmath": {"contract"}}


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
# Above this, exp is exp(709) (below the largest float, 1.8e308).
_EXP_TOP = 709.0


@numba.njit(**JIT, fastmath={"contract"}, inline="always")
def fast_exp(x):
    """``exp(x)`` (0 below ``_EXP_CUTOFF``, ``exp(709)`` above ``_EXP_TOP``)
    to a few ulp, in code the compiler vectorises, unlike calls to the libm
    ``exp``: ``2**k * exp(r)``, ``|r| <= log(2) / 2``, ``exp(r)`` by its
    Taylor polynomial of degree 13 (truncation below 2e-16 relative)."""
    clipped = min(max(x, _EXP_CUTOFF), _EXP_TOP)
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


@numba.njit(**JIT)
def fast_exp_array(values):
    """``fast_exp`` of each element (for the tests)."""
    out = np.empty_like(values)
    for i in range(values.shape[0]):
        out[i] = fast_exp(values[i])
    return out


# Rows per block of the fused pass (one partial result per block).
PASS_BLOCK = 4096

# Rows per tile (a divisor of PASS_BLOCK).
TILE = 128


@numba.njit(**JIT, fastmath={"contract", "reassoc"})
def dot(u, v, size):
    """``u[:size] @ v[:size]``, summed in the order the compiler vectorises
    (reassociated: fixed for a given build, whatever the number of threads)."""
    value = 0.0
    for t in range(size):
        value += u[t] * v[t]
    return value


@numba.njit(**JIT, fastmath={"contract", "reassoc"})
def dot2(u, v, w, size):
    """``(u @ v, u @ w)`` over ``[:size]`` (as ``dot``), loading ``u`` once."""
    first = 0.0
    second = 0.0
    for t in range(size):
        first += u[t] * v[t]
        second += u[t] * w[t]
    return first, second


@numba.njit(**JIT, fastmath={"contract"})
def add_weighted_gram(packed, shares, features, n_rows, size, scaled):
    """``packed += lower triangle of features[:n_rows] diag(shares) features^T``.

    Over the tile's first ``size`` columns; entries row by row, as dot
    products along the tile (``dot2`` takes two at a time). ``scaled`` is
    scratch of the tile's length.
    """
    index = 0
    for a in range(n_rows):
        for t in range(size):
            scaled[t] = shares[t] * features[a, t]
        for b in range(0, a, 2):
            first, second = dot2(scaled, features[b], features[b + 1], size)
            packed[index] += first
            packed[index + 1] += second
            index += 2
        if a % 2 == 0:
            packed[index] += dot(scaled, features[a], size)
            index += 1


@numba.njit(**JIT, fastmath={"contract"}, inline="always")
def tile_log_sum_exp(values, size, exps, largest, total):
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
            exps[k, t] = fast_exp(values[k, t] - largest[t])
            total[t] += exps[k, t]
    for t in range(size):
        largest[t] += math.log(total[t])


@numba.njit(**JIT, fastmath={"contract"}, inline="always")
def tile_product(features, coef, size, out):
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


@numba.njit(**JIT, fastmath={"contract"}, inline="always")
def tile_expert_fit(family, eta, target, log_target, size, fit, transformed):
    """The experts' fit terms over a tile (``_xp.expert_terms``), into ``fit``.

    ``family`` is a code of ``_xp.PASS_FAMILIES``. For the log links the
    linear predictors ``eta`` are clipped in place (``_xp.ETA_MIN``,
    ``ETA_MAX``) and ``transformed`` gets ``exp(eta)`` (Poisson) or ``y
    exp(-eta)`` (Gamma); ``log_target`` is read for Gamma only.
    """
    for k in range(eta.shape[0]):
        if family == 0:
            for t in range(size):
                residual = target[t] - eta[k, t]
                fit[k, t] = -0.5 * residual * residual
        elif family == 1:
            for t in range(size):
                value = min(max(eta[k, t], ETA_MIN), ETA_MAX)
                eta[k, t] = value
                transformed[k, t] = fast_exp(value)
                fit[k, t] = target[t] * value - transformed[k, t]
        else:
            for t in range(size):
                value = min(max(eta[k, t], ETA_MIN), ETA_MAX)
                eta[k, t] = value
                transformed[k, t] = target[t] * fast_exp(-value)
                fit[k, t] = log_target[t] - value - transformed[k, t]


@numba.njit(**JIT, fastmath={"contract"}, inline="always")
def tile_irls(family, shares, eta, transformed, target, size, right):
    """One expert's IRLS sums over a tile (log links; ``_xp._irls_sums``):
    ``shares`` (``w R``) become the working weights, ``right`` the
    right-hand side terms."""
    if family == 1:
        for t in range(size):
            right[t] = shares[t] * (
                transformed[t] * eta[t] + target[t] - transformed[t]
            )
            shares[t] *= transformed[t]
    else:
        for t in range(size):
            right[t] = shares[t] * (eta[t] + transformed[t] - 1.0)


@numba.njit(**JIT, fastmath={"contract"}, inline="always")
def tile_log_joint(log_gate, fit, terms, size, out):
    """``log g_k + constant_k + multiplier_k * fit_k`` over a tile, into
    ``out`` (``terms``: the rows of ``_xp.expert_terms``)."""
    for k in range(log_gate.shape[0]):
        constant, multiplier = terms[0, k], terms[1, k]
        for t in range(size):
            out[k, t] = log_gate[k, t] + constant + multiplier * fit[k, t]


@numba.njit(**JIT, inline="always")
def load_tile(rows, start, size, out):
    """``out[j, t] = rows[start + t, j]``: ``size`` rows as a tile's columns
    (the gate's own features, when it has them, in ``gate_features``)."""
    for t in range(size):
        for j in range(rows.shape[1]):
            out[j, t] = rows[start + t, j]


@numba.njit(**JIT, inline="always")
def sum_in_order(values):
    """``sum(values)`` from first to last (no reassociation)."""
    value = 0.0
    for t in range(values.shape[0]):
        value += values[t]
    return value
