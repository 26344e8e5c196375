"""The EM loop, initialisation, model selection and the scikit-learn plumbing."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_regression


def _two_regimes(n_samples=400, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-3, 3, size=(n_samples, 2))
    y = np.where(X[:, 0] < 0, 2 * X[:, 1] + 1, -3 * X[:, 1] - 2)
    return X, y + 0.2 * rng.randn(n_samples)


def test_grid_search_over_n_experts_in_pipeline_with_dataframe():
    X, y = _two_regimes()
    frame = pd.DataFrame(X, columns=["switch", "signal"])
    pipeline = make_pipeline(
        StandardScaler(), MixtureOfExpertsRegressor(n_init=2, random_state=0)
    )
    search = GridSearchCV(
        pipeline,
        {"mixtureofexpertsregressor__n_experts": [1, 2, 3]},
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(frame, y)
    assert search.best_params_["mixtureofexpertsregressor__n_experts"] > 1
    assert search.best_score_ > 0.95


def test_feature_names_from_dataframe():
    X, y = _two_regimes()
    frame = pd.DataFrame(X, columns=["switch", "signal"])
    moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(frame, y)
    np.testing.assert_array_equal(moe.feature_names_in_, ["switch", "signal"])
    assert moe.n_features_in_ == 2
    with pytest.warns(UserWarning, match="feature names"):
        np.testing.assert_allclose(moe.predict(frame), moe.predict(X))


def test_default_gate_reaches_sharp_boundaries_with_finite_weights():
    X, y = _two_regimes(n_samples=20_000)
    moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    near = np.array([[-0.1, 0.0], [0.1, 0.0]])
    gate = moe.gate_proba(near)
    # 0.1 away from the boundary the gate is already nearly certain ...
    assert gate.max(axis=1).min() > 0.99
    assert gate[0].argmax() != gate[1].argmax()
    # ... while the separable responsibilities leave the weights finite.
    assert np.all(np.isfinite(moe.gate_.coef_))
    assert np.abs(moe.gate_.coef_).max() < 1e4
    assert moe.score(X, y) > 0.99


def test_more_restarts_never_worse():
    X, y = make_moe_regression(n_samples=300, n_experts=4, random_state=2)
    single = MixtureOfExpertsRegressor(n_experts=4, random_state=0).fit(X, y)
    many = MixtureOfExpertsRegressor(n_experts=4, n_init=5, random_state=0).fit(X, y)
    assert many.log_likelihood_ >= single.log_likelihood_ - 1e-9


def test_max_iter_zero_and_convergence_warning():
    X, y = _two_regimes()
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        moe = MixtureOfExpertsRegressor(n_experts=2, max_iter=1, tol=0).fit(X, y)
    assert moe.n_iter_ == 1 and not moe.converged_
    moe = MixtureOfExpertsRegressor(n_experts=2, max_iter=0).fit(X, y)
    assert moe.n_iter_ == 0 and len(moe.log_likelihood_path_) == 0
    assert np.all(np.isfinite(moe.predict(X)))
    assert moe.log_likelihood_ == pytest.approx(moe.log_likelihood(X, y).sum())


def test_warm_start_continues():
    X, y = _two_regimes()
    moe = MixtureOfExpertsRegressor(
        n_experts=2,
        gate=LogisticRegression(C=np.inf),
        max_iter=3,
        tol=0,
        warm_start=True,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning):
        moe.fit(X, y)
    first = moe.log_likelihood_
    experts = moe.experts_
    with pytest.warns(ConvergenceWarning):
        moe.fit(X, y)
    assert moe.experts_ is experts
    assert moe.log_likelihood_ >= first
    # Two warm fits of 3 iterations are one cold fit of 6.
    cold = clone(moe).set_params(warm_start=False, max_iter=6)
    with pytest.warns(ConvergenceWarning):
        cold.fit(X, y)
    np.testing.assert_allclose(moe.log_likelihood_path_, cold.log_likelihood_path_[3:])


def test_init_array():
    X, y = _two_regimes()
    truth = (X[:, 0] < 0).astype(int)
    init = np.eye(2)[truth] * 3.0  # rows are normalised
    moe = MixtureOfExpertsRegressor(n_experts=2, init=init).fit(X, y)
    assert np.mean(moe.apply(X) == truth) in (
        pytest.approx(0, abs=0.02),
        pytest.approx(1, abs=0.02),
    )
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_experts\)"):
        MixtureOfExpertsRegressor(n_experts=3, init=init).fit(X, y)


def test_integer_sample_weight_equals_repeated_rows():
    X, y = _two_regimes(n_samples=100)
    weights = np.random.RandomState(0).randint(1, 4, size=100)
    init = np.random.RandomState(1).dirichlet(np.ones(2), size=100)
    params = dict(n_experts=2, max_iter=20, tol=0, random_state=0)
    weighted = MixtureOfExpertsRegressor(init=init, **params)
    with pytest.warns(ConvergenceWarning):
        weighted.fit(X, y, sample_weight=weights)
    repeated = MixtureOfExpertsRegressor(
        init=np.repeat(init, weights, axis=0), **params
    )
    with pytest.warns(ConvergenceWarning):
        repeated.fit(np.repeat(X, weights, axis=0), np.repeat(y, weights))
    assert weighted.log_likelihood_ == pytest.approx(repeated.log_likelihood_, rel=1e-7)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-6)


def test_verbose_prints_iterations(capsys):
    X, y = _two_regimes(n_samples=100)
    MixtureOfExpertsRegressor(n_experts=2, verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "iteration 1: log-likelihood" in out and "converged" in out


def test_classifier_as_gate():
    X, y = _two_regimes()
    moe = MixtureOfExpertsRegressor(
        n_experts=2, gate=DecisionTreeClassifier(max_depth=3), random_state=0
    ).fit(X, y)
    np.testing.assert_allclose(moe.gate_proba(X).sum(axis=1), 1.0)
    assert moe.score(X, y) > 0.95
    with pytest.raises(ValueError, match="softmax gate"):
        moe.bic(X, y)


def test_bic_aic_count_parameters(mcycle):
    X, y = mcycle
    moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    # Experts: 2 x (slope, intercept, variance); gate: 1 x (slope, intercept).
    n_params = 2 * 3 + 2
    log_likelihood = moe.log_likelihood(X, y).sum()
    assert moe.bic(X, y) == pytest.approx(
        -2 * log_likelihood + n_params * np.log(len(y))
    )
    assert moe.aic(X, y) == pytest.approx(-2 * log_likelihood + 2 * n_params)


def test_bic_picks_the_true_number_of_regimes():
    X, y = make_moe_regression(n_samples=1500, n_experts=3, noise=0.3, random_state=0)
    bic = {
        k: MixtureOfExpertsRegressor(n_experts=k, n_init=3, random_state=0)
        .fit(X, y)
        .bic(X, y)
        for k in [1, 2, 3, 4]
    }
    assert min(bic, key=bic.get) == 3


@pytest.mark.parametrize(
    "Estimator", [MixtureOfExpertsRegressor, MixtureOfExpertsClassifier]
)
def test_parameter_errors(Estimator):
    X = np.random.RandomState(0).randn(10, 2)
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="backend"):
        Estimator(backend="tpu").fit(X, y)
    with pytest.raises(ValueError, match="init"):
        Estimator(init="spectral").fit(X, y)
    with pytest.raises(ValueError, match="n_experts"):
        Estimator(n_experts=0).fit(X, y)
    with pytest.raises(ValueError, match="n_samples = 10"):
        Estimator(n_experts=11).fit(X, y)
    with pytest.raises(ValueError, match="top_k=4 must be at most n_experts=3"):
        Estimator(n_experts=3, top_k=4).fit(X, y)


def test_cupy_backend_without_cupy_says_how_to_install():
    import importlib.util

    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed")
    X, y = _two_regimes(n_samples=50)
    with pytest.raises(ImportError, match=r'pip install "skmoe\[gpu\]"'):
        MixtureOfExpertsRegressor(backend="cupy").fit(X, y)


def test_warm_start_refuses_a_different_problem():
    X, y = _two_regimes(n_samples=120)
    moe = MixtureOfExpertsRegressor(n_experts=2, warm_start=True, random_state=0)
    moe.fit(X, y)
    with pytest.raises(ValueError, match="number of features"):
        moe.fit(X[:, :1], y)
    clf = MixtureOfExpertsClassifier(n_experts=2, warm_start=True, random_state=0)
    clf.fit(X, (y > 0).astype(int))
    with pytest.raises(ValueError, match="classes"):
        clf.fit(X, np.arange(len(y)) % 3)


def test_gate_options_that_cannot_be_honoured_are_refused():
    from sklearn.neighbors import KNeighborsClassifier

    X, y = _two_regimes(n_samples=60)
    with pytest.raises(ValueError, match="fit_intercept"):
        MixtureOfExpertsRegressor(
            n_experts=2, gate=LogisticRegression(fit_intercept=False)
        ).fit(X, y)
    with pytest.raises(TypeError, match="no sample_weight"):
        MixtureOfExpertsRegressor(n_experts=2, gate=KNeighborsClassifier()).fit(X, y)
