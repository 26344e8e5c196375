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


def logit_regimes():
    """Two logistic regimes in x2, gated along x0 (n = 1000)."""
    rng = np.random.RandomState(0)
    n = 1000
    X = rng.uniform(-2, 2, size=(n, 2))
    gate = 1 / (1 + np.exp(-4 * X[:, 0]))
    regime = rng.uniform(size=n) < gate
    eta = np.where(regime, 1 + 3 * X[:, 1], -0.5 - 2.5 * X[:, 1])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    return X, y


# python benchmarks/flexmix_logit_refit.py: flexmix's best of 30 seeds has
# logLik -391.774772576905; refit()'s standard errors, by component (the one
# with the larger intercept second), then the concomitant model of component 2.
FLEXMIX_LOGIT_SE = {
    "low": [1.058290417154038, 1.458386990466568, 0.773139040206091],
    "high": [0.396348578010959, 0.364949822644280, 0.304427910887671],
    "gate": [0.179010568095887, 0.108968710635747, 0.306250553550232],
}


def test_summary_matches_flexmix_refit_for_logistic_experts():
    X, y = logit_regimes()
    clf = MixtureOfExpertsClassifier(
        LogisticRegression(C=np.inf),
        n_experts=2,
        gate=LogisticRegression(C=np.inf),
        n_init=10,
        tol=1e-10,
        max_iter=2000,
        random_state=0,
    ).fit(X, y)
    assert clf.log_likelihood_ == pytest.approx(-391.774772576905, abs=1e-4)
    table = clf.summary(X, y)
    high = int(np.argmax([float(e.intercept_[0]) for e in clf.experts_]))
    np.testing.assert_allclose(
        table.loc[f"expert {high}", "std_error"], FLEXMIX_LOGIT_SE["high"], rtol=0.01
    )
    np.testing.assert_allclose(
        table.loc[f"expert {1 - high}", "std_error"],
        FLEXMIX_LOGIT_SE["low"],
        rtol=0.01,
    )
    np.testing.assert_allclose(
        table.loc["gate 1", "std_error"], FLEXMIX_LOGIT_SE["gate"], rtol=0.01
    )
    # The estimates are the fitted experts' own coefficients.
    np.testing.assert_allclose(
        table.loc["expert 0", "estimate"],
        np.r_[clf.experts_[0].intercept_, clf.experts_[0].coef_[0]],
    )


def test_multiclass_summary_and_bootstrap():
    X, y = make_moe_classification(
        n_samples=600, n_features=2, n_classes=3, random_state=0
    )
    clf = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    table = clf.summary(X, y)
    parts = table.index.get_level_values("part").unique().tolist()
    assert parts == [
        "expert 0, class 1",
        "expert 0, class 2",
        "expert 1, class 1",
        "expert 1, class 2",
        "gate 1",
    ]
    assert np.all(np.isfinite(table["std_error"])) and np.all(table["std_error"] > 0)
    boot = clf.summary(X, y, method="bootstrap", n_boot=20, random_state=0)
    assert boot.index.equals(table.index)
    np.testing.assert_allclose(boot["estimate"], table["estimate"])
    assert np.all(boot["std_error"] > 0)
    with pytest.raises(TypeError, match="logistic"):
        MixtureOfExpertsClassifier(
            DecisionTreeClassifier(max_depth=2), n_experts=2, random_state=0
        ).fit(X, y).summary(X, y)
