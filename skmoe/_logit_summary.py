"""``summary()`` of a mixture of logistic experts: the classifier's table."""

import copy
import warnings

import numpy as np
import pandas as pd
from scipy import sparse, stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._array_utils import to_host
from ._inference import match_experts
from ._logit_mixture import standard_errors


def logistic_parameters(moe):
    """The parameter vector of ``_logit_mixture`` from a fitted classifier.

    Raises a TypeError for experts without logistic coefficients or a gate
    other than the built-in softmax.
    """
    n_classes = len(moe.classes_)
    blocks = []
    for expert in moe.experts_:
        coef = getattr(expert, "coef_", None)
        classes = getattr(expert, "classes_", None)
        if coef is None or classes is None or len(classes) != n_classes:
            raise TypeError(
                "Standard errors from the information matrix need logistic "
                "experts that know every class (LogisticRegression); "
                f"{type(expert).__name__} does not. Use a bootstrap of the "
                "predictions instead."
            )
        coef = np.atleast_2d(to_host(coef))
        intercept = np.atleast_1d(to_host(expert.intercept_))
        weights = np.column_stack([intercept, coef])  # (1 or C, d + 1)
        if n_classes > 2:
            weights = weights[1:] - weights[:1]  # class 0 as the reference
        blocks.append(weights.ravel())
    gate = moe.gate_
    if not hasattr(gate, "coef_"):
        raise TypeError(
            f"Standard errors need the built-in softmax gate; this model's gate "
            f"is {gate!r}."
        )
    gate_weights = np.vstack([to_host(gate.intercept_), to_host(gate.coef_)])
    gate_weights = gate_weights[:, 1:] - gate_weights[:, :1]  # expert 0 reference
    return np.concatenate([*blocks, gate_weights.T.ravel()])


def _index(moe, names):
    classes = moe.classes_
    terms = ["intercept", *names]
    index = []
    for k in range(moe.n_experts_):
        for c in range(1, len(classes)):
            part = (
                f"expert {k}"
                if len(classes) == 2
                else f"expert {k}, class {classes[c]}"
            )
            index += [(part, term) for term in terms]
    for k in range(1, moe.n_experts_):
        index += [(f"gate {k}", term) for term in terms]
    return pd.MultiIndex.from_tuples(index, names=["part", "term"])


def _matched(theta, reference, n_experts, block):
    """A replicate's vector with its experts ordered as the reference's."""
    experts = theta[: n_experts * block].reshape(n_experts, block)
    order = match_experts(reference, experts)
    gate = theta[n_experts * block :].reshape(n_experts - 1, -1)
    gate = np.vstack([np.zeros((1, gate.shape[1])), gate])[order]
    return np.concatenate([experts[order].ravel(), (gate[1:] - gate[0]).ravel()])


def logistic_summary(moe, X, codes, sample_weight, method, n_boot, random_state):
    """The classifier's coefficient table (see ``summary``)."""
    if sparse.issparse(X):
        X = X.toarray()
    weights = (
        np.ones(len(codes))
        if sample_weight is None
        else np.asarray(sample_weight, dtype=float)
    )
    theta = logistic_parameters(moe)
    shape = (moe.n_experts_, len(moe.classes_))
    if method == "information":
        error = standard_errors(theta, X, codes, X, shape, weights)
    else:
        block = (len(moe.classes_) - 1) * (X.shape[1] + 1)
        reference = theta[: moe.n_experts_ * block].reshape(moe.n_experts_, block)
        rng = check_random_state(random_state)
        replicates = []
        for _ in range(n_boot):
            rows = rng.randint(0, len(codes), size=len(codes))
            replicate = copy.deepcopy(moe).set_params(
                warm_start=True, min_expert_weight=0.0, verbose=0
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                replicate.fit(
                    X[rows], moe.classes_[codes[rows]], sample_weight=weights[rows]
                )
            replicates.append(
                _matched(
                    logistic_parameters(replicate), reference, moe.n_experts_, block
                )
            )
        error = np.std(replicates, axis=0, ddof=1)
    names = list(getattr(moe, "feature_names_in_", [])) or [
        f"x{j}" for j in range(X.shape[1])
    ]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = theta / error
    return pd.DataFrame(
        {
            "estimate": theta,
            "std_error": error,
            "z": z,
            "p_value": 2.0 * stats.norm.sf(np.abs(z)),
        },
        index=_index(moe, names),
    )
