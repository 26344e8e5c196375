"""Sparse routing (top_k at predict, routing in training) and the plots."""

import copy

import matplotlib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._engines import GeneralEngine
from skmoe.datasets import make_moe_classification, make_moe_regression
from skmoe.plotting import plot_convergence, plot_experts, plot_gate

matplotlib.use("Agg")


class CountingRegressor(RegressorMixin, BaseEstimator):
    """A tree that records how many rows each ``predict`` call sees."""

    def __init__(self, max_depth=4, random_state=None):
        self.max_depth = max_depth
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        self.tree_ = DecisionTreeRegressor(
            max_depth=self.max_depth, random_state=self.random_state
        ).fit(X, y, sample_weight=sample_weight)
        self.predicted_rows_ = []
        return self

    def predict(self, X):
        self.predicted_rows_.append(len(X))
        return self.tree_.predict(X)


@pytest.fixture(scope="module")
def regression():
    X, y = make_moe_regression(n_samples=800, n_experts=4, random_state=0)
    moe = MixtureOfExpertsRegressor(n_experts=4, n_init=2, random_state=0).fit(X, y)
    return X, y, moe


def test_top_1_is_the_expert_apply_names(regression):
    X, _, moe = regression
    routed = copy.deepcopy(moe).set_params(top_k=1)
    chosen = moe.apply(X)
    expected = np.array(
        [moe.experts_[k].predict(X[i : i + 1])[0] for i, k in enumerate(chosen)]
    )
    np.testing.assert_allclose(routed.predict(X), expected, rtol=1e-12)
    mean, std = routed.predict(X, return_std=True)
    np.testing.assert_allclose(std, np.sqrt(moe.noise_variance_[chosen]))


def test_top_k_equal_to_n_experts_is_the_soft_mixture(regression):
    X, _, moe = regression
    soft_mean, soft_std = moe.predict(X, return_std=True)
    moe.set_params(top_k=4)
    try:
        mean, std = moe.predict(X, return_std=True)
    finally:
        moe.set_params(top_k=None)
    np.testing.assert_allclose(mean, soft_mean, rtol=1e-12)
    np.testing.assert_allclose(std, soft_std, rtol=1e-12)


def test_top_2_renormalises_over_the_two_best(regression):
    X, _, moe = regression
    gate = moe.gate_proba(X)
    means = np.column_stack([e.predict(X) for e in moe.experts_])
    best = np.argsort(-gate, axis=1)[:, :2]
    weights = np.take_along_axis(gate, best, axis=1)
    expected = np.sum(weights * np.take_along_axis(means, best, axis=1), axis=1)
    expected /= weights.sum(axis=1)
    moe.set_params(top_k=2)
    try:
        np.testing.assert_allclose(moe.predict(X), expected, rtol=1e-10)
    finally:
        moe.set_params(top_k=None)


def test_top_1_evaluates_each_expert_on_its_own_rows_only():
    X, y = make_moe_regression(n_samples=600, n_experts=3, random_state=1)
    moe = MixtureOfExpertsRegressor(
        CountingRegressor(), n_experts=3, random_state=0
    ).fit(X, y)
    for expert in moe.experts_:
        expert.predicted_rows_.clear()
    moe.set_params(top_k=1).predict(X)
    counts = np.bincount(moe.apply(X), minlength=3)
    for k, expert in enumerate(moe.experts_):
        assert sum(expert.predicted_rows_) == counts[k]
    assert sum(counts) == len(X)


def test_top_k_too_large_is_refused(regression):
    X, _, moe = regression
    routed = copy.deepcopy(moe).set_params(top_k=5)
    with pytest.raises(ValueError, match="top_k=5 must be at most n_experts=4"):
        routed.predict(X)


def test_classifier_top_k():
    X, y = make_moe_classification(n_samples=600, random_state=0)
    clf = MixtureOfExpertsClassifier(n_experts=3, random_state=0).fit(X, y)
    soft = clf.predict_proba(X)
    hard = clf.set_params(top_k=1).predict_proba(X)
    chosen = clf.apply(X)
    for k, expert in enumerate(clf.experts_):
        rows = chosen == k
        if rows.any():
            np.testing.assert_allclose(hard[rows], expert.predict_proba(X[rows]))
    np.testing.assert_allclose(clf.set_params(top_k=3).predict_proba(X), soft)


@pytest.mark.parametrize("routing", ["hard", 2])
def test_hard_and_top_k_training_routing(routing):
    X, y = make_moe_regression(n_samples=800, n_experts=3, noise=0.2, random_state=2)
    moe = MixtureOfExpertsRegressor(
        n_experts=3,
        routing=routing,
        n_init=3,
        random_state=0,
        gate=LogisticRegression(C=np.inf),
    ).fit(X, y)
    soft = MixtureOfExpertsRegressor(n_experts=3, n_init=3, random_state=0).fit(X, y)
    assert np.isfinite(moe.log_likelihood_)
    assert moe.score(X, y) > soft.score(X, y) - 0.05
    with pytest.raises(ValueError, match="routing=4 must be at most n_experts=3"):
        MixtureOfExpertsRegressor(n_experts=3, routing=4).fit(X, y)


def test_hard_routing_trains_experts_on_disjoint_rows(monkeypatch):
    X, y = make_moe_regression(n_samples=500, n_experts=3, random_state=3)
    moe = MixtureOfExpertsRegressor(
        n_experts=3, routing="hard", random_state=0, max_iter=30
    )
    seen = []
    original = GeneralEngine.m_step

    def spy(engine, responsibilities):
        seen.append(responsibilities.copy())
        return original(engine, responsibilities)

    monkeypatch.setattr(GeneralEngine, "m_step", spy)
    moe.fit(X, y)
    later = np.stack(seen[1:])
    assert np.all((later == 0) | (later == 1))
    np.testing.assert_allclose(later.sum(axis=2), 1.0)


def test_expert_weights(regression):
    X, _, moe = regression
    assert moe.expert_weights_.shape == (4,)
    assert moe.expert_weights_.sum() == pytest.approx(1.0)
    assert np.all(moe.expert_weights_ > 0.05)


def test_plots(regression, mcycle):
    X, _, moe = regression
    ax = plot_gate(moe, X, features=(0, 1))
    assert len(ax.images) == 1 and len(ax.collections) == 1
    X1, y1 = mcycle
    moe1 = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X1, y1)
    ax = plot_gate(moe1, X1)
    assert len(ax.lines) == 3
    ax = plot_experts(moe1, X1, y1)
    assert len(ax.collections) == 1 + 3  # the samples, then one line per expert
    ax = plot_convergence(moe1)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), moe1.log_likelihood_path_)
    with pytest.raises(ValueError, match="one-feature"):
        plot_experts(moe, X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="features"):
        plot_gate(moe, X, features=(0, 5))
