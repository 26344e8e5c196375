"""Bad input gets a clear error; awkward data gets finite answers."""

import os
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.dummy import DummyRegressor
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._experts import ExpertFitWarning
from skmoe.datasets import make_moe_regression

ESTIMATORS = [MixtureOfExpertsRegressor, MixtureOfExpertsClassifier]


def _data(n_samples=60, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, 2)
    return X, (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda X, y: (np.where(X == X[0, 0], np.nan, X), y), "NaN"),
        (lambda X, y: (np.where(X == X[0, 0], np.inf, X), y), "infinity"),
        (lambda X, y: (X[:-1], y), "inconsistent numbers of samples"),
        (lambda X, y: (X[:0], y[:0]), "0 sample"),
        (lambda X, y: (X[:, 0], y), "Expected 2D array"),
    ],
    ids=["nan", "inf", "lengths", "empty", "1d"],
)
def test_bad_data_is_refused(Estimator, mutate, match):
    X, y = mutate(*_data())
    with pytest.raises(ValueError, match=match):
        Estimator(n_experts=2).fit(X, y)


def test_nan_in_regression_target_is_refused():
    X, y = _data()
    y = y.astype(float)
    y[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MixtureOfExpertsRegressor(n_experts=2).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_use_errors(Estimator):
    X, y = _data()
    with pytest.raises(NotFittedError):
        Estimator().predict(X)
    model = Estimator(n_experts=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features"):
        model.predict(np.ones((4, 3)))
    with pytest.raises(ValueError, match="init"):
        Estimator(n_experts=2, init=np.ones((5, 2))).fit(X, y)
    with pytest.raises(ValueError, match="init"):
        Estimator(n_experts=2, init=-np.ones((60, 2))).fit(X, y)


def test_scale_invariance_at_extreme_scales():
    # Features and target at 1e8 and 1e-8 scales give the same model, scaled.
    X, y = make_moe_regression(n_samples=400, n_experts=2, random_state=0)
    base = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    for scale in [1e8, 1e-8]:
        moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(
            X * scale + 3 * scale, y * scale
        )
        np.testing.assert_allclose(
            moe.predict(X * scale + 3 * scale) / scale,
            base.predict(X),
            rtol=1e-5,
            atol=1e-6,
        )
        assert moe.log_likelihood_ == pytest.approx(
            base.log_likelihood_ - len(y) * np.log(scale), rel=1e-6
        )


def test_constant_target_and_one_feature_few_samples():
    X = np.linspace(0, 1, 6)[:, None]
    moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, np.full(6, 3.0))
    np.testing.assert_allclose(moe.predict(X), 3.0)
    assert np.isfinite(moe.log_likelihood_)
    small = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, X[:, 0] ** 2)
    assert np.all(np.isfinite(small.predict(X, return_std=True)))


def test_tone_with_three_experts_stays_finite(tone):
    X, y = tone
    moe = MixtureOfExpertsRegressor(
        n_experts=3, n_init=5, random_state=0, gate=LogisticRegression(C=np.inf)
    ).fit(X, y)
    assert np.isfinite(moe.log_likelihood_)
    assert np.all(moe.noise_variance_ > 0)
    assert np.all(np.isfinite(moe.predict(X, return_std=True)))


def test_float32_and_sparse_input():
    X, y = make_moe_regression(n_samples=300, n_experts=2, random_state=0)
    dense = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    single = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(
        X.astype(np.float32), y.astype(np.float32)
    )
    np.testing.assert_allclose(
        single.predict(X), dense.predict(X), rtol=1e-4, atol=1e-4
    )
    for matrix in [sp.csr_matrix, sp.csc_array]:
        moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(matrix(X), y)
        np.testing.assert_allclose(moe.predict(matrix(X)), dense.predict(X), rtol=1e-8)
    knn = MixtureOfExpertsRegressor(KNeighborsRegressor(), n_experts=2, random_state=0)
    assert np.all(np.isfinite(knn.fit(sp.csr_matrix(X), y).predict(sp.csr_matrix(X))))


def test_zero_sample_weights():
    X, y = make_moe_regression(n_samples=300, n_experts=2, random_state=0)
    weights = np.ones(300)
    weights[::3] = 0
    moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0)
    moe.fit(X, y, sample_weight=weights)
    assert np.isfinite(moe.log_likelihood_)
    assert moe.log_likelihood_ == pytest.approx(
        weights @ moe.log_likelihood(X, y), rel=1e-10
    )
    with pytest.raises(ValueError, match="non-zero"):
        moe.fit(X, y, sample_weight=np.zeros(300))


def test_failing_expert_falls_back_to_a_constant():
    class Fragile(DecisionTreeRegressor):
        """Refuses to fit fewer than 1000 samples: every share is too small."""

        def fit(self, X, y, sample_weight=None):
            if len(X) < 1000:
                raise ValueError("too few samples")
            return super().fit(X, y, sample_weight=sample_weight)

    X, y = make_moe_regression(n_samples=300, n_experts=3, random_state=0)
    with pytest.warns(ExpertFitWarning, match="constant expert"):
        moe = MixtureOfExpertsRegressor(
            Fragile(max_depth=3), n_experts=3, routing="hard", random_state=0
        ).fit(X, y)
    assert all(isinstance(e, DummyRegressor) for e in moe.experts_)
    # The user's expert is what the next fit would try again.
    assert all(type(e.replaced_estimator_) is Fragile for e in moe.experts_)
    assert np.isfinite(moe.log_likelihood_)
    assert np.all(np.isfinite(moe.predict(X, return_std=True)))


def test_expert_refusing_one_class_is_retried_on_more_rows():
    # QDA takes no sample_weight and refuses a single class: an expert whose
    # assigned rows hold one class is refitted on all the rows instead.
    rng = np.random.RandomState(0)
    X = rng.uniform(-3, 3, size=(300, 2))
    y = np.where(X[:, 0] < -1, 0, np.where(X[:, 0] < 1, 1, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExpertFitWarning)
        clf = MixtureOfExpertsClassifier(
            QuadraticDiscriminantAnalysis(), n_experts=3, random_state=0
        ).fit(X, y)
    assert all(type(e) is QuadraticDiscriminantAnalysis for e in clf.experts_)
    assert clf.score(X, y) > 0.9


def test_normal_fit_emits_no_numpy_warnings(mcycle):
    X, y = mcycle
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        with np.errstate(all="raise"):
            MixtureOfExpertsRegressor(n_experts=3, n_init=3, random_state=0).fit(X, y)
            MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y > 0)


# -- properties over random shapes, scales and seeds ---------------------------

# SKMOE_HYPOTHESIS_EXAMPLES raises the count for a long local search.
MAX_EXAMPLES = int(os.environ.get("SKMOE_HYPOTHESIS_EXAMPLES", 30))

problems = st.tuples(
    st.integers(20, 120),  # samples
    st.integers(1, 4),  # features
    st.integers(1, 4),  # experts
    st.sampled_from([1e-3, 1.0, 1e4]),  # scale
    st.integers(0, 2**16),  # seed
)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(problems)
def test_regressor_properties(problem):
    n_samples, n_features, n_experts, scale, seed = problem
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features) * scale
    y = np.sin(X[:, 0] / scale * 2) * scale + 0.1 * scale * rng.randn(n_samples)
    moe = MixtureOfExpertsRegressor(
        n_experts=n_experts,
        gate=LogisticRegression(C=np.inf),
        max_iter=30,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        moe.fit(X, y)
        again = clone(moe).fit(X, y)
    mean, std = moe.predict(X, return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    np.testing.assert_allclose(moe.gate_proba(X).sum(axis=1), 1.0)
    assert np.isfinite(moe.log_likelihood_)
    assert moe.log_likelihood_ == pytest.approx(
        moe.log_likelihood(X, y).sum(), rel=1e-9
    )
    path = moe.log_likelihood_path_
    assert np.all(np.diff(path) >= -1e-7 * (1 + np.abs(path[1:])))
    np.testing.assert_array_equal(again.predict(X), mean)
    restored = pickle.loads(pickle.dumps(moe))
    np.testing.assert_array_equal(restored.predict(X), mean)


@settings(
    max_examples=MAX_EXAMPLES // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(problems, st.integers(2, 4))
def test_classifier_properties(problem, n_classes):
    n_samples, n_features, n_experts, scale, seed = problem
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features) * scale
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    clf = MixtureOfExpertsClassifier(
        n_experts=n_experts, max_iter=20, random_state=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(np.isfinite(clf.predict_log_proba(X)[proba > 0]))
    assert np.isfinite(clf.log_likelihood_)
    assert clf.log_likelihood_ == pytest.approx(
        clf.log_likelihood(X, y).sum(), rel=1e-9
    )
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), proba)


def test_sparse_input_with_a_large_offset_matches_dense():
    rng = np.random.RandomState(0)
    x = 1e6 + 1e-4 * rng.randn(500)
    y = np.abs(x - 1e6) * 1e4 + 0.1 * rng.randn(500)
    dense = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(x[:, None], y)
    sparse = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(
        sp.csr_matrix(x[:, None]), y
    )
    assert sparse.log_likelihood_ == pytest.approx(dense.log_likelihood_, rel=1e-8)


def test_predicting_a_dataframe_fitted_on_a_dataframe_does_not_warn():
    X, y = make_moe_regression(n_samples=200, n_experts=2, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b"])
    moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(frame, y)
    clf = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(frame, y > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        moe.predict(frame, return_std=True)
        moe.score(frame, y)
        clf.predict_proba(frame)
        clf.score(frame, y > 0)


@pytest.mark.parametrize(
    "expert", [MLPRegressor(loss=(8,)), DecisionTreeRegressor(max_depth=-1)]
)
def test_invalid_expert_parameters_raise_scikit_learns_error(expert):
    # An expert's invalid parameter is the user's error, not a degenerate
    # share of the data: no constant expert replaces it.
    X, y = make_moe_regression(n_samples=200, n_experts=2, random_state=0)
    with pytest.raises(ValueError, match="parameter of"):
        MixtureOfExpertsRegressor(expert, n_experts=2).fit(X, y)
