"""Initialisation (the model tree) and the removal of dead experts."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._families import VARIANCE_FLOOR
from skmoe._init import initial_responsibilities
from skmoe._model_tree import _node_errors, apply_linear_tree, fit_linear_tree


def _orthant_regimes(n_samples, n_features=5, noise=0.5, seed=0):
    """8 linear regimes given by the signs of features 0, 1 and 2.

    The small version of the data of benchmarks/bench_init.py.
    """
    coef_rng = np.random.RandomState(1000)
    coef = 2.0 * coef_rng.standard_normal((8, n_features))
    intercept = 2.0 * coef_rng.standard_normal(8)
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features))
    regime = 4 * (X[:, 0] > 0) + 2 * (X[:, 1] > 0) + (X[:, 2] > 0)
    y = np.einsum("ij,ij->i", X, coef[regime]) + intercept[regime]
    return X, y + noise * rng.standard_normal(n_samples), regime


def _purity(labels, truth):
    """Share of samples in the majority label of their true regime."""
    return sum(np.bincount(labels[truth == k]).max() for k in np.unique(truth)) / len(
        truth
    )


def test_orthants_are_a_softmax_partition():
    # Logits c * (s_r . x[:3]) with s_r the sign pattern of regime r: the
    # argmax is the orthant, so a linear softmax gate can draw the regimes.
    X, _, regime = _orthant_regimes(5000)
    signs = np.array([[1 if r & bit else -1 for bit in (4, 2, 1)] for r in range(8)])
    np.testing.assert_array_equal((X[:, :3] @ signs.T).argmax(axis=1), regime)


def test_node_errors_are_least_squares_residuals():
    rng = np.random.RandomState(0)
    design = np.column_stack([rng.randn(50, 3), np.ones(50)])
    targets = rng.randn(50, 2)
    weight = rng.uniform(0.5, 2.0, 50)
    stats = np.hstack(
        [
            (weight[:, None, None] * design[:, :, None] * design[:, None, :]).reshape(
                50, -1
            ),
            (weight[:, None, None] * design[:, :, None] * targets[:, None, :]).reshape(
                50, -1
            ),
            (weight * (targets**2).sum(axis=1))[:, None],
        ]
    ).sum(axis=0)
    root = np.sqrt(weight)[:, None]
    _, residual, _, _ = np.linalg.lstsq(design * root, targets * root, rcond=None)
    error = _node_errors(stats[None], 4, 2, np.array([weight.sum()]))[0]
    assert error == pytest.approx(residual.sum(), rel=1e-5)


def test_model_tree_splits_at_a_slope_change():
    # y = |x0| has no jump, only a kink: a piecewise-constant tree would
    # split anywhere, a model tree splits at the kink.
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 3, size=(2000, 2))
    y = np.abs(x[:, 0]) + 0.01 * rng.randn(2000)
    design = np.column_stack([x, np.ones(2000)])
    splits, n_leaves = fit_linear_tree(design, y[:, None], np.ones(2000), 2)
    assert n_leaves == 2
    (_, feature, threshold, _, _) = splits[0]
    assert feature == 0 and abs(threshold) < 0.15
    leaves = apply_linear_tree(splits, design)
    np.testing.assert_array_equal(leaves, (x[:, 0] > threshold).astype(int))


def test_model_tree_finds_the_orthants():
    X, y, regime = _orthant_regimes(4000)
    design = np.column_stack([X, np.ones(len(y))])
    splits, n_leaves = fit_linear_tree(design, y[:, None], np.ones(len(y)), 8)
    assert n_leaves == 8
    leaves = apply_linear_tree(splits, design)
    assert _purity(leaves, regime) > 0.97


def test_default_init_reaches_the_regimes_where_kmeans_does_not():
    X, y, regime = _orthant_regimes(1000, n_features=4)
    params = dict(n_experts=8, max_iter=30)
    oracle = MixtureOfExpertsRegressor(init=np.eye(8)[regime], **params).fit(X, y)
    default = MixtureOfExpertsRegressor(random_state=0, **params).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        kmeans = MixtureOfExpertsRegressor(init="kmeans", random_state=2, **params)
        kmeans.fit(X, y)
    assert default.log_likelihood_ == pytest.approx(oracle.log_likelihood_, rel=1e-3)
    assert _purity(default.apply(X), regime) > 0.98
    assert kmeans.log_likelihood_ < oracle.log_likelihood_ - 0.1 * len(y)


def test_tree_init_with_too_little_data_falls_back():
    # Six samples cannot make 3 leaves of a quarter of an even share each
    # with two free parameters per leaf... any partition must still come out.
    X = np.linspace(0, 1, 6)[:, None]
    moe = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, X[:, 0] ** 2)
    assert np.all(np.isfinite(moe.predict(X)))


def test_tree_init_on_many_features_starts_as_kmeans():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 40)
    y = np.where(X[:, 0] > 0, X[:, 1], -X[:, 2]) + 0.1 * rng.randn(200)
    params = dict(n_experts=2, max_iter=5, tol=0, random_state=0)
    with pytest.warns(ConvergenceWarning):
        tree = MixtureOfExpertsRegressor(init="tree", **params).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        kmeans = MixtureOfExpertsRegressor(init="kmeans", **params).fit(X, y)
    assert tree.log_likelihood_ == kmeans.log_likelihood_


# -- dead experts ---------------------------------------------------------------


def _two_lines(n_samples=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n_samples, 1))
    y = np.where(X[:, 0] < 0, 2 * X[:, 0] + 1, -X[:, 0] - 2)
    return X, y + 0.2 * rng.randn(n_samples)


def _init_with_empty_expert(X):
    init = np.zeros((len(X), 3))
    init[:, 0] = X[:, 0] < 0
    init[:, 1] = X[:, 0] >= 0
    return init


def test_expert_without_responsibility_is_removed():
    X, y = _two_lines()
    moe = MixtureOfExpertsRegressor(
        n_experts=3, init=_init_with_empty_expert(X), random_state=0
    ).fit(X, y)
    assert moe.n_experts_ == 2
    assert len(moe.experts_) == 2
    assert moe.noise_variance_.shape == (2,)
    assert moe.expert_weights_.shape == (2,)
    assert moe.gate_proba(X).shape == (len(y), 2)
    assert set(moe.apply(X)) == {0, 1}
    assert moe.score(X, y) > 0.95
    # Two experts of (slope, intercept, variance), one gate column.
    log_likelihood = moe.log_likelihood(X, y).sum()
    assert moe.log_likelihood_ == pytest.approx(log_likelihood)
    assert moe.bic(X, y) == pytest.approx(
        -2 * log_likelihood + (2 * 3 + 2) * np.log(len(y))
    )
    # top_k up to n_experts is still accepted, and keeps both experts.
    np.testing.assert_allclose(moe.set_params(top_k=3).predict(X), moe.predict(X))
    np.testing.assert_allclose(
        moe.set_params(top_k=1).predict(X),
        [moe.experts_[k].predict(x[None])[0] for k, x in zip(moe.apply(X), X)],
    )


def test_min_expert_weight_zero_keeps_every_expert():
    X, y = _two_lines()
    moe = MixtureOfExpertsRegressor(
        n_experts=3, init=_init_with_empty_expert(X), min_expert_weight=0.0
    )
    with pytest.warns(ConvergenceWarning):
        moe.set_params(max_iter=5, tol=0).fit(X, y)
    assert moe.n_experts_ == 3 and len(moe.experts_) == 3
    assert moe.gate_proba(X).shape == (len(y), 3)
    assert np.isfinite(moe.log_likelihood_)


def test_expert_collapsing_during_em_is_removed():
    # The third expert starts with 6% of every sample, above the threshold
    # of 5% (flexmix's default minprior); nothing in the data needs it, so
    # its share shrinks during EM until it is removed.
    X, y = _two_lines()
    init = _init_with_empty_expert(X)
    init[:, 2] = 0.06
    params = dict(n_experts=3, init=init, max_iter=300)
    kept = MixtureOfExpertsRegressor(min_expert_weight=0.0, **params).fit(X, y)
    assert kept.n_experts_ == 3 and kept.expert_weights_.min() < 0.05
    removed = MixtureOfExpertsRegressor(min_expert_weight=0.05, **params).fit(X, y)
    assert removed.n_experts_ == 2
    assert removed.n_iter_ > 1  # removed during EM, not at the start
    # It ends where a fit with the two other experts alone ends.
    two = MixtureOfExpertsRegressor(n_experts=2, init=init[:, :2], max_iter=300)
    assert removed.log_likelihood_ == pytest.approx(
        two.fit(X, y).log_likelihood_, rel=1e-4
    )


def test_removal_in_the_classifier_and_warm_start():
    X, y = _two_lines()
    labels = (y > 0).astype(int)
    clf = MixtureOfExpertsClassifier(
        n_experts=3, init=_init_with_empty_expert(X), random_state=0
    ).fit(X, labels)
    assert clf.n_experts_ == 2 and clf.gate_proba(X).shape == (len(y), 2)
    assert clf.predict_proba(X).shape == (len(y), 2)
    moe = MixtureOfExpertsRegressor(
        n_experts=3, init=_init_with_empty_expert(X), warm_start=True, random_state=0
    ).fit(X, y)
    first = moe.log_likelihood_
    moe.fit(X, y)  # continues with the two remaining experts
    assert moe.n_experts_ == 2 and moe.log_likelihood_ >= first - 1e-6 * abs(first)


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_min_expert_weight_is_validated(value):
    X, y = _two_lines(50)
    with pytest.raises(ValueError, match="min_expert_weight"):
        MixtureOfExpertsRegressor(min_expert_weight=value).fit(X, y)


def test_tone_three_experts_are_real(tone):
    # tone with K = 3: no infinite likelihood, and BIC prefers K = 3 over
    # K = 2 through an expert that is a real regime, not a few points fitted
    # exactly: a tight expert on y = x (41 of the 150 samples lie within
    # 0.005 of the line, 8 exactly on it; the expert holds about 52 with a
    # noise sd of 0.004, 15 times the floor's).
    X, y = tone
    fits = {
        k: MixtureOfExpertsRegressor(
            n_experts=k, gate=LogisticRegression(C=np.inf), n_init=5, random_state=0
        ).fit(X, y)
        for k in (2, 3)
    }
    for moe in fits.values():
        assert np.isfinite(moe.log_likelihood_)
    three = fits[3]
    assert three.bic(X, y) < fits[2].bic(X, y)
    samples = three.expert_weights_ * len(y)
    assert samples.min() > 10  # far more than 3 parameters per expert
    assert three.noise_variance_.min() > 100 * VARIANCE_FLOOR * y.var()


def test_restarts_start_from_distinct_partitions():
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(60, 2))
    y = np.where(X[:, 0] < 0, 2 * X[:, 1] + 1, -3 * X[:, 1] - 2)
    design = np.column_stack([(X - X.mean(0)) / X.std(0), np.ones(60)])
    targets = ((y - y.mean()) / y.std())[:, None]
    for init in ["tree", "kmeans", "random"]:
        rng = np.random.RandomState(0)
        partitions = []
        for _ in range(10):
            responsibilities = initial_responsibilities(
                init, design, targets, np.ones(60), 2, rng, partitions
            )
            np.testing.assert_allclose(responsibilities.sum(axis=1), 1.0)
        distinct = {tuple(labels) for labels in partitions}
        assert len(distinct) == 10
