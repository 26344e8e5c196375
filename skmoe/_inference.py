"""Standard errors of a gated mixture of linear regressions.

Two routes, both returning the same table:

- :func:`coefficient_table`: the inverse of the observed information (minus
  the analytic Hessian of :mod:`skmoe._mixture_likelihood`) at the fitted
  parameters, as R's flexmix ``summary(refit(m))`` computes it by optim's
  numerical Hessian in the same parameterisation (coefficients, log(sigma),
  gate columns 1..K-1).
- :func:`bootstrap_table`: the spread of refits on resampled rows, each
  replicate's experts matched to the fitted ones to undo label switching.

As in flexmix's ``summary(refit(m))``, the tables show the regression and gate
coefficients; the ``log(sigma)`` parameters enter the information matrix but
are shown only with ``include_dispersion=True``. The estimates are the
parameters as given: the caller passes maximum likelihood estimates (flexmix
re-maximises before differentiating, because its sigma is df-corrected).
"""

import copy
import numbers
import warnings

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._array_utils import to_host
from ._mixture_likelihood import (
    MixtureParameters,
    _as_parameters,
    _check_data,
    mixture_log_likelihood,
    mixture_score,
    observed_information,
    pack_parameters,
    unpack_parameters,
)

__all__ = [
    "MixtureParameters",
    "bootstrap_table",
    "coefficient_table",
    "covariance_from_information",
    "match_experts",
    "mixture_log_likelihood",
    "mixture_score",
    "observed_information",
    "pack_parameters",
    "unpack_parameters",
]


def covariance_from_information(information):
    """Invert the observed information; pseudo-inverse with a warning if singular.

    Parameters
    ----------
    information : array-like of shape (n_parameters, n_parameters)

    Returns
    -------
    covariance : ndarray of shape (n_parameters, n_parameters)
    """
    information = np.asarray(information, dtype=float)
    if information.ndim != 2 or information.shape[0] != information.shape[1]:
        raise ValueError(
            f"information must be a square matrix; got {information.shape}."
        )
    information = 0.5 * (information + information.T)
    eigenvalues = linalg.eigvalsh(information)
    threshold = information.shape[0] * np.finfo(float).eps * np.max(np.abs(eigenvalues))
    if eigenvalues.min() > threshold:
        return linalg.cho_solve(
            linalg.cho_factor(information), np.eye(information.shape[0])
        )
    warnings.warn(
        "The observed information is singular or not positive definite (smallest "
        f"eigenvalue {eigenvalues.min():.3g}): the parameters are not a strict "
        "maximum of the likelihood or not identified. Using a pseudo-inverse; the "
        "standard errors are unreliable.",
        UserWarning,
        stacklevel=2,
    )
    return np.linalg.pinv(information, hermitian=True)


def _names(names, count, prefix, argument):
    if names is None:
        return [f"{prefix}{j}" for j in range(count)]
    names = [str(name) for name in names]
    if len(names) != count:
        raise ValueError(f"{argument} must have {count} names; got {len(names)}.")
    return names


def _table(
    theta, std_error, n_experts, feature_names, gate_feature_names, include_dispersion
):
    """Coefficient table from a parameter vector and its standard errors."""
    index, keep = [], []
    position = 0
    for k in range(n_experts):
        for term in ["intercept", *feature_names]:
            index.append((f"expert {k}", term))
            keep.append(position)
            position += 1
        if include_dispersion:
            index.append((f"expert {k}", "log(sigma)"))
            keep.append(position)
        position += 1
    for k in range(1, n_experts):
        for term in ["intercept", *gate_feature_names]:
            index.append((f"gate {k}", term))
            keep.append(position)
            position += 1
    return coefficient_frame(
        theta[keep],
        std_error[keep],
        pd.MultiIndex.from_tuples(index, names=["part", "term"]),
    )


def coefficient_frame(estimate, std_error, index):
    """The coefficient table: estimates, standard errors, z and two-sided
    normal p-values, one row per entry of ``index``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = estimate / std_error
    return pd.DataFrame(
        {
            "estimate": estimate,
            "std_error": std_error,
            "z": z,
            "p_value": 2.0 * stats.norm.sf(np.abs(z)),
        },
        index=index,
    )


def coefficient_table(
    parameters,
    X,
    y,
    Z,
    *,
    sample_weight=None,
    feature_names=None,
    gate_feature_names=None,
    include_dispersion=False,
):
    """Coefficients with standard errors from the observed information.

    Parameters
    ----------
    parameters : MixtureParameters or dict
        The fitted (maximum likelihood) parameters, evaluated as given.
    X : array-like of shape (n_samples, n_expert_features)
        The experts' features (no intercept column).
    y : array-like of shape (n_samples,)
    Z : array-like of shape (n_samples, n_gate_features)
        The gate's features (no intercept column); 0 columns for an
        intercept-only gate.
    sample_weight : array-like of shape (n_samples,), default=None
    feature_names, gate_feature_names : sequence of str, default=None
        Names of the columns of ``X`` and ``Z`` (default ``x0, ...`` and
        ``z0, ...``).
    include_dispersion : bool, default=False
        Also show each expert's ``log(sigma)`` row. flexmix does not print
        these; they always enter the information matrix.

    Returns
    -------
    table : pandas.DataFrame
        Index ``(part, term)``: parts ``"expert 0"``, ..., ``"gate 1"``, ...,
        ``"gate K-1"`` (gate 0 is the reference, fixed at 0), terms
        ``"intercept"`` then the feature names. Columns ``estimate``,
        ``std_error``, ``z`` and ``p_value`` (two-sided, normal).
    """
    params = _as_parameters(parameters)
    X, y, Z, sample_weight = _check_data(X, y, Z, sample_weight)
    n_experts = params.expert_intercept.shape[0]
    if (
        params.expert_coef.shape[1] != X.shape[1]
        or params.gate_coef.shape[1] != Z.shape[1]
    ):
        raise ValueError(
            "parameters do not match the data: expert_coef has "
            f"{params.expert_coef.shape[1]} columns for X's {X.shape[1]}, "
            f"gate_coef {params.gate_coef.shape[1]} for Z's {Z.shape[1]}."
        )
    theta = pack_parameters(params)
    information = observed_information(theta, X, y, Z, n_experts, sample_weight)
    variance = np.diag(covariance_from_information(information))
    # A pseudo-inverse of an indefinite matrix can give negative variances.
    std_error = np.sqrt(np.where(variance >= 0, variance, np.nan))
    return _table(
        theta,
        std_error,
        n_experts,
        _names(feature_names, X.shape[1], "x", "feature_names"),
        _names(gate_feature_names, Z.shape[1], "z", "gate_feature_names"),
        include_dispersion,
    )


def match_experts(reference, candidate):
    """Permutation of ``candidate``'s experts closest to ``reference``'s.

    Parameters
    ----------
    reference, candidate : array-like of shape (n_experts, n_coefficients)
        One coefficient vector (intercept and coefficients) per expert.

    Returns
    -------
    order : ndarray of shape (n_experts,)
        ``candidate[order]`` lines up with ``reference``: the assignment
        minimising the total squared Euclidean distance.
    """
    reference = np.asarray(reference, dtype=float)
    candidate = np.asarray(candidate, dtype=float)
    if reference.ndim != 2 or reference.shape != candidate.shape:
        raise ValueError(
            "reference and candidate must be 2-D arrays of the same shape; got "
            f"{reference.shape} and {candidate.shape}."
        )
    cost = np.sum((reference[:, None, :] - candidate[None, :, :]) ** 2, axis=2)
    _, order = optimize.linear_sum_assignment(cost)
    return order


def bootstrap_table(
    refit,
    parameters,
    n_samples,
    *,
    n_boot=100,
    random_state=None,
    feature_names=None,
    gate_feature_names=None,
    include_dispersion=False,
    return_replicates=False,
):
    """Coefficients with bootstrap standard errors.

    Each replicate draws ``n_samples`` row indices with replacement, calls
    ``refit(indices)``, reorders the replicate's experts to the fitted ones
    (:func:`match_experts` on intercept and coefficients, so that label
    switching does not inflate the spread), re-expresses its gate with the
    matched expert 0 as the reference, and packs it as in
    :func:`pack_parameters`. The standard error is the standard deviation of
    the replicates (``ddof=1``).

    Parameters
    ----------
    refit : callable
        ``refit(indices) -> MixtureParameters or dict`` fits the model to the
        rows ``indices`` (an int array of shape (n_samples,), with repeats);
        the estimator warm-starts it from the fitted parameters.
    parameters : MixtureParameters or dict
        The fitted parameters: the estimates and the matching target.
    n_samples : int
        Number of rows of the training data.
    n_boot : int, default=100
        Number of replicates, at least 2.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling.
    feature_names, gate_feature_names : sequence of str, default=None
        As in :func:`coefficient_table`.
    include_dispersion : bool, default=False
        As in :func:`coefficient_table`.
    return_replicates : bool, default=False
        Also return the matched replicates.

    Returns
    -------
    table : pandas.DataFrame
        As :func:`coefficient_table`, with bootstrap standard errors.
    replicates : ndarray of shape (n_boot, n_parameters)
        Only with ``return_replicates=True``: the packed, matched replicates.
    """
    if not callable(refit):
        raise TypeError(f"refit must be callable; got {type(refit).__name__}.")
    for name, value, minimum in (("n_samples", n_samples, 1), ("n_boot", n_boot, 2)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer; got {value!r}.")
        if value < minimum:
            raise ValueError(f"{name} must be at least {minimum}; got {value}.")
    fitted = _as_parameters(parameters)
    n_experts, n_features = fitted.expert_coef.shape
    n_gate_features = fitted.gate_coef.shape[1]
    reference = np.column_stack([fitted.expert_intercept, fitted.expert_coef])
    rng = check_random_state(random_state)
    replicates = []
    for _ in range(n_boot):
        replicate = _as_parameters(refit(rng.randint(0, n_samples, size=n_samples)))
        if replicate.expert_coef.shape != (n_experts, n_features) or (
            replicate.gate_coef.shape != (n_experts, n_gate_features)
        ):
            raise ValueError(
                "refit returned parameters of another shape than the fitted ones."
            )
        candidate = np.column_stack([replicate.expert_intercept, replicate.expert_coef])
        order = match_experts(reference, candidate)
        replicates.append(
            pack_parameters(MixtureParameters(*(a[order] for a in replicate)))
        )
    replicates = np.asarray(replicates)
    table = _table(
        pack_parameters(fitted),
        np.std(replicates, axis=0, ddof=1),
        n_experts,
        _names(feature_names, n_features, "x", "feature_names"),
        _names(gate_feature_names, n_gate_features, "z", "gate_feature_names"),
        include_dispersion,
    )
    return (table, replicates) if return_replicates else table


# Parameters that make the gate or the experts see some features only.
def warm_refit(moe, data, rows):
    """A copy of fitted ``moe`` refitted on ``rows``, warm-started from it.

    Every expert is kept (``min_expert_weight=0``), so that the replicate's
    experts can be matched to the fitted ones; its ConvergenceWarnings are
    silenced (a bootstrap replicate need not converge to be informative).
    ``data`` is ``summary``'s: ``X``, ``labels`` (targets as ``fit`` takes
    them) and ``sample_weight``.
    """
    replicate = copy.deepcopy(moe).set_params(
        warm_start=True, min_expert_weight=0.0, verbose=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        replicate.fit(
            data["X"][rows],
            data["labels"][rows],
            sample_weight=data["sample_weight"][rows],
        )
    return replicate


def linear_mixture_parameters(moe, X=None, *, any_family=False):
    """The fitted parameters of a regressor with Gaussian experts, raw units.

    Parameters
    ----------
    moe : MixtureOfExpertsRegressor
        Fitted, with Gaussian noise and the built-in softmax gate.
    X : ndarray of shape (n_samples, n_features), default=None
        Given, experts without coefficients (trees, networks...) are
        summarised by their mean prediction on X (an intercept, no
        coefficients), which is enough to match bootstrap replicates'
        experts to these; without it they raise a TypeError.
    any_family : bool, default=False
        Accept any likelihood, its own parameters replaced by ones (for the
        bootstrap, which tabulates coefficients only).

    Returns
    -------
    parameters : MixtureParameters
    """
    experts, gate = moe.experts_, moe.gate_
    likelihood = getattr(moe, "likelihood_", "gaussian")
    if likelihood != "gaussian" and not any_family:
        raise TypeError(
            "Standard errors from the information matrix are derived for "
            f"Gaussian and Poisson experts; this model's likelihood is "
            f'{likelihood!r}: use summary(X, y, method="bootstrap").'
        )
    if not hasattr(gate, "coef_"):
        raise TypeError(
            f"Standard errors need the built-in softmax gate (gate=None or "
            f"LogisticRegression); this model's gate is {gate!r}."
        )
    if all(hasattr(expert, "coef_") for expert in experts):
        intercept = np.array([float(e.intercept_) for e in experts])
        coef = np.stack([to_host(e.coef_).ravel() for e in experts])
    elif X is not None:
        intercept = np.array([float(np.mean(e.predict(X))) for e in experts])
        coef = np.empty((len(experts), 0))
    else:
        raise TypeError(
            f"Standard errors from the information matrix need experts with "
            f"coefficients (linear models); {type(experts[0]).__name__} has "
            'none. summary(X, y, method="bootstrap") gives the gate\'s '
            "coefficients with bootstrap standard errors."
        )
    return MixtureParameters(
        expert_intercept=intercept,
        expert_coef=coef,
        noise_variance=(
            to_host(moe.noise_variance_)
            if likelihood == "gaussian"
            else np.ones(len(experts))
        ),
        gate_intercept=to_host(gate.intercept_),
        gate_coef=to_host(gate.coef_).T,
    )
