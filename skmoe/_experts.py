"""Fitting the K experts of one M-step.

Each expert k is fitted with ``sample_weight = sample_weight * R[:, k]``.
Samples whose responsibility for expert k is below ``RESPONSIBILITY_THRESHOLD``
are left out of its fit (their weight would be negligible anyway, and leaving
them out makes costly experts cheaper). Experts whose ``fit`` takes no
``sample_weight`` are fitted on the samples assigned to them (those for which
they are the most responsible expert).
"""

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils import _safe_indexing
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import has_fit_parameter

RESPONSIBILITY_THRESHOLD = 1e-8

# Fewest rows any expert is fitted on, so that a starved expert stays fittable.
MIN_EXPERT_ROWS = 10


def make_experts(estimator, n_experts, random_state):
    """K unfitted clones of ``estimator`` with distinct random states."""
    experts = []
    for _ in range(n_experts):
        expert = clone(estimator)
        seeds = {
            name: random_state.randint(np.iinfo(np.int32).max)
            for name in expert.get_params()
            if name == "random_state" or name.endswith("__random_state")
        }
        experts.append(expert.set_params(**seeds))
    return experts


def expert_rows(responsibilities, sample_weight, k, min_rows):
    """Indices of the samples expert ``k`` is fitted on (with sample_weight)."""
    weights = responsibilities[:, k] * sample_weight
    rows = np.flatnonzero(responsibilities[:, k] > RESPONSIBILITY_THRESHOLD)
    rows = rows[weights[rows] > 0]
    if len(rows) < min_rows:
        rows = np.sort(np.argsort(-weights, kind="stable")[:min_rows])
    return rows


def assigned_rows(responsibilities, sample_weight, k, min_rows):
    """Indices of the samples assigned to expert ``k`` (no sample_weight)."""
    rows = np.flatnonzero(
        (responsibilities.argmax(axis=1) == k) & (sample_weight > 0)
    )
    if len(rows) < min_rows:
        score = responsibilities[:, k] * (sample_weight > 0)
        rows = np.sort(np.argsort(-score, kind="stable")[:min_rows])
    return rows


def _fit_one(expert, X, y, rows, weights):
    X_rows = _safe_indexing(X, rows)
    y_rows = y[rows]
    if weights is None:
        return expert.fit(X_rows, y_rows)
    return expert.fit(X_rows, y_rows, sample_weight=weights[rows])


def fit_experts(experts, X, y, responsibilities, sample_weight, n_jobs=None):
    """Fit each expert on its responsibility-weighted share of the data.

    Parameters
    ----------
    experts : list of K estimators
    X : array-like of shape (n, d)
    y : ndarray of shape (n,)
    responsibilities : ndarray of shape (n, K)
    sample_weight : ndarray of shape (n,)
    n_jobs : int or None
        Parallel fits through ``sklearn.utils.parallel`` (joblib).

    Returns
    -------
    experts : list of K fitted estimators
    """
    n_samples = X.shape[0]
    classifier = is_classifier(experts[0])
    tasks = []
    for k, expert in enumerate(experts):
        min_rows = min(n_samples, max(MIN_EXPERT_ROWS, getattr(expert, "n_neighbors", 0)))
        if has_fit_parameter(expert, "sample_weight"):
            rows = expert_rows(responsibilities, sample_weight, k, min_rows)
            if classifier and len(np.unique(y[rows])) < 2:
                # A classifier needs two classes: keep every weighted sample.
                rows = np.flatnonzero(sample_weight > 0)
            weights = responsibilities[:, k] * sample_weight
        else:
            rows = assigned_rows(responsibilities, sample_weight, k, min_rows)
            weights = None
        tasks.append(delayed(_fit_one)(expert, X, y, rows, weights))
    return Parallel(n_jobs=n_jobs)(tasks)
