import pickle

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe._engines import make_training_data
from skmoe._experts import RegressionExperts, make_experts
from skmoe._kernels import _xp
from skmoe.datasets import make_moe_regression


def _mixture_log_likelihood(moe, X, y):
    """Per-sample log-likelihood recomputed from the public fitted pieces."""
    gate = moe.gate_proba(X)
    means = np.column_stack([expert.predict(X) for expert in moe.experts_])
    density = norm.pdf(y[:, None], means, np.sqrt(moe.noise_variance_))
    return np.log(np.sum(gate * density, axis=1))


@pytest.fixture(scope="module")
def regimes():
    return make_moe_regression(n_samples=600, n_experts=3, noise=0.3, random_state=0)


def test_log_likelihood_is_consistent(mcycle):
    X, y = mcycle
    moe = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    per_sample = moe.log_likelihood(X, y)
    assert per_sample.shape == (len(y),)
    assert moe.log_likelihood_ == pytest.approx(per_sample.sum(), rel=1e-12)
    np.testing.assert_allclose(
        per_sample, _mixture_log_likelihood(moe, X, y), rtol=1e-9
    )
    assert moe.log_likelihood_path_[-1] == moe.log_likelihood_
    assert len(moe.log_likelihood_path_) == moe.n_iter_


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dataset", ["mcycle", "npreg", "regimes"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_log_likelihood_never_decreases(dataset, seed, request):
    X, y = request.getfixturevalue(dataset)
    # EM raises the penalised likelihood; without a gate penalty, that is
    # the log-likelihood itself.
    moe = MixtureOfExpertsRegressor(
        n_experts=3,
        gate=LogisticRegression(C=np.inf),
        init="random",
        max_iter=200,
        tol=0,
        random_state=seed,
    ).fit(X, y)
    path = moe.log_likelihood_path_
    assert len(path) == 200
    assert np.all(np.diff(path) >= -1e-9 * np.abs(path[1:]))


def test_recovers_regimes(regimes):
    X, y = regimes
    moe = MixtureOfExpertsRegressor(n_experts=3, n_init=3, random_state=0).fit(X, y)
    linear = LinearRegression().fit(X, y)
    assert moe.score(X, y) > linear.score(X, y) + 0.2
    np.testing.assert_allclose(np.sqrt(moe.noise_variance_), 0.3, rtol=0.25)


def test_same_random_state_same_model_and_pickle(mcycle):
    X, y = mcycle
    params = dict(n_experts=3, init="random", n_init=3, random_state=7)
    first = MixtureOfExpertsRegressor(**params).fit(X, y)
    second = MixtureOfExpertsRegressor(**params).fit(X, y)
    assert first.log_likelihood_ == second.log_likelihood_
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(restored.predict(X), first.predict(X))
    np.testing.assert_array_equal(restored.gate_proba(X), first.gate_proba(X))


def test_predict_return_std(mcycle):
    X, y = mcycle
    moe = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    mean, std = moe.predict(X, return_std=True)
    gate = moe.gate_proba(X)
    means = np.column_stack([expert.predict(X) for expert in moe.experts_])
    np.testing.assert_allclose(mean, np.sum(gate * means, axis=1))
    variance = np.sum(gate * (moe.noise_variance_ + means**2), axis=1) - mean**2
    np.testing.assert_allclose(std, np.sqrt(variance), rtol=1e-7)
    assert np.all(std > 0)


@pytest.mark.parametrize("expert", [LinearRegression(), Ridge(alpha=3.0)])
def test_batched_linear_experts_equal_weighted_fits(expert):
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3) * [1.0, 100.0, 0.01] + [5.0, -50.0, 0.0]
    y = X @ [1.0, 0.02, 30.0] + rng.randn(200)
    responsibilities = rng.dirichlet(np.ones(3), size=200)
    sample_weight = rng.uniform(0.5, 2.0, 200)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    data = make_training_data(X, y, sample_weight, mean, scale)
    experts = make_experts(expert, 3, np.random.RandomState(0))
    weights = responsibilities * sample_weight[:, None]
    model = RegressionExperts("regression", mean, scale)
    experts = model.fit(experts, data, responsibilities, _xp)
    means = model.predictions(experts, data)
    for k, fitted in enumerate(experts):
        assert type(fitted) is type(expert)
        reference = expert.__class__(**expert.get_params()).fit(
            X, y, sample_weight=weights[:, k]
        )
        np.testing.assert_allclose(fitted.predict(X), reference.predict(X), rtol=1e-8)
        np.testing.assert_allclose(means[:, k], reference.predict(X), rtol=1e-8)


@pytest.mark.parametrize(
    "expert",
    [
        DecisionTreeRegressor(max_depth=3),
        KNeighborsRegressor(n_neighbors=5),
        LinearRegression(fit_intercept=False),
    ],
)
def test_generic_experts(expert, regimes):
    X, y = regimes
    # k-means start: the score threshold was set for it; from the model-tree
    # start the tree experts reach 0.798 on this seed (over seeds 0-4 the two
    # starts average 0.76 and 0.77).
    moe = MixtureOfExpertsRegressor(
        expert, n_experts=3, init="kmeans", random_state=0
    ).fit(X, y)
    assert all(type(fitted) is type(expert) for fitted in moe.experts_)
    assert len({id(fitted) for fitted in moe.experts_}) == 3
    assert np.isfinite(moe.log_likelihood_)
    assert moe.score(X, y) > 0.8


def test_experts_get_distinct_random_states(regimes):
    X, y = regimes
    moe = MixtureOfExpertsRegressor(
        DecisionTreeRegressor(max_depth=2, random_state=0), n_experts=3, random_state=0
    ).fit(X, y)
    seeds = [expert.random_state for expert in moe.experts_]
    assert len(set(seeds)) == 3


def test_collapsing_expert_keeps_finite_likelihood():
    # Ten copies of three points: an expert can fit them exactly; the noise
    # variance floor keeps the likelihood finite.
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(100, 1), np.repeat([[0.0], [1.0], [2.0]], 10, axis=0)])
    y = np.concatenate([rng.randn(100), np.repeat([5.0, 6.0, 7.0], 10)])
    moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    assert np.isfinite(moe.log_likelihood_)
    assert np.all(moe.noise_variance_ >= 1e-6 * y.var() * (1 - 1e-12))


# Best log-likelihoods (logLik) of R's flexmix 2.3.18 for the same model:
# flexmix(y ~ x, k = K, model = FLXMRglm(), concomitant = FLXPmultinom(~ x),
# control = list(minprior = 0, tolerance = 1e-10, iter.max = 5000)), best of
# 200 random restarts (mcycle K = 3: of 210, among them the best of a screen of
# 200 seeds; its gate tends to a step function, the supremum is not attained,
# and flexmix stops at -578.82 after 5000 iterations). Produced by
# benchmarks/flexmix_reference.R. flexmix's noise variance carries an
# n / (n - p) degrees-of-freedom factor, so the true maximum (ours) lies
# 0.01-0.03 above these values.
FLEXMIX_BEST = {
    ("mcycle", 2): -614.56577823,
    ("mcycle", 3): -578.82395750,
    ("tone", 2): 142.83823124,
    ("npreg", 2): -640.33341394,
    ("npreg", 3): -631.74675149,
}


@pytest.mark.parametrize("dataset, n_experts", sorted(FLEXMIX_BEST))
def test_reaches_flexmix_maximum_likelihood(dataset, n_experts, request):
    X, y = request.getfixturevalue(dataset)
    moe = MixtureOfExpertsRegressor(
        n_experts=n_experts,
        gate=LogisticRegression(C=np.inf),
        n_init=20,
        max_iter=1000,
        tol=1e-8,
        random_state=0,
    ).fit(X, y)
    assert moe.log_likelihood_ >= FLEXMIX_BEST[dataset, n_experts] - 0.05
