import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

from skmoe import MixtureOfExpertsClassifier
from skmoe._experts import fit_logistic_experts, make_experts
from skmoe._kernels import _xp
from skmoe.datasets import make_moe_classification


@pytest.fixture(scope="module")
def regimes():
    return make_moe_classification(
        n_samples=1000, n_experts=3, expert_sharpness=6.0, random_state=1
    )


def test_string_labels_and_probabilities(regimes):
    X, y = regimes
    labels = np.array(["cat", "dog"])[y]
    clf = MixtureOfExpertsClassifier(n_experts=3, random_state=0).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["cat", "dog"])
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= {"cat", "dog"}
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)
    # Per-sample log-likelihood is the log of the mixture's probability of y.
    np.testing.assert_allclose(
        clf.log_likelihood(X, labels), np.log(proba[np.arange(len(y)), y]), rtol=1e-9
    )
    assert clf.log_likelihood_ == pytest.approx(clf.log_likelihood(X, labels).sum())


def test_beats_single_logistic_regression(regimes):
    X, y = regimes
    clf = MixtureOfExpertsClassifier(n_experts=3, n_init=2, random_state=0).fit(X, y)
    single = LogisticRegression().fit(X, y)
    assert clf.score(X, y) > single.score(X, y) + 0.05
    assert np.all(np.diff(clf.log_likelihood_path_) >= -1e-6)


def test_multiclass():
    X, y = make_moe_classification(n_samples=600, n_classes=4, random_state=0)
    clf = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    assert clf.predict_proba(X).shape == (600, 4)
    assert clf.score(X, y) > LogisticRegression().fit(X, y).score(X, y) - 0.02


@pytest.mark.parametrize("n_classes", [2, 3])
def test_batched_logistic_experts_equal_weighted_fits(n_classes):
    rng = np.random.RandomState(0)
    X = rng.randn(300, 2) * [1.0, 10.0]
    y = rng.randint(n_classes, size=300)
    y[X[:, 0] > 1] = 0
    responsibilities = rng.dirichlet(np.ones(2), size=300)
    weights = responsibilities * rng.uniform(0.5, 2.0, (300, 1))
    mean, scale = X.mean(axis=0), X.std(axis=0)
    design = np.column_stack([(X - mean) / scale, np.ones(300)])
    expert = LogisticRegression(C=0.3)
    experts = make_experts(expert, 2, np.random.RandomState(0))
    classes = np.arange(n_classes)
    sample_weight = weights.sum(axis=1)
    responsibilities = weights / sample_weight[:, None]
    experts = fit_logistic_experts(
        _xp, experts, design, y, classes, responsibilities, sample_weight, mean, scale
    )
    for k, fitted in enumerate(experts):
        reference = LogisticRegression(C=0.3, tol=1e-10, max_iter=10_000).fit(
            X, y, sample_weight=weights[:, k]
        )
        assert fitted.coef_.shape == reference.coef_.shape
        np.testing.assert_allclose(
            fitted.predict_proba(X), reference.predict_proba(X), atol=1e-6
        )


def test_expert_that_saw_some_classes_is_aligned():
    # KNN experts take no sample_weight: each is fitted on its own samples,
    # and in pure regions some experts see a single class.
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(300, 1))
    y = np.where(X[:, 0] < -1, "a", np.where(X[:, 0] < 1, "b", "c"))
    clf = MixtureOfExpertsClassifier(
        KNeighborsClassifier(n_neighbors=5), n_experts=3, random_state=0
    ).fit(X, y)
    assert any(len(expert.classes_) < 3 for expert in clf.experts_)
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.score(X, y) > 0.95
    assert np.isfinite(clf.log_likelihood_)


def test_tree_experts(regimes):
    X, y = regimes
    clf = MixtureOfExpertsClassifier(
        DecisionTreeClassifier(max_depth=3), n_experts=2, random_state=0
    ).fit(X, y)
    assert all(isinstance(e, DecisionTreeClassifier) for e in clf.experts_)
    single = DecisionTreeClassifier(max_depth=3).fit(X, y)
    assert clf.score(X, y) > single.score(X, y)


def test_one_class_is_refused():
    X = np.random.RandomState(0).randn(20, 2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        MixtureOfExpertsClassifier(n_experts=2).fit(X, np.zeros(20))


def test_regressor_as_expert_is_refused():
    X, y = make_moe_classification(n_samples=50, random_state=0)
    with pytest.raises(ValueError, match="predict_proba"):
        MixtureOfExpertsClassifier(LinearRegression()).fit(X, y)


def test_unknown_label_in_log_likelihood(regimes):
    X, y = regimes
    clf = MixtureOfExpertsClassifier(n_experts=2, max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="not seen in fit"):
        clf.log_likelihood(X[:3], [0, 1, 7])
