"""Generators of data with known gated regimes."""

from numbers import Integral

import numpy as np
from sklearn.preprocessing import PolynomialFeatures
from sklearn.utils import check_random_state


def _gated_regimes(n_samples, n_features, n_experts, gate_sharpness, rng):
    X = rng.standard_normal((n_samples, n_features))
    gate_coef = rng.standard_normal((n_features, n_experts)) * gate_sharpness
    logits = X @ gate_coef
    logits -= logits.max(axis=1, keepdims=True)
    gate = np.exp(logits)
    gate /= gate.sum(axis=1, keepdims=True)
    # Inverse-CDF sampling of one regime per row.
    u = rng.random_sample((n_samples, 1))
    regime = (gate.cumsum(axis=1) < u).sum(axis=1)
    return X, np.minimum(regime, n_experts - 1)


def make_moe_regression(
    n_samples=1000,
    n_features=2,
    n_experts=3,
    *,
    noise=0.5,
    gate_sharpness=5.0,
    return_regimes=False,
    random_state=None,
):
    """Generate regression data from a mixture of linear experts.

    ``X`` is standard normal; a softmax gate with random weights (scaled by
    ``gate_sharpness``) picks each sample's regime, and the target is that
    regime's linear function plus Gaussian noise.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.
    n_features : int, default=2
        Number of features.
    n_experts : int, default=3
        Number of regimes.
    noise : float, default=0.5
        Standard deviation of the Gaussian noise.
    gate_sharpness : float, default=5.0
        Scale of the gate weights: large values give sharp regime boundaries.
    return_regimes : bool, default=False
        If True, also return the regime of each sample.
    random_state : int, RandomState instance or None, default=None
        Seed of the features, the regimes' parameters and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Standard normal features.
    y : ndarray of shape (n_samples,)
        Targets.
    regimes : ndarray of shape (n_samples,)
        The regime of each sample, in ``range(n_experts)``; only returned
        when ``return_regimes`` is True.

    See Also
    --------
    make_moe_classification : The same gated regimes, with logistic experts.

    Examples
    --------
    >>> from skmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(n_samples=100, random_state=0)
    >>> X.shape, y.shape
    ((100, 2), (100,))
    """
    rng = check_random_state(random_state)
    X, regime = _gated_regimes(n_samples, n_features, n_experts, gate_sharpness, rng)
    coef = rng.uniform(-5, 5, size=(n_experts, n_features))
    intercept = rng.uniform(-5, 5, size=n_experts)
    y = np.einsum("ij,ij->i", X, coef[regime]) + intercept[regime]
    y += noise * rng.standard_normal(n_samples)
    return (X, y, regime) if return_regimes else (X, y)


def make_moe_classification(
    n_samples=1000,
    n_features=2,
    n_experts=3,
    *,
    n_classes=2,
    gate_sharpness=5.0,
    expert_sharpness=3.0,
    expert_degree=1,
    return_regimes=False,
    random_state=None,
):
    """Generate classification data from a mixture of logistic experts.

    ``X`` is standard normal; a softmax gate picks each sample's regime, and
    the label is drawn from that regime's multinomial logistic model, on the
    features (``expert_degree=1``) or on their polynomial terms up to
    ``expert_degree`` (nonlinear experts: curved class boundaries within
    each regime).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.
    n_features : int, default=2
        Number of features.
    n_experts : int, default=3
        Number of regimes.
    n_classes : int, default=2
        Number of classes.
    gate_sharpness : float, default=5.0
        Scale of the gate weights: large values give sharp regime boundaries.
    expert_sharpness : float, default=3.0
        Scale of the experts' weights: large values give clean labels.
    expert_degree : int, default=1
        Degree of the polynomial terms of the features (products of at
        most ``expert_degree`` of them, as
        :class:`~sklearn.preprocessing.PolynomialFeatures` without the bias
        makes them) that each regime's logits are linear in. 1: logistic
        experts; 2 or more: nonlinear experts.
    return_regimes : bool, default=False
        If True, also return the regime of each sample.
    random_state : int, RandomState instance or None, default=None
        Seed of the features, the regimes' parameters and the labels.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Standard normal features.
    y : ndarray of shape (n_samples,)
        Labels, integers in ``range(n_classes)``.
    regimes : ndarray of shape (n_samples,)
        The regime of each sample, in ``range(n_experts)``; only returned
        when ``return_regimes`` is True.

    See Also
    --------
    make_moe_regression : The same gated regimes, with linear experts.

    Examples
    --------
    >>> from skmoe.datasets import make_moe_classification
    >>> X, y = make_moe_classification(n_samples=100, random_state=0)
    >>> sorted(set(y.tolist()))
    [0, 1]
    """
    if (
        not isinstance(expert_degree, Integral)
        or isinstance(expert_degree, bool)
        or expert_degree < 1
    ):
        raise ValueError(
            f"expert_degree must be a positive integer; got {expert_degree!r}."
        )
    rng = check_random_state(random_state)
    X, regime = _gated_regimes(n_samples, n_features, n_experts, gate_sharpness, rng)
    terms = X
    if expert_degree > 1:
        terms = PolynomialFeatures(expert_degree, include_bias=False).fit_transform(X)
    coef = rng.standard_normal((n_experts, terms.shape[1], n_classes))
    coef *= expert_sharpness
    logits = np.einsum("ij,ijc->ic", terms, coef[regime])
    logits -= logits.max(axis=1, keepdims=True)
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    u = rng.random_sample((n_samples, 1))
    y = np.minimum((proba.cumsum(axis=1) < u).sum(axis=1), n_classes - 1)
    return (X, y, regime) if return_regimes else (X, y)
