"""Log-likelihood, score and Hessian of a gated mixture of linear regressions.

The model, for a sample with expert features ``x`` and gate features ``z``:

    p(y | x, z) = sum_k g_k(z) N(y; [1, x] beta_k, sigma_k^2),
    g(z) = softmax([1, z] W),   column 0 of W fixed at 0 (the reference).

The parameter vector ``theta`` is laid out as R's flexmix lays out the one
its ``refit()`` maximises, so that the two can be compared number for number:

    for k = 0..K-1:  intercept_k, coef_k (n_expert_features), log(sigma_k)
    for l = 1..K-1:  gate intercept_l, gate coef_l (n_gate_features)

Everything here is analytic and works on numpy arrays; :mod:`skmoe._inference`
turns it into standard errors.
"""

import numbers
from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

_ROW_BLOCK_ELEMENTS = 2_000_000


class MixtureParameters(NamedTuple):
    """Fitted parameters of a gated mixture of linear regressions.

    Attributes
    ----------
    expert_intercept : ndarray of shape (n_experts,)
    expert_coef : ndarray of shape (n_experts, n_expert_features)
    noise_variance : ndarray of shape (n_experts,)
        Each expert's sigma^2.
    gate_intercept : ndarray of shape (n_experts,)
    gate_coef : ndarray of shape (n_experts, n_gate_features)
        Softmax gate, one row per expert. Rows may be in any normalisation
        (symmetric, or row 0 at zero): only differences to row 0 matter.
    """

    expert_intercept: np.ndarray
    expert_coef: np.ndarray
    noise_variance: np.ndarray
    gate_intercept: np.ndarray
    gate_coef: np.ndarray


def _as_parameters(parameters):
    """Validate a MixtureParameters (or a dict with its fields) as float arrays."""
    if isinstance(parameters, dict):
        missing = set(MixtureParameters._fields) - set(parameters)
        if missing:
            raise ValueError(f"parameters is missing {sorted(missing)}.")
        parameters = MixtureParameters(
            **{f: parameters[f] for f in MixtureParameters._fields}
        )
    if not isinstance(parameters, MixtureParameters):
        raise TypeError(
            "parameters must be a MixtureParameters or a dict; got "
            f"{type(parameters).__name__}."
        )
    arrays = MixtureParameters(*(np.asarray(a, dtype=float) for a in parameters))
    n_experts = (
        arrays.expert_intercept.shape[0] if arrays.expert_intercept.ndim == 1 else -1
    )
    expected = {
        "expert_intercept": 1,
        "expert_coef": 2,
        "noise_variance": 1,
        "gate_intercept": 1,
        "gate_coef": 2,
    }
    for name, value in zip(MixtureParameters._fields, arrays):
        if value.ndim != expected[name] or value.shape[0] != n_experts or n_experts < 1:
            raise ValueError(
                f"parameters.{name} must have {expected[name]} dimension(s) and "
                f"one row per expert; got shape {value.shape}."
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"parameters.{name} must be finite.")
    if np.any(arrays.noise_variance <= 0):
        raise ValueError("parameters.noise_variance must be positive.")
    return arrays


def pack_parameters(parameters):
    """Flatten fitted parameters into the vector ``theta``.

    Parameters
    ----------
    parameters : MixtureParameters or dict
        The fitted parameters; the gate is re-expressed with expert 0 as
        the reference (its row subtracted from every row).

    Returns
    -------
    theta : ndarray of shape (n_experts * (n_expert_features + 2) +
        (n_experts - 1) * (n_gate_features + 1),)
        See the module docstring for the layout.
    """
    p = _as_parameters(parameters)
    experts = np.column_stack(
        [p.expert_intercept, p.expert_coef, 0.5 * np.log(p.noise_variance)]
    )
    gate = np.column_stack([p.gate_intercept, p.gate_coef])
    gate = gate[1:] - gate[:1]
    return np.concatenate([experts.ravel(), gate.ravel()])


def unpack_parameters(theta, n_experts, n_expert_features, n_gate_features):
    """Inverse of :func:`pack_parameters` (gate row 0 is zero).

    Parameters
    ----------
    theta : array-like of shape (n_parameters,)
    n_experts, n_expert_features, n_gate_features : int

    Returns
    -------
    parameters : MixtureParameters
    """
    theta = np.asarray(theta, dtype=float)
    expert_size, gate_size = n_expert_features + 2, n_gate_features + 1
    size = n_experts * expert_size + (n_experts - 1) * gate_size
    if theta.shape != (size,):
        raise ValueError(
            f"theta must have shape ({size},) for {n_experts} experts, "
            f"{n_expert_features} expert features and {n_gate_features} gate "
            f"features; got {theta.shape}."
        )
    experts = theta[: n_experts * expert_size].reshape(n_experts, expert_size)
    gate = np.vstack(
        [np.zeros(gate_size), theta[n_experts * expert_size :].reshape(-1, gate_size)]
    )
    return MixtureParameters(
        experts[:, 0].copy(),
        experts[:, 1:-1].copy(),
        np.exp(2 * experts[:, -1]),
        gate[:, 0].copy(),
        gate[:, 1:].copy(),
    )


def _check_data(X, y, Z, sample_weight):
    X = np.asarray(X, dtype=float)
    Z = np.asarray(Z, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array; got shape {X.shape}.")
    n = X.shape[0]
    if Z.ndim != 2 or Z.shape[0] != n:
        raise ValueError(
            f"Z must be a 2-D array with {n} rows (use shape ({n}, 0) for an "
            f"intercept-only gate); got shape {Z.shape}."
        )
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},); got {y.shape}.")
    if sample_weight is None:
        sample_weight = np.ones(n)
    sample_weight = np.asarray(sample_weight, dtype=float)
    if sample_weight.shape != (n,) or np.any(sample_weight < 0):
        raise ValueError(f"sample_weight must be non-negative with shape ({n},).")
    for name, value in (("X", X), ("y", y), ("Z", Z), ("sample_weight", sample_weight)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} must be finite.")
    return X, y, Z, sample_weight


class _State(NamedTuple):
    """Per-sample quantities at theta, for the log-likelihood and derivatives."""

    expert_design: np.ndarray  # (n, p + 1): [1, X]
    gate_design: np.ndarray  # (n, r + 1): [1, Z]
    residual: np.ndarray  # (n, K)
    variance: np.ndarray  # (K,)
    gate_proba: np.ndarray  # (n, K)
    responsibility: np.ndarray  # (n, K)
    log_likelihood: np.ndarray  # (n,)


def _state(theta, X, y, Z, n_experts):
    if isinstance(n_experts, bool) or not isinstance(n_experts, numbers.Integral):
        raise TypeError(f"n_experts must be an integer; got {n_experts!r}.")
    if n_experts < 1:
        raise ValueError(f"n_experts must be at least 1; got {n_experts}.")
    params = unpack_parameters(theta, n_experts, X.shape[1], Z.shape[1])
    expert_design = np.column_stack([np.ones(X.shape[0]), X])
    gate_design = np.column_stack([np.ones(Z.shape[0]), Z])
    beta = np.column_stack([params.expert_intercept, params.expert_coef])
    residual = y[:, None] - expert_design @ beta.T
    variance = params.noise_variance
    log_density = -0.5 * (np.log(2 * np.pi * variance) + residual**2 / variance)
    eta = gate_design @ np.column_stack([params.gate_intercept, params.gate_coef]).T
    log_gate = eta - logsumexp(eta, axis=1, keepdims=True)
    joint = log_gate + log_density
    log_likelihood = logsumexp(joint, axis=1)
    return _State(
        expert_design,
        gate_design,
        residual,
        variance,
        np.exp(log_gate),
        np.exp(joint - log_likelihood[:, None]),
        log_likelihood,
    )


def mixture_log_likelihood(theta, X, y, Z, n_experts, sample_weight=None):
    """Total weighted log-likelihood of the gated mixture at ``theta``.

    Parameters
    ----------
    theta : array-like of shape (n_parameters,)
        Parameters in the layout of :func:`pack_parameters`.
    X : array-like of shape (n_samples, n_expert_features)
        The experts' features (without an intercept column).
    y : array-like of shape (n_samples,)
    Z : array-like of shape (n_samples, n_gate_features)
        The gate's features (without an intercept column); may have 0 columns.
    n_experts : int
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    log_likelihood : float
        ``sum_i w_i log sum_k g_ik N(y_i; mu_ik, sigma_k^2)`` (natural log).
    """
    X, y, Z, sample_weight = _check_data(X, y, Z, sample_weight)
    return float(sample_weight @ _state(theta, X, y, Z, n_experts).log_likelihood)


def _expert_scores(state):
    """Score of log N(y; mu_k, sigma_k^2) in (beta_k, log sigma_k): (n, K, p + 2)."""
    scaled = state.residual / state.variance
    return np.concatenate(
        [
            scaled[:, :, None] * state.expert_design[:, None, :],
            (state.residual * scaled - 1.0)[:, :, None],
        ],
        axis=2,
    )


def mixture_score(theta, X, y, Z, n_experts, sample_weight=None):
    """Per-sample gradient of the weighted log-likelihood (analytic).

    Parameters
    ----------
    theta, X, y, Z, n_experts, sample_weight
        As in :func:`mixture_log_likelihood`.

    Returns
    -------
    score : ndarray of shape (n_samples, n_parameters)
        Row ``i`` is ``w_i`` times the gradient of sample ``i``'s
        log-likelihood; the columns sum to the total gradient.
    """
    X, y, Z, sample_weight = _check_data(X, y, Z, sample_weight)
    state = _state(theta, X, y, Z, n_experts)
    n = X.shape[0]
    experts = state.responsibility[:, :, None] * _expert_scores(state)
    gate = (state.responsibility - state.gate_proba)[:, 1:, None] * state.gate_design[
        :, None, :
    ]
    score = np.concatenate([experts.reshape(n, -1), gate.reshape(n, -1)], axis=1)
    return sample_weight[:, None] * score


def _hessian_block(state, weight, n_experts):
    """Hessian of sum_i weight_i log p(y_i) for one block of rows."""
    n, n_expert_cols = state.expert_design.shape
    n_gate_cols = state.gate_design.shape[1]
    expert_size = n_expert_cols + 1
    n_expert_params = n_experts * expert_size
    size = n_expert_params + (n_experts - 1) * n_gate_cols
    resp, gate_proba = state.responsibility, state.gate_proba
    # d[i, k] is the gradient of log g_ik + log p_k(y_i) in theta; the Hessian
    # of log sum_k exp(.) is sum_k r_k (d_k d_k' + A_k) - s s', s = sum_k r_k d_k.
    d = np.zeros((n, n_experts, size))
    expert_scores = _expert_scores(state)
    for k in range(n_experts):
        d[:, k, k * expert_size : (k + 1) * expert_size] = expert_scores[:, k]
    indicator = np.eye(n_experts)[:, 1:]
    gate_part = (indicator[None, :, :] - gate_proba[:, None, 1:])[:, :, :, None]
    d[:, :, n_expert_params:] = (
        gate_part * state.gate_design[:, None, None, :]
    ).reshape(n, n_experts, -1)
    score = np.einsum("ik,ikp->ip", resp, d)
    hessian = np.einsum("ik,ikp,ikq->pq", weight[:, None] * resp, d, d)
    hessian -= np.einsum("i,ip,iq->pq", weight, score, score)
    # A_k, expert block: second derivatives of log N in (beta_k, log sigma_k).
    design = state.expert_design
    for k in range(n_experts):
        wr = weight * resp[:, k]
        scaled = state.residual[:, k] / state.variance[k]
        block = slice(k * expert_size, (k + 1) * expert_size)
        a = np.empty((expert_size, expert_size))
        a[:-1, :-1] = -(design.T * wr) @ design / state.variance[k]
        a[:-1, -1] = a[-1, :-1] = -2.0 * (wr * scaled) @ design
        a[-1, -1] = -2.0 * np.sum(wr * scaled * state.residual[:, k])
        hessian[block, block] += a
    # A_k, gate block: the Hessian of log softmax, the same for every k.
    g = gate_proba[:, 1:]
    curvature = (
        np.einsum("il,lm->ilm", g, np.eye(n_experts - 1))
        - g[:, :, None] * g[:, None, :]
    )
    gate_hessian = -np.einsum(
        "i,ilm,ia,ib->lamb", weight, curvature, *(2 * (state.gate_design,))
    )
    hessian[n_expert_params:, n_expert_params:] += gate_hessian.reshape(
        size - n_expert_params, size - n_expert_params
    )
    return hessian


def observed_information(theta, X, y, Z, n_experts, sample_weight=None):
    """Observed information: minus the analytic Hessian of the log-likelihood.

    Parameters
    ----------
    theta, X, y, Z, n_experts, sample_weight
        As in :func:`mixture_log_likelihood`.

    Returns
    -------
    information : ndarray of shape (n_parameters, n_parameters)
        Symmetric; positive definite at a strict local maximum.
    """
    X, y, Z, sample_weight = _check_data(X, y, Z, sample_weight)
    state = _state(theta, X, y, Z, n_experts)
    size = np.asarray(theta).shape[0]
    rows = max(1, _ROW_BLOCK_ELEMENTS // max(1, n_experts * size))
    hessian = np.zeros((size, size))
    for start in range(0, X.shape[0], rows):
        block = slice(start, start + rows)
        rows_state = _State(
            *(
                value if name == "variance" else value[block]
                for name, value in zip(_State._fields, state)
            )
        )
        hessian += _hessian_block(rows_state, sample_weight[block], n_experts)
    information = -hessian
    return 0.5 * (information + information.T)
