"""A greedy least-squares model tree, the "tree" initialisation of EM.

The leaves of a tree whose leaves hold linear models are regimes a mixture
of linear experts can start from: each split is chosen where fitting one
linear model on each side, instead of one on both, lowers the (weighted)
squared error the most. The statistics of a linear least-squares fit are
sums over rows (Gram matrix, cross products, squared targets), so every
candidate threshold of a feature is scored from cumulative sums over the
rows sorted by that feature: one pass per feature and node, as in the
histogram trees of gradient boosting.
"""

import heapq

import numpy as np
from scipy import sparse

#: Candidate thresholds per feature and node (weighted quantiles).
N_CUTS = 32

#: Ridge added to the Gram matrices (times the node's weight), so that a
#: node with fewer rows than parameters still has a defined fit.
_RIDGE = 1e-6


def fit_linear_tree(design, targets, weight, n_leaves, *, min_leaf_share=None):
    """Grow a least-squares model tree best-first to ``n_leaves`` leaves.

    Parameters
    ----------
    design : ndarray of shape (n, p)
        Features with a final column of ones (the intercept); thresholds are
        searched on every other column.
    targets : ndarray of shape (n, m)
        Targets; the error of a node is the sum of the squared residuals of
        its weighted least-squares fit, over all m columns.
    weight : ndarray of shape (n,)
        Positive row weights.
    n_leaves : int
        Leaves wanted; fewer are returned when no split is left (every node
        too small, or no split lowers the error).
    min_leaf_share : float, default=None
        Least share of the total weight a leaf may hold; None: a quarter of
        an even share, ``1 / (4 * n_leaves)``.

    Returns
    -------
    splits : list of (node, feature, threshold, left, right)
        Internal nodes in the order they were split; node 0 is the root.
        A row goes left when ``design[row, feature] <= threshold``.
    n_found : int
        Number of leaves.
    """
    n_rows, n_params = design.shape
    if min_leaf_share is None:
        min_leaf_share = 1.0 / (4 * n_leaves)
    min_weight = min_leaf_share * weight.sum()
    rows_stats = _row_statistics(design, targets, weight)
    splits = []
    heap = []  # (-gain, node, split found)
    counter = 0

    def push(node, rows):
        found = _best_split(design, rows_stats, weight, rows, min_weight)
        if found is not None:
            heapq.heappush(heap, (-found[0], node, found[1:]))

    push(0, np.arange(n_rows))
    n_found = 1
    while n_found < n_leaves and heap:
        _, node, (feature, threshold, left_rows, right_rows) = heapq.heappop(heap)
        left, right = counter + 1, counter + 2
        counter += 2
        splits.append((node, feature, threshold, left, right))
        n_found += 1
        push(left, left_rows)
        push(right, right_rows)
    return splits, n_found


def apply_linear_tree(splits, design):
    """Leaf index (0 .. number of leaves - 1) of each row of ``design``."""
    node = np.zeros(design.shape[0], dtype=np.intp)
    for parent, feature, threshold, left, right in splits:
        here = node == parent
        goes_left = design[:, feature] <= threshold
        node[here & goes_left] = left
        node[here & ~goes_left] = right
    leaves = np.unique(node)
    return np.searchsorted(leaves, node)


def _row_statistics(design, targets, weight):
    """Per-row terms of the least-squares sums, (n, p*p + p*m + 1), weighted."""
    n_rows, n_params = design.shape
    weighted = design * weight[:, None]
    gram = (weighted[:, :, None] * design[:, None, :]).reshape(n_rows, -1)
    cross = (weighted[:, :, None] * targets[:, None, :]).reshape(n_rows, -1)
    square = weight * np.einsum("ij,ij->i", targets, targets)
    return np.hstack([gram, cross, square[:, None]])


def _node_errors(stats, n_params, n_targets, node_weight):
    """Residual sum of squares of the least-squares fit of each row of ``stats``."""
    n_nodes = stats.shape[0]
    gram = stats[:, : n_params * n_params].reshape(n_nodes, n_params, n_params)
    cross = stats[:, n_params * n_params : -1].reshape(n_nodes, n_params, n_targets)
    ridge = _RIDGE * np.maximum(node_weight, 1e-300)
    gram = gram + ridge[:, None, None] * np.eye(n_params)
    coef = np.linalg.solve(gram, cross)
    return stats[:, -1] - np.einsum("npm,npm->n", cross, coef)


def _best_split(design, rows_stats, weight, rows, min_weight):
    """Best (gain, feature, threshold, left rows, right rows) of a node, or None."""
    n_params = design.shape[1]
    n_targets = (rows_stats.shape[1] - 1 - n_params * n_params) // n_params
    node_stats = rows_stats[rows]
    total = node_stats.sum(axis=0)
    node_weight = weight[rows].sum()
    if node_weight < 2 * min_weight:
        return None
    parent_error = _node_errors(total[None], n_params, n_targets, node_weight[None])[0]
    best = None
    quantiles = np.linspace(0, node_weight, N_CUTS + 1)[1:-1]
    for feature in range(n_params - 1):
        values = design[rows, feature]
        order = np.argsort(values, kind="stable")
        sorted_values = values[order]
        cumulative = np.cumsum(weight[rows][order])
        # Last row of the left side: at a weighted quantile, moved to the end
        # of its run of equal values so that a threshold separates the sides.
        ends = np.searchsorted(cumulative, quantiles)
        ends = np.searchsorted(sorted_values, sorted_values[ends], side="right") - 1
        ends = np.unique(ends[ends < len(rows) - 1])
        left_weight = cumulative[ends]
        keep = (left_weight >= min_weight) & (node_weight - left_weight >= min_weight)
        ends = ends[keep]
        if len(ends) == 0:
            continue
        # Sums of the rows between consecutive cuts, by a sparse one-hot
        # product (no copy of the statistics); rows after the last cut are
        # the right side of every cut and are left out.
        segment = np.searchsorted(sorted_values[ends], values, side="left")
        inside = segment < len(ends)
        one_hot = sparse.csr_array(
            (np.ones(inside.sum()), (segment[inside], np.flatnonzero(inside))),
            shape=(len(ends), len(rows)),
        )
        left_stats = np.cumsum(one_hot @ node_stats, axis=0)
        right_stats = total - left_stats
        errors = _node_errors(
            left_stats, n_params, n_targets, cumulative[ends]
        ) + _node_errors(
            right_stats, n_params, n_targets, node_weight - cumulative[ends]
        )
        choice = int(np.argmin(errors))
        gain = parent_error - errors[choice]
        if gain > 0 and (best is None or gain > best[0]):
            end = ends[choice]
            threshold = 0.5 * (sorted_values[end] + sorted_values[end + 1])
            best = (gain, feature, threshold)
    if best is None:
        return None
    gain, feature, threshold = best
    goes_left = design[rows, feature] <= threshold
    return gain, feature, threshold, rows[goes_left], rows[~goes_left]
