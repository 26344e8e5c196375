"""Likelihood families: Gaussian, Student-t, Poisson and Gamma experts."""

import numpy as np
import pytest
from scipy import optimize, special, stats
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    Ridge,
    TweedieRegressor,
)
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmoe import MixtureOfExpertsRegressor
from skmoe._families import (
    GammaFamily,
    GaussianFamily,
    PoissonFamily,
    StudentTFamily,
    fit_student_t,
    gamma_shape,
)
from skmoe._losses import likelihood_of
from skmoe.datasets import load_patent, load_tone

UNPENALISED = LogisticRegression(C=np.inf)


def _regimes(family, n_samples=400, seed=0):
    """Two regimes split on feature 0, of the family's kind."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 2))
    upper = X[:, 0] > 0
    log_mean = np.where(upper, 1.0 + 0.5 * X[:, 1], 2.0 - 0.3 * X[:, 1])
    if family == "poisson":
        y = rng.poisson(np.exp(log_mean)).astype(float)
    elif family == "gamma":
        y = rng.gamma(3.0, np.exp(log_mean) / 3.0)
    else:
        y = log_mean + 0.2 * rng.standard_t(3, size=n_samples)
    return X, y


ESTIMATORS = {
    "gaussian": LinearRegression(),
    "student_t": LinearRegression(),
    "poisson": PoissonRegressor(alpha=0.0),
    "gamma": GammaRegressor(alpha=0.0),
}


def _fit(family, **params):
    X, y = _regimes(family)
    params = {
        "n_experts": 2,
        "likelihood": family,
        "gate": UNPENALISED,
        "random_state": 0,
        **params,
    }
    return MixtureOfExpertsRegressor(ESTIMATORS[family], **params).fit(X, y), X, y


def _scipy_log_likelihood(moe, X, y):
    """Per-sample log-likelihood from the public fitted parts and scipy.stats."""
    gate = moe.gate_proba(X)
    means = np.column_stack([expert.predict(X) for expert in moe.experts_])
    if moe.likelihood_ == "gaussian":
        density = stats.norm.pdf(y[:, None], means, np.sqrt(moe.noise_variance_))
    elif moe.likelihood_ == "student_t":
        scale = np.sqrt(moe.noise_variance_)
        density = stats.t.pdf(y[:, None], moe.df_, means, scale)
    elif moe.likelihood_ == "poisson":
        density = stats.poisson.pmf(y[:, None], means)
    else:
        phi = moe.dispersion_
        density = stats.gamma.pdf(y[:, None], a=1 / phi, scale=means * phi)
    return np.log(np.sum(gate * density, axis=1))


@pytest.mark.parametrize("family", ["gaussian", "student_t", "poisson", "gamma"])
def test_log_likelihood_matches_scipy(family):
    moe, X, y = _fit(family)
    assert moe.likelihood_ == family
    expected = _scipy_log_likelihood(moe, X, y)
    assert moe.log_likelihood_ == pytest.approx(expected.sum(), rel=1e-8)
    np.testing.assert_allclose(moe.log_likelihood(X, y), expected, rtol=1e-8)


@pytest.mark.parametrize("family", ["gaussian", "student_t", "poisson", "gamma"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_log_likelihood_never_decreases(family):
    moe, _, _ = _fit(family, init="random", max_iter=60, tol=0)
    path = moe.log_likelihood_path_
    assert len(path) == 60
    assert np.all(np.diff(path) >= -1e-9 * np.abs(path[1:]))


@pytest.mark.parametrize("family", ["gaussian", "student_t", "poisson", "gamma"])
def test_inference_methods(family):
    moe, X, y = _fit(family)
    n_params = {"gaussian": 2, "student_t": 4, "poisson": 0, "gamma": 2}[family]
    # gate: (K - 1) * (2 + 1); experts: K * (2 + 1); and the family's own
    assert moe._n_parameters() == 3 + 6 + n_params
    total = moe.log_likelihood(X, y).sum()
    assert moe.bic(X, y) == pytest.approx(-2 * total + (9 + n_params) * np.log(400))
    assert moe.aic(X, y) == pytest.approx(-2 * total + 2 * (9 + n_params))
    mean, std = moe.predict(X, return_std=True)
    gate = moe.gate_proba(X)
    means = np.column_stack([expert.predict(X) for expert in moe.experts_])
    np.testing.assert_allclose(mean, np.sum(gate * means, axis=1), rtol=1e-10)
    assert np.all(np.isfinite(std)) and np.all(std > 0)
    assert moe.score(X, y) > 0.3
    top = moe.set_params(top_k=1).predict(X)
    np.testing.assert_allclose(top, means[np.arange(len(y)), gate.argmax(axis=1)])


@pytest.mark.parametrize(
    "family",
    [GaussianFamily(1.0), StudentTFamily(1.0), PoissonFamily(), GammaFamily()],
)
def test_predictive_agrees_with_mean_variance(family):
    rng = np.random.default_rng(0)
    predictions = rng.uniform(0.5, 3.0, size=(5, 3))
    dispersion = {
        "gaussian": np.array([0.5, 1.0, 2.0]),
        "student_t": np.array([[0.5, 1.0, 2.0], [3.0, 10.0, 50.0]]),
        "poisson": None,
        "gamma": np.array([0.2, 0.5, 1.0]),
    }[family.name]
    distribution = family.predictive(predictions, dispersion)
    mean, variance = family.mean_variance(predictions, dispersion)
    np.testing.assert_allclose(distribution.mean(), mean, rtol=1e-12)
    np.testing.assert_allclose(distribution.var(), variance, rtol=1e-12)
    y = rng.uniform(0.5, 3.0, size=5)
    if family.name == "poisson":
        y = np.round(y)
        expected = distribution.logpmf(y[:, None])
    else:
        expected = distribution.logpdf(y[:, None])
    np.testing.assert_allclose(
        family.log_density(y, predictions, dispersion), expected, rtol=1e-12
    )


def test_gamma_dispersion_is_the_maximum_likelihood():
    rng = np.random.default_rng(1)
    y, mean = rng.gamma(2.5, 1.0, size=300), rng.uniform(1.0, 4.0, size=300)
    weights = rng.uniform(0.0, 1.0, size=300)
    dispersion = GammaFamily().fit_dispersion(y, mean[:, None], weights[:, None])

    def negative(shape):
        logpdf = stats.gamma.logpdf(y, a=shape, scale=mean / shape)
        return -np.sum(weights * logpdf)

    best = optimize.minimize_scalar(negative, bounds=(0.01, 100), method="bounded")
    assert 1 / dispersion[0] == pytest.approx(best.x, rel=1e-5)
    shape = gamma_shape(np.array([0.01, 0.5, 3.0]))
    np.testing.assert_allclose(
        np.log(shape) - special.digamma(shape), [0.01, 0.5, 3.0], rtol=1e-12
    )


def test_student_t_parameters_are_the_maximum_likelihood():
    rng = np.random.default_rng(2)
    residuals = 0.5 * rng.standard_t(4, size=(500, 1))
    weights = rng.uniform(0.2, 1.0, size=(500, 1))
    scale2, df = fit_student_t(residuals, weights, 1e-12)[:, 0]

    def negative(theta):
        logpdf = stats.t.logpdf(residuals[:, 0], np.exp(theta[1]), 0, np.exp(theta[0]))
        return -np.sum(weights[:, 0] * logpdf)

    start = [np.log(residuals.std()), np.log(10.0)]
    best = optimize.minimize(negative, start, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12})  # fmt: skip
    assert np.sqrt(scale2) == pytest.approx(np.exp(best.x[0]), rel=1e-4)
    assert df == pytest.approx(np.exp(best.x[1]), rel=1e-3)
    assert negative(np.log([np.sqrt(scale2), df])) <= best.fun + 1e-9


def test_student_t_resists_outliers():
    X, y = load_tone(return_X_y=True)
    rng = np.random.default_rng(1)
    far = rng.choice(len(y), 10, replace=False)
    X_dirty = np.vstack([X, X[far]])
    y_dirty = np.concatenate([y, y[far] + 3.0])  # far above both lines

    def lines(likelihood, X, y):
        moe = MixtureOfExpertsRegressor(
            n_experts=2, likelihood=likelihood, n_init=5, random_state=0
        ).fit(X, y)
        return np.array(
            sorted((expert.coef_[0], expert.intercept_) for expert in moe.experts_)
        )

    clean = lines("gaussian", X, y)
    robust = lines("student_t", X_dirty, y_dirty)
    dragged = lines("gaussian", X_dirty, y_dirty)
    # Student-t experts stay on the clean lines, with or without outliers...
    np.testing.assert_allclose(robust, lines("student_t", X, y), atol=0.005)
    np.testing.assert_allclose(robust, clean, atol=0.06)
    # ...where Gaussian experts are dragged away (one fits the outliers).
    assert np.max(np.abs(dragged - clean)) > 0.5


@pytest.mark.parametrize(
    "estimator, expected",
    [
        (PoissonRegressor(), "poisson"),
        (TweedieRegressor(power=1), "poisson"),
        (HistGradientBoostingRegressor(loss="poisson"), "poisson"),
        (MLPRegressor(loss="poisson"), "poisson"),
        (GammaRegressor(), "gamma"),
        (TweedieRegressor(power=2), "gamma"),
        (HistGradientBoostingRegressor(loss="gamma"), "gamma"),
        (make_pipeline(StandardScaler(), PoissonRegressor()), "poisson"),
        (TweedieRegressor(power=1.5), "gaussian"),
        (HistGradientBoostingRegressor(), "gaussian"),
        (Ridge(), "gaussian"),
    ],
)
def test_auto_likelihood_follows_the_expert_loss(estimator, expected):
    assert likelihood_of(estimator) == expected


def test_auto_likelihood_is_recorded():
    X, y = _regimes("poisson")
    moe = MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=2, random_state=0)
    assert moe.fit(X, y).likelihood_ == "poisson"
    assert not hasattr(moe, "noise_variance_")
    moe.set_params(estimator=LinearRegression()).fit(X, y)
    assert moe.likelihood_ == "gaussian"
    assert moe.noise_variance_.shape == (2,)
    moe.set_params(estimator=GammaRegressor()).fit(X, y + 1)
    assert moe.likelihood_ == "gamma" and not hasattr(moe, "noise_variance_")
    assert moe.dispersion_.shape == (2,)


@pytest.mark.parametrize(
    "likelihood, y, message",
    [
        ("poisson", [1.0, -1.0], "non-negative"),
        ("gamma", [1.0, 0.0], "positive targets"),
        ("normal", [1.0, 2.0], "likelihood"),
    ],
)
def test_bad_targets_and_likelihoods(likelihood, y, message):
    X = np.arange(20.0)[:, None]
    y = np.resize(np.array(y), 20)
    moe = MixtureOfExpertsRegressor(n_experts=2, likelihood=likelihood)
    with pytest.raises(ValueError, match=message):
        moe.fit(X, y)


def test_warm_start_needs_the_same_likelihood():
    X, y = _regimes("poisson")
    moe = MixtureOfExpertsRegressor(
        n_experts=2, likelihood="poisson", warm_start=True, random_state=0
    ).fit(X, y)
    moe.fit(X, y)  # continues
    with pytest.raises(ValueError, match="same likelihood"):
        moe.set_params(likelihood="gaussian").fit(X, y)


def test_poisson_bic_and_icl_match_flexmix():
    # benchmarks/flexmix_icl.R: the patent model with K = 2, flexmix's
    # logLik -218.4907690116, BIC 462.4725094754, ICL 473.5433523419.
    X, y = load_patent(return_X_y=True, as_frame=True)
    moe = MixtureOfExpertsRegressor(
        PoissonRegressor(alpha=0),
        n_experts=2,
        expert_features=["lgRD"],
        gate_features=["RDS"],
        gate=UNPENALISED,
        n_init=10,
        tol=1e-10,
        max_iter=1000,
        random_state=0,
    ).fit(X, y)
    assert moe.log_likelihood_ == pytest.approx(-218.4907690116, abs=1e-6)
    assert moe.bic(X, y) == pytest.approx(462.4725094754, abs=1e-5)
    # flexmix keeps the posterior of its last E-step but one (it differs from
    # the posterior at its final parameters by ~3e-5 here): 1e-3.
    assert moe.icl(X, y) == pytest.approx(473.5433523419, abs=1e-3)


@pytest.mark.parametrize("family", ["student_t", "poisson", "gamma"])
def test_predictive_methods_follow_the_family(family):
    moe, X, y = _fit(family)
    low, high = moe.predict_interval(X[:50], coverage=0.9).T
    assert np.all(low <= high)
    inside = np.mean((y[:50] >= low) & (y[:50] <= high))
    assert inside > 0.75
    draws = moe.sample_y(X[:50], n_samples=3, random_state=0)
    assert np.all(np.isfinite(draws))
    if family == "poisson":
        np.testing.assert_array_equal(draws, np.round(draws))
        np.testing.assert_array_equal(low, np.round(low))
    if family == "gamma":
        assert np.all(draws > 0)
