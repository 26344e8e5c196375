"""Initial responsibilities of an EM run: model tree, k-means, random
partitions, the gate of a mixture of constant experts."""

import warnings

import numpy as np
from scipy import sparse
from sklearn.base import clone, is_classifier
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import SplineTransformer

from ._model_tree import apply_linear_tree, fit_linear_tree

# Weight of the uniform part mixed into hard initial partitions, so that no
# expert starts with zero responsibility anywhere.
INIT_SMOOTHING = 0.05

# k-means initialisation is fitted on a random subsample of at most this
# many rows, then assigns every row.
KMEANS_MAX_ROWS = 10_000

# The model tree of the "tree" initialisation likewise, and on fewer rows
# when it has many features: it holds (d + 1)^2 sums per row, at most
# TREE_MAX_SUMS in all. Beyond TREE_MAX_FEATURES features its linear fits
# (d^3 per candidate split) cost more than EM, and k-means starts instead.
TREE_MAX_ROWS = 10_000
TREE_MAX_SUMS = 20_000_000
TREE_MAX_FEATURES = 32

# init="spline": the mixtures of constant, then additive experts whose gate
# gives the start are fitted on at most this many rows, for at most this
# many EM iterations each (within the estimator's own max_iter), the gate on
# splines with this many knots per feature; the additive stage runs when
# the splines number at most this share of the rows.
SPLINE_START_MAX_ROWS = 5_000
SPLINE_START_MAX_ITER = 20
SPLINE_KNOTS = 4
SPLINE_ADDITIVE_MAX_SHARE = 0.02
# The start's probabilities on every row are computed this many rows at a
# time, so that the splines of all rows are never held at once.
SPLINE_CHUNK_ROWS = 100_000


def check_initial_responsibilities(init, n_samples, n_experts):
    """``init`` given as an array, validated and normalised (numpy)."""
    initial = np.asarray(init, dtype=np.float64)
    if initial.shape != (n_samples, n_experts):
        raise ValueError(
            "init given as an array must be the initial responsibilities, of "
            f"shape (n_samples, n_experts) = ({n_samples}, {n_experts}); "
            f"got shape {initial.shape}."
        )
    if not np.all(np.isfinite(initial)) or np.any(initial < 0):
        raise ValueError("init responsibilities must be finite and non-negative.")
    totals = initial.sum(axis=1, keepdims=True)
    if np.any(totals <= 0):
        raise ValueError("each row of the init responsibilities needs a positive sum.")
    return initial / totals


def initial_responsibilities(
    init, design, targets, sample_weight, n_experts, rng, partitions
):
    """Responsibilities of a new run, from a partition no run started from.

    The first run starts from the leaves of a least-squares model tree with
    K leaves ("tree"; see :func:`skmoe._model_tree.fit_linear_tree`), grown
    on at most ``TREE_MAX_ROWS`` rows of the standardised features and
    targets, or from k-means on the standardised [X, y] ("kmeans", on at
    most ``KMEANS_MAX_ROWS`` rows). Every other start (and every start with
    "random") is a random Voronoi partition: each sample goes to the nearest
    of K random samples, measured alternately in [X, y] and in X alone. The
    latter are exactly the partitions a sharp softmax gate can draw, and
    reach optima that partitions of [X, y] miss. A partition an earlier run
    started from is never used again. "tree" on more than
    ``TREE_MAX_FEATURES`` features starts from k-means; a tree with fewer
    than K leaves (too little data to split) gives way to a random
    partition.

    Parameters
    ----------
    init : {"tree", "kmeans", "random"}
    design : ndarray of shape (n, p)
        Standardised features with a final column of ones (host).
    targets : ndarray of shape (n, m)
        Standardised targets (regression) or one-hot labels.
    sample_weight : ndarray of shape (n,)
    n_experts : int
    rng : RandomState
    partitions : list
        The partitions of the earlier runs; this run's is appended.

    Returns
    -------
    responsibilities : ndarray of shape (n, n_experts)
    """
    n_samples = design.shape[0]
    features = design[:, :-1]
    # Samples of zero weight take no part in choosing the partition.
    candidates = np.flatnonzero(sample_weight > 0)
    labels = None
    too_wide = features.shape[1] > TREE_MAX_FEATURES
    if init == "tree" and not partitions and not too_wide:
        labels = _tree_partition(
            design, targets, sample_weight, candidates, n_experts, rng
        )
    elif init in ("kmeans", "tree") and not partitions:
        joint = np.hstack([features, targets])
        rows = candidates
        if len(rows) > KMEANS_MAX_ROWS:
            rows = rng.choice(rows, KMEANS_MAX_ROWS, replace=False)
        kmeans = KMeans(n_experts, n_init=1, random_state=rng.randint(2**31 - 1)).fit(
            joint[rows], sample_weight=sample_weight[rows]
        )
        labels = _canonical(kmeans.predict(joint))
    if labels is None:
        space = features if len(partitions) % 2 else np.hstack([features, targets])
        for _ in range(100):
            chosen = rng.choice(candidates, n_experts, replace=False)
            labels = _canonical(_nearest(space, space[chosen]))
            if not any(np.array_equal(labels, seen) for seen in partitions):
                break
    partitions.append(labels)
    responsibilities = np.full((n_samples, n_experts), INIT_SMOOTHING / n_experts)
    responsibilities[np.arange(n_samples), labels] += 1.0 - INIT_SMOOTHING
    return responsibilities


def _tree_partition(design, targets, sample_weight, candidates, n_experts, rng):
    """Leaves of a K-leaf model tree of the targets, or None if it has fewer."""
    rows = candidates
    max_rows = min(TREE_MAX_ROWS, TREE_MAX_SUMS // design.shape[1] ** 2)
    if len(rows) > max_rows:
        rows = np.sort(rng.choice(rows, max_rows, replace=False))
    splits, n_leaves = fit_linear_tree(
        design[rows], targets[rows], sample_weight[rows], n_experts
    )
    if n_leaves < n_experts:
        return None
    return _canonical(apply_linear_tree(splits, design))


def _nearest(points, centers):
    """Index of the nearest center of each point, without (n, K, d) temporaries."""
    distances = points @ (-2.0 * centers.T)
    distances += np.einsum("kd,kd->k", centers, centers)
    return distances.argmin(axis=1)


def _canonical(labels):
    """Relabel a partition by order of first appearance (label-permutation free)."""
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first))
    return order[np.unique(labels, return_inverse=True)[1]]


def spline_mixture_start(mixture, X, y, sample_weight, rng):
    """Initial responsibilities of ``init="spline"``, or None.

    Experts that can fit anything make EM's partition arbitrary: any split
    of the data fits, and EM stays near its start. The regimes are found in
    two stages by experts that cannot fit anything, under a softmax gate
    that reads additive cubic splines of the features
    (``SplineTransformer(n_knots=4)``), so that it can draw curved
    boundaries (a disc is additive in its two features):

    1. a mixture of *constant* experts (LinearRegression or
       LogisticRegression on no features), from k-means: its gate goes
       where the distribution of the targets changes;
    2. from its gate, a mixture of *additive* experts (LinearRegression,
       LogisticRegression on the same splines): it moves the gate to where
       the way the targets depend on the features changes, which constant
       experts cannot see. Skipped when the splines are too many for the
       rows (more than ``SPLINE_ADDITIVE_MAX_SHARE`` of them).

    Both are fitted on at most ``SPLINE_START_MAX_ROWS`` rows for at most
    ``SPLINE_START_MAX_ITER`` iterations each; the last gate's
    probabilities on every row are the start.

    Parameters
    ----------
    mixture : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        The estimator being fitted (cloned, never changed).
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
        The targets as the estimator takes them.
    sample_weight : ndarray of shape (n,)
    rng : RandomState

    Returns
    -------
    responsibilities : ndarray of shape (n, n_experts) or None
        None if X is sparse or constant, or the mixture of constant experts
        lost experts (then the tree starts).
    """
    if sparse.issparse(X):
        return None
    varying = np.ptp(X, axis=0) > 0
    if not varying.any():
        return None
    rows = np.flatnonzero(sample_weight > 0)
    if len(rows) > SPLINE_START_MAX_ROWS:
        rows = np.sort(rng.choice(rows, SPLINE_START_MAX_ROWS, replace=False))
    splines = SplineTransformer(n_knots=SPLINE_KNOTS, include_bias=False)
    features = splines.fit_transform(X[rows][:, varying])
    linear = LogisticRegression() if is_classifier(mixture) else LinearRegression()
    fit = {"X": features, "y": y[rows], "sample_weight": sample_weight[rows]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # Linear experts on no features: constants, in the one-pass engine.
        helper = _start_helper(mixture, linear, "kmeans", [], rng).fit(**fit)
        if helper.n_experts_ < mixture.n_experts:
            return None
        if features.shape[1] <= SPLINE_ADDITIVE_MAX_SHARE * len(rows):
            start = helper.gate_proba(features)
            refined = _start_helper(mixture, linear, start, None, rng).fit(**fit)
            if refined.n_experts_ == mixture.n_experts:
                helper = refined
    # Every row's gate probabilities, the splines made a chunk at a time.
    start = np.empty((X.shape[0], mixture.n_experts))
    for first in range(0, X.shape[0], SPLINE_CHUNK_ROWS):
        part = slice(first, first + SPLINE_CHUNK_ROWS)
        start[part] = helper.gate_proba(splines.transform(X[part][:, varying]))
    return start


def _start_helper(mixture, estimator, init, expert_features, rng):
    """A clone of ``mixture`` with ``estimator`` experts on
    ``expert_features`` and the built-in gate, for a short EM run on spline
    features."""
    helper = clone(mixture).set_params(
        estimator=estimator,
        gate=None,
        init=init,
        n_init=1,
        warm_start=False,
        verbose=0,
        routing="soft",
        top_k=None,
        max_iter=min(mixture.max_iter, SPLINE_START_MAX_ITER),
        random_state=rng.randint(np.iinfo(np.int32).max),
    )
    # The helper sees spline features, and has its own experts' family.
    features = {
        "likelihood": "auto",
        "gate_features": None,
        "expert_features": expert_features,
    }
    known = helper.get_params()
    return helper.set_params(**{k: v for k, v in features.items() if k in known})
