"""Generalized EM for experts that continue training.

Refitting a neural network or a boosted ensemble from scratch at every
M-step costs a full fit per EM iteration. Experts that can continue from
their previous fit take a *partial* M-step instead (generalized EM, Dempster
et al., 1977): a bounded slice of training (epochs, trees) on the new
responsibilities, started from where the last M-step left off. Over a run an
expert spends the training budget its own parameters give it (``max_iter``
epochs or trees, ``n_estimators`` stages) in slices; once it is spent, the
expert is held and EM goes on with the gate and the family's parameters
alone (keeping an expert is a legitimate, if trivial, partial M-step).

Which experts continue, and how (:func:`continuation`):

- ``MLPRegressor`` / ``MLPClassifier`` with a stochastic solver ("adam",
  "sgd") and ``early_stopping=False``: ``warm_start=True`` with ``max_iter``
  set to the slice's epochs. The budget is the user's ``max_iter``; the
  epochs spent are ``len(loss_curve_)``, which counts every epoch since the
  network was initialised. ``n_iter_no_change`` is lifted for the slices:
  its test compares the loss under the current weights with the best loss
  under earlier ones, which says nothing once the responsibilities move.
  Instead an expert whose last slice (at fixed weights) lowered its loss
  by less than its ``tol`` has converged, and is held from then on
  (:func:`has_converged`).
- ``HistGradientBoostingRegressor`` / ``HistGradientBoostingClassifier``
  with ``early_stopping`` "auto" or False and no categorical features:
  ``warm_start=True``, ``max_iter`` raised by the slice's trees, early
  stopping off. The new trees are fitted to the gradient of the loss under
  the new weights at the current predictions: a boosting step on the new
  M-step objective. It is one only if every fit bins the features alike:
  the trees already grown are evaluated on the new fit's bins. Histogram
  boosting bins by *weighted* quantiles, which move with the
  responsibilities (measured: a continued fit then raises the weighted
  loss it should lower). So these experts are fitted on features binned
  once, by the unweighted quantiles (:func:`bin_features`): each value
  rounded to the nearest of at most ``max_bins`` representative values,
  which makes the estimator's own bins the midpoints between them, the same
  at every M-step, and its splits route the raw features exactly as the
  rounded ones on every training row. One row holding each representative
  value takes part in every fit (with a negligible weight if the expert is
  not responsible for it), so that no bin disappears.
- ``GradientBoostingRegressor`` / ``GradientBoostingClassifier`` with
  ``n_iter_no_change=None``: the same with ``n_estimators``.

Every other expert (and these with the options named) is refitted from
scratch at every M-step. The experts returned carry the user's parameter
values (``warm_start``, ``max_iter``...): only their fitting is continued.
"""

import math
import warnings
from typing import NamedTuple

import numpy as np
from scipy import sparse
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

#: Share of a network's training budget (epochs) spent by the first M-step
#: of a run (from the initial partition), and by each later one.
NETWORK_SHARES = (0.25, 0.05)

#: The same for boosting (trees): a fifth on the start's responsibilities,
#: then all the rest at the next M-step. Trees are never unlearnt: those
#: grown on a rough partition stay in the model, so few are spent on it,
#: and each continued fit evaluates all trees on the training rows before
#: growing new ones (and the E-step again): two slices in all.
BOOSTING_SHARES = (0.2, 1.0)

#: With such experts, ``n_init`` runs are compared after this many EM
#: iterations past the first M-step, and only the best goes on: a run
#: spends most of its cost in its first M-steps, so that a full run per
#: restart would multiply the fit's time by ``n_init``. Networks (a quarter
#: of their epochs in the first M-step, a twentieth per later one) after
#: one; boosting (a fifth of its trees, then all the rest) after none.
NETWORK_SCREEN = 1
BOOSTING_SCREEN = 0

#: Weight, relative to the largest, of the rows that take part in a fit only
#: so that every bin of a boosting expert's features is present.
ANCHOR_WEIGHT = 1e-10


class Continuation(NamedTuple):
    """How an expert continues its training from one M-step to the next.

    Attributes
    ----------
    budget : str
        The parameter holding the expert's total training budget.
    cumulative : bool
        True if that parameter counts the whole model (trees: a continued
        fit raises it), False if it counts one fit's work (epochs).
    working : dict
        Parameter values the expert takes while it is being continued.
    shares : tuple of float
        Share of the budget spent by the first M-step of a run, and by each
        later one.
    screen : int
        EM iterations after which ``n_init`` runs are compared (the screen
        of ``NETWORK_SCREEN`` and ``BOOSTING_SCREEN``).
    max_bins : int or None
        Bins per feature of experts fitted on binned features (histogram
        boosting), else None.
    """

    budget: str
    cumulative: bool
    working: dict
    shares: tuple
    screen: int
    max_bins: object = None


def continuation(estimator):
    """How ``estimator`` continues training, or None (refitted every M-step).

    Parameters
    ----------
    estimator : estimator
        An expert (its type and parameters decide).

    Returns
    -------
    continuation : Continuation or None
    """
    params = estimator.get_params()
    kind = type(estimator)
    if kind in (MLPRegressor, MLPClassifier):
        if params["solver"] == "lbfgs" or params["early_stopping"]:
            return None
        working = {"warm_start": True, "n_iter_no_change": np.iinfo(np.int32).max}
        return Continuation("max_iter", False, working, NETWORK_SHARES, NETWORK_SCREEN)
    if kind in (HistGradientBoostingRegressor, HistGradientBoostingClassifier):
        categorical = params["categorical_features"]
        # Only numeric features are binned (an array of indices or a mask
        # names categorical ones).
        numeric = categorical is None or (
            isinstance(categorical, str) and categorical == "from_dtype"
        )
        if params["early_stopping"] is True or not numeric:
            return None
        working = {"warm_start": True, "early_stopping": False}
        return Continuation(
            "max_iter",
            True,
            working,
            BOOSTING_SHARES,
            BOOSTING_SCREEN,
            params["max_bins"],
        )
    if kind in (GradientBoostingRegressor, GradientBoostingClassifier):
        if params["n_iter_no_change"] is not None:
            return None
        return Continuation(
            "n_estimators", True, {"warm_start": True}, BOOSTING_SHARES, BOOSTING_SCREEN
        )
    return None


def work_done(expert, how):
    """Training already spent by ``expert`` (epochs or trees; 0 if unfitted).

    Read from public fitted attributes that count every epoch or tree since
    the model was initialised.
    """
    if how.budget == "n_estimators":
        return int(getattr(expert, "n_estimators_", 0))
    if how.cumulative:
        return int(getattr(expert, "n_iter_", 0))
    return len(getattr(expert, "loss_curve_", ()))


def has_converged(expert, how):
    """Whether ``expert``'s last slice of epochs lowered its loss by < ``tol``.

    Only networks record their loss per epoch (``loss_curve_``); within one
    slice the responsibilities are fixed, so the losses compare.
    """
    curve = getattr(expert, "loss_curve_", None)
    if how.cumulative or curve is None:
        return False
    # Parameters read as the attributes scikit-learn keeps them in: no
    # get_params at every M-step of every held expert.
    total = int(getattr(expert, how.budget))
    last = min(len(curve), slice_size(total, 1, how.shares))
    return last >= 2 and curve[-last] - curve[-1] < expert.tol


def slice_size(total, spent, shares):
    """Work of the next partial M-step: a share of ``total``, within what is left.

    Parameters
    ----------
    total : int
        The expert's training budget.
    spent : int
        The work it has done so far.
    shares : tuple of float
        Share of ``total`` for an expert that has done no work, and for one
        that has.

    Returns
    -------
    work : int
        0 once the budget is spent.
    """
    share = shares[1] if spent > 0 else shares[0]
    return max(0, min(total - spent, max(1, math.ceil(share * total))))


class BinnedFeatures(NamedTuple):
    """Features rounded to representative values, and rows holding each one."""

    values: np.ndarray
    anchors: np.ndarray


def bin_features(X, rows, max_bins):
    """Round each column of X to the nearest of ``max_bins`` representatives.

    The representatives of a column are values of it at evenly spaced
    (unweighted) quantiles of ``X[rows]``; a column with fewer distinct
    values keeps them. Missing values stay missing.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    rows : ndarray of int
        The rows whose values choose the representatives (positive weight).
    max_bins : int

    Returns
    -------
    binned : BinnedFeatures
        ``values`` (n, d), and ``anchors``: sorted indices of rows (among
        ``rows``) holding every representative value of every column.
    """
    X = np.asarray(X, dtype=np.float64)
    values = np.array(X)
    anchors = []
    levels = np.linspace(0.0, 1.0, max_bins)
    for column in range(X.shape[1]):
        observed = X[rows, column]
        observed = observed[~np.isnan(observed)]
        if observed.size == 0:
            continue
        quantiles = np.quantile(observed, levels, method="inverted_cdf")
        representatives = np.unique(quantiles)
        cuts = (representatives[:-1] + representatives[1:]) / 2
        present = ~np.isnan(X[:, column])
        nearest = np.searchsorted(cuts, X[present, column], side="left")
        values[present, column] = representatives[nearest]
        # Each representative is a value of some row in ``rows``: its own.
        holders = rows[~np.isnan(X[rows, column])]
        in_rows = np.searchsorted(cuts, X[holders, column], side="left")
        first = np.unique(in_rows, return_index=True)[1]
        anchors.append(holders[first])
    anchors = np.unique(np.concatenate(anchors)) if anchors else np.array([], int)
    return BinnedFeatures(values, anchors)


def needs_fit(expert, how):
    """Whether ``expert``'s next M-step does any work (else it is held).

    An unfitted expert is always fitted; a fitted one is held once its
    budget is spent or it has converged (:func:`has_converged`).
    """
    spent = work_done(expert, how)
    if spent == 0:
        return True
    work = slice_size(int(getattr(expert, how.budget)), spent, how.shares)
    return not (work == 0 or has_converged(expert, how))


def continue_fit(expert, how, fit_one, X, y, rows, weights, wider_rows):
    """Continue ``expert``'s training by one slice on the M-step's weights.

    The expert takes its working parameters for the fit and gets the user's
    back afterwards; if its budget is spent it is returned unchanged.

    Parameters
    ----------
    expert : estimator
    how : Continuation
    fit_one : callable
        ``fit_one(expert, X, y, rows, weights, wider_rows) -> fitted``.
    X : ndarray or BinnedFeatures
        Features; binned ones for experts with ``how.max_bins``.
    y, rows, weights, wider_rows :
        As ``fit_one`` takes them.

    Returns
    -------
    expert : fitted estimator
    """
    if not needs_fit(expert, how):
        return expert
    spent = work_done(expert, how)
    work = slice_size(int(getattr(expert, how.budget)), spent, how.shares)
    user = {name: expert.get_params()[name] for name in (how.budget, *how.working)}
    if isinstance(X, BinnedFeatures):
        weights = np.array(weights)
        weights[X.anchors] = np.maximum(
            weights[X.anchors], ANCHOR_WEIGHT * weights.max()
        )
        rows = np.union1d(rows, X.anchors)
        X = X.values
    budget = spent + work if how.cumulative else work
    expert.set_params(**how.working, **{how.budget: budget})
    try:
        with warnings.catch_warnings():
            # A slice ends before the expert has converged, by design.
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = fit_one(expert, X, y, rows, weights, wider_rows)
    finally:
        expert.set_params(**user)
    # An expert that could not be fitted comes back as a constant holding a
    # fresh copy of it, made with the working parameters.
    replaced = getattr(fitted, "replaced_estimator_", None)
    if fitted is not expert and replaced is not None:
        replaced.set_params(**user)
    return fitted


class ContinuationState:
    """What experts that continue training keep between the M-steps of a run.

    - The binned features of boosting experts (:func:`bin_features`), made
      once per training matrix and ``max_bins``.
    - Each continuing expert's predictions on the training rows: an expert
      whose budget is spent is returned unchanged by every later M-step, and
      its predictions (what the E-step reads) are kept rather than
      recomputed. An entry is valid while the expert is the same object
      with the same work done.
    """

    def __init__(self):
        self.kept = {}
        self.bins = {}
        self.kinds = {}

    def how(self, expert):
        """``continuation(expert)``, worked out once per expert object."""
        entry = self.kinds.get(id(expert))
        if entry is None or entry[0] is not expert:
            entry = (expert, continuation(expert))
            self.kinds[id(expert)] = entry
        return entry[1]

    def features(self, X, rows, how):
        """What an expert continuing by ``how`` is fitted on: X, or X binned
        by ``bin_features(X, rows, how.max_bins)``, made once per X."""
        if how.max_bins is None or sparse.issparse(X):
            return X  # boosting refuses sparse input with its own error
        max_bins = how.max_bins
        key = (id(X), max_bins)
        entry = self.bins.get(key)
        if entry is None or entry[0] is not X:
            entry = (X, bin_features(X, rows, max_bins))
            self.bins[key] = entry
        return entry[1]

    def predictions(self, expert, compute):
        """``compute(expert)``, or its kept value if the expert has not moved."""
        how = self.how(expert)
        if how is None:
            return compute(expert)
        done = work_done(expert, how)
        entry = self.kept.get(id(expert))
        if entry is not None and entry[0] is expert and entry[1] == done:
            return entry[2]
        value = compute(expert)
        self.kept[id(expert)] = (expert, done, value)
        return value
