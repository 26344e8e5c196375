"""The neural gate's maths in numpy: the reference its numba twins must match.

A multilayer perceptron with a softmax output, trained on soft targets (the
responsibilities of the E-step). Its parameters travel as one flat vector,
the form scipy's L-BFGS takes: layer after layer, the weights ``coef`` of
shape (fan_in, fan_out) in C order, then the intercepts (fan_out,).
``layer_sizes`` is ``(n_features, *hidden_layer_sizes, n_experts)``.

The network sees standardised features, ``(X - mean) / scale``; the kernels
take ``mean`` and ``scale`` rather than a standardised copy of X, so that
the numba twins never hold one.

``_mlp_numba.py`` implements the two kernels, ``mlp_log_softmax`` and
``mlp_objective``, with the same signatures and result types; the helpers
here (packing, penalty, standardisation) cost no pass that matters and serve
both.
"""

from typing import NamedTuple

import numpy as np

#: Hidden-layer activations the kernels know.
ACTIVATIONS = ("relu", "tanh")


class MLPObjective(NamedTuple):
    """Value and gradient of the penalised soft-target log-likelihood.

    Attributes
    ----------
    value : float
        ``sum_i w_i sum_k R_ik log g_k(x_i) - alpha / 2 * ||weights||^2``.
    gradient : ndarray of shape (n_params,)
        Its gradient with respect to the flat parameter vector.
    """

    value: float
    gradient: np.ndarray


def n_params(layer_sizes):
    """Length of the flat parameter vector of a network of these layer sizes."""
    return sum(
        (fan_in + 1) * fan_out
        for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:])
    )


def unpack(params, layer_sizes):
    """Views ``[(coef, intercept), ...]``, one pair per layer, of a flat vector.

    Parameters
    ----------
    params : ndarray of shape (n_params,)
    layer_sizes : sequence of int
        ``(n_features, *hidden_layer_sizes, n_outputs)``.

    Returns
    -------
    layers : list of (ndarray of shape (fan_in, fan_out), ndarray of shape (fan_out,))
    """
    if params.shape != (n_params(layer_sizes),):
        raise ValueError(
            f"params has shape {params.shape}; layer sizes {tuple(layer_sizes)} "
            f"need ({n_params(layer_sizes)},)."
        )
    layers = []
    start = 0
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        coef = params[start : start + fan_in * fan_out].reshape(fan_in, fan_out)
        start += fan_in * fan_out
        layers.append((coef, params[start : start + fan_out]))
        start += fan_out
    return layers


def pack(coefs, intercepts):
    """The flat parameter vector of lists of weights and intercepts (a copy)."""
    return np.concatenate(
        [
            part
            for coef, intercept in zip(coefs, intercepts)
            for part in (np.ravel(coef), np.ravel(intercept))
        ]
    ).astype(np.float64, copy=False)


def weight_mask(layer_sizes):
    """True at the weights of the flat vector, False at the intercepts.

    The penalty ``alpha / 2 * ||weights||^2`` applies to the weights only,
    as in scikit-learn's ``MLPClassifier``.
    """
    return np.concatenate(
        [
            np.repeat([True, False], [fan_in * fan_out, fan_out])
            for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:])
        ]
    )


def add_penalty(value, gradient, params, layer_sizes, alpha):
    """``MLPObjective`` of the penalised objective, from the unpenalised one.

    Shared by both twins: the penalty costs O(n_params), no pass over the data.
    """
    weights = np.where(weight_mask(layer_sizes), params, 0.0)
    return MLPObjective(
        float(value) - 0.5 * alpha * float(weights @ weights),
        gradient - alpha * weights,
    )


def weighted_standardisation(X, sample_weight):
    """Weighted mean and standard deviation of each column (scale 1 if constant).

    Column by column, so that no copy of X is made.

    Parameters
    ----------
    X : ndarray of shape (n, n_features)
    sample_weight : ndarray of shape (n,)
        Non-negative, with a positive sum.

    Returns
    -------
    mean, scale : ndarray of shape (n_features,)
    """
    total = sample_weight.sum()
    mean = (sample_weight @ X) / total
    scale = np.empty(X.shape[1])
    for j in range(X.shape[1]):
        scale[j] = np.sqrt(sample_weight @ (X[:, j] - mean[j]) ** 2 / total)
    scale[~(scale > 1e-12 * np.maximum(np.abs(mean), 1.0))] = 1.0
    return mean, scale


def _log_softmax(logits):
    largest = np.max(logits, axis=1, keepdims=True)
    largest = np.where(np.isfinite(largest), largest, 0.0)
    shifted = logits - largest
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


def _forward(X, mean, scale, layers, activation):
    """Hidden activations (the input first) and output log-probabilities."""
    hidden = (X - mean) / scale
    activations = [hidden]
    for coef, intercept in layers[:-1]:
        hidden = hidden @ coef + intercept
        if activation == "relu":
            np.maximum(hidden, 0.0, out=hidden)
        else:
            np.tanh(hidden, out=hidden)
        activations.append(hidden)
    coef, intercept = layers[-1]
    return activations, _log_softmax(hidden @ coef + intercept)


def mlp_log_softmax(X, mean, scale, params, layer_sizes, activation):
    """Log-probabilities of the network's softmax output, shape (n, n_outputs).

    Parameters
    ----------
    X : ndarray of shape (n, n_features)
        Raw features.
    mean, scale : ndarray of shape (n_features,)
        Standardisation: the network sees ``(X - mean) / scale``.
    params : ndarray of shape (n_params,)
        Flat parameter vector (see :func:`unpack`).
    layer_sizes : sequence of int
        ``(n_features, *hidden_layer_sizes, n_outputs)``.
    activation : {"relu", "tanh"}
        Activation of the hidden layers.

    Returns
    -------
    log_proba : ndarray of shape (n, n_outputs)
        Rows logsumexp to 0.
    """
    _, log_proba = _forward(X, mean, scale, unpack(params, layer_sizes), activation)
    return log_proba


def mlp_objective(
    X, mean, scale, params, layer_sizes, activation, targets, row_weight, alpha
):
    """Penalised weighted soft-target log-likelihood and its gradient.

    The objective is ``sum_i w_i sum_k R_ik log g_k(x_i) - alpha / 2 *
    ||weights||^2`` (intercepts unpenalised), to be raised; its gradient
    comes by backpropagation. Rows of ``targets`` need not sum to one.

    Parameters
    ----------
    X, mean, scale, params, layer_sizes, activation
        As in :func:`mlp_log_softmax`.
    targets : ndarray of shape (n, n_outputs)
        Soft targets ``R``, non-negative.
    row_weight : ndarray of shape (n,)
        Weight ``w`` of each row.
    alpha : float
        L2 penalty on the weights.

    Returns
    -------
    MLPObjective
    """
    layers = unpack(params, layer_sizes)
    activations, log_proba = _forward(X, mean, scale, layers, activation)
    weighted_targets = targets * row_weight[:, None]
    value = np.sum(weighted_targets * log_proba)
    # d value / d logits: w_i (R_ik - g_ik sum_k R_ik).
    delta = weighted_targets - np.exp(log_proba) * np.sum(
        weighted_targets, axis=1, keepdims=True
    )
    gradients = []
    for layer in range(len(layers) - 1, -1, -1):
        coef, _ = layers[layer]
        inputs = activations[layer]
        gradients.append(np.sum(delta, axis=0))
        gradients.append((inputs.T @ delta).ravel())
        if layer > 0:
            delta = delta @ coef.T
            if activation == "relu":
                delta *= inputs > 0.0
            else:
                delta *= 1.0 - inputs**2
    gradient = np.concatenate(gradients[::-1])
    return add_penalty(value, gradient, params, layer_sizes, alpha)
