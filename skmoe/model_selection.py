"""Choosing the number of experts by an information criterion."""

from numbers import Integral

import numpy as np
from sklearn.base import clone

__all__ = ["select_n_experts"]

_CRITERIA = ("bic", "aic", "icl")


def select_n_experts(estimator, X, y, n_experts=range(1, 6), *, criterion="bic"):
    """Fit a mixture for each number of experts and keep the best by BIC, AIC or ICL.

    The counterpart of flexmix's ``stepFlexmix``: one fit per candidate K
    (each with the estimator's own ``n_init`` restarts), compared by an
    information criterion on the training data. BIC (the default) is
    consistent for the number of components; AIC tends to choose more; ICL
    (BIC penalised by the overlap of the experts, as flexmix's ``ICL``)
    prefers well-separated regimes. All need experts with a known number of
    parameters (linear models and GLMs) and the built-in gate.

    Parameters
    ----------
    estimator : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        Cloned for each candidate, with ``n_experts`` set.
    X : array-like of shape (n_samples, n_features)
        Training data.
    y : array-like of shape (n_samples,)
        Target values.
    n_experts : iterable of int, default=range(1, 6)
        The candidate numbers of experts.
    criterion : {"bic", "aic", "icl"}, default="bic"
        The information criterion that picks the best candidate (lower is
        better).

    Returns
    -------
    best : estimator
        The fitted estimator with the lowest criterion.
    results : pandas.DataFrame
        One row per candidate, indexed by ``n_experts``: ``log_likelihood``,
        ``n_parameters``, ``bic``, ``aic``, ``icl`` and ``converged``.

    See Also
    --------
    skmoe.MixtureOfExpertsRegressor.bic : The criterion of one fitted mixture.
    sklearn.model_selection.GridSearchCV : Cross-validation over
        ``n_experts``, for experts whose parameters BIC cannot count.

    Examples
    --------
    >>> from skmoe import MixtureOfExpertsRegressor, select_n_experts
    >>> from skmoe.datasets import load_mcycle
    >>> X, y = load_mcycle(return_X_y=True)
    >>> best, results = select_n_experts(
    ...     MixtureOfExpertsRegressor(n_init=5, random_state=0), X, y, range(1, 4)
    ... )
    >>> list(results.columns)
    ['log_likelihood', 'n_parameters', 'bic', 'aic', 'icl', 'converged']
    >>> best.n_experts == int(results["bic"].idxmin())
    True
    """
    import pandas as pd

    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {_CRITERIA}; got {criterion!r}.")
    candidates = sorted(set(n_experts))
    if not candidates or not all(
        isinstance(k, Integral) and not isinstance(k, bool) and k >= 1
        for k in candidates
    ):
        raise ValueError(
            f"n_experts must be a non-empty collection of positive integers; "
            f"got {n_experts!r}."
        )
    rows, fitted = [], {}
    for k in candidates:
        model = clone(estimator).set_params(n_experts=k).fit(X, y)
        fitted[k] = model
        aic = model.aic(X, y)
        log_likelihood = float(np.sum(model.log_likelihood(X, y)))
        rows.append(
            {
                "log_likelihood": model.log_likelihood_,
                # aic = -2 log L + 2 n_parameters, on the same data
                "n_parameters": int(round((aic + 2 * log_likelihood) / 2)),
                "bic": model.bic(X, y),
                "aic": aic,
                "icl": model.icl(X, y),
                "converged": model.converged_,
            }
        )
    results = pd.DataFrame(rows, index=pd.Index(candidates, name="n_experts"))
    best = int(results.index[np.argmin(results[criterion].to_numpy())])
    return fitted[best], results
