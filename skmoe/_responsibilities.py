"""Operations on responsibility arrays (n, K): routing, removing experts.

Written over the array API: they run in the namespace and on the device of
their input.
"""

import numpy as np

from ._array_utils import namespace, to_device


def keep_top(weights, k):
    """Rows of ``weights`` with all but their k largest entries zeroed, renormalised.

    Ties keep the lowest expert index, so exactly k entries survive per row.
    """
    if k >= weights.shape[1]:
        return weights
    xp = namespace(weights)
    order = xp.argsort(-weights, axis=1, stable=True)
    rank = xp.argsort(order, axis=1, stable=True)  # 0 for the largest entry
    kept = xp.where(rank < k, weights, xp.zeros_like(weights))
    return kept / xp.sum(kept, axis=1, keepdims=True)


def route(responsibilities, routing):
    """Responsibilities as the M-step sees them under ``routing``."""
    if routing == "soft":
        return responsibilities
    return keep_top(responsibilities, 1 if routing == "hard" else routing)


def keep_columns(responsibilities, keep):
    """The kept experts' responsibilities, renormalised per row.

    A row only the removed experts were responsible for (to machine
    precision) is shared evenly.
    """
    xp = namespace(responsibilities)
    kept = to_device(np.flatnonzero(keep), responsibilities)
    responsibilities = xp.take(responsibilities, kept, axis=1)
    totals = xp.sum(responsibilities, axis=1, keepdims=True)
    positive = totals > 0
    return xp.where(
        positive,
        responsibilities / xp.where(positive, totals, xp.ones_like(totals)),
        xp.full_like(responsibilities, 1.0 / responsibilities.shape[1]),
    )
