"""``summary()`` of mixtures of GLM experts: logistic (the classifier) and
Poisson (the regressor with ``likelihood="poisson"``)."""

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ._array_utils import to_host
from ._glm_information import standard_errors
from ._inference import coefficient_frame, match_experts, warm_refit


def glm_parameters(moe, kind):
    """The parameter vector of ``_glm_information`` from a fitted mixture.

    Raises a TypeError for experts without GLM coefficients or a gate other
    than the built-in softmax.
    """
    n_classes = len(moe.classes_) if kind == "logit" else None
    blocks = []
    for expert in moe.experts_:
        coef = getattr(expert, "coef_", None)
        classes = getattr(expert, "classes_", None)
        if coef is None or (kind == "logit" and len(classes) != n_classes):
            raise TypeError(
                "Standard errors from the information matrix need "
                f"{'logistic' if kind == 'logit' else 'Poisson GLM'} experts "
                f"with coefficients{' that know every class' * (kind == 'logit')}"
                f"; {type(expert).__name__} does not qualify."
            )
        coef = np.atleast_2d(to_host(coef))
        intercept = np.atleast_1d(to_host(expert.intercept_))
        weights = np.column_stack([intercept, coef])  # (1 or C, d + 1)
        if kind == "logit" and n_classes > 2:
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


def _index(n_experts, outputs, names, gate_names):
    index = []
    for k in range(n_experts):
        for output in outputs:
            part = f"expert {k}" if output is None else f"expert {k}, class {output}"
            index += [(part, term) for term in ["intercept", *names]]
    for k in range(1, n_experts):
        index += [(f"gate {k}", term) for term in ["intercept", *gate_names]]
    return pd.MultiIndex.from_tuples(index, names=["part", "term"])


def _matched(theta, reference, n_experts, block):
    """A replicate's vector with its experts ordered as the reference's."""
    experts = theta[: n_experts * block].reshape(n_experts, block)
    order = match_experts(reference, experts)
    gate = theta[n_experts * block :].reshape(n_experts - 1, -1)
    gate = np.vstack([np.zeros((1, gate.shape[1])), gate])[order]
    return np.concatenate([experts[order].ravel(), (gate[1:] - gate[0]).ravel()])


def glm_summary(moe, kind, data, method, n_boot, random_state):
    """The coefficient table of a mixture of GLM experts (see ``summary``).

    Parameters
    ----------
    moe : fitted estimator
    kind : {"logit", "poisson"}
    data : dict
        ``X`` (the fit's input, dense host), ``expert_X`` and ``gate_X``
        (their columns), ``targets`` (class indices or counts), ``labels``
        (the targets as ``fit`` takes them), ``sample_weight``, ``names``
        and ``gate_names``.
    method : {"information", "bootstrap"}
    n_boot : int
    random_state : int, RandomState instance or None
    """
    weights = data["sample_weight"]
    theta = glm_parameters(moe, kind)
    n_experts = moe.n_experts_
    outputs = (
        [None]
        if kind == "poisson" or len(moe.classes_) == 2
        else list(moe.classes_[1:])
    )
    if method == "information":
        shape = (kind, n_experts, len(outputs))
        error = standard_errors(
            theta, data["expert_X"], data["targets"], data["gate_X"], shape, weights
        )
    else:
        block = len(outputs) * (data["expert_X"].shape[1] + 1)
        reference = theta[: n_experts * block].reshape(n_experts, block)
        rng = check_random_state(random_state)
        replicates = []
        for _ in range(n_boot):
            rows = rng.randint(0, len(weights), size=len(weights))
            replicate = warm_refit(moe, data, rows)
            replicates.append(
                _matched(glm_parameters(replicate, kind), reference, n_experts, block)
            )
        error = np.std(replicates, axis=0, ddof=1)
    return coefficient_frame(
        theta, error, _index(n_experts, outputs, data["names"], data["gate_names"])
    )
