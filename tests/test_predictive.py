import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from skmoe._predictive import (
    mixture_cdf,
    mixture_interval,
    mixture_mean_variance,
    mixture_quantiles,
    mixture_sample,
)

QUANTILES = np.array([1e-4, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1 - 1e-4])


def _random_weights(rng, n_samples, n_components, n_zeros=0):
    weights = rng.dirichlet(np.ones(n_components), size=n_samples)
    # top_k routing: some samples give exactly zero weight to some components.
    for i in range(min(n_zeros, n_samples)):
        weights[i, rng.choice(n_components, n_components - 1, replace=False)[:1]] = 0
        weights[i] /= weights[i].sum()
    return weights


def _gaussian_mixture(seed=0, n_samples=40, n_components=3, n_zeros=0):
    rng = np.random.default_rng(seed)
    weights = _random_weights(rng, n_samples, n_components, n_zeros)
    means = rng.normal(0, 4, size=(n_samples, n_components))
    scales = rng.uniform(0.3, 2.0, size=n_components)
    return weights, stats.norm(loc=means, scale=scales[None, :]), means, scales


def test_single_component_equals_scipy_ppf():
    rng = np.random.default_rng(1)
    means = rng.normal(size=(7, 1))
    components = stats.norm(loc=means, scale=1.7)
    values = mixture_quantiles(np.ones((7, 1)), components, QUANTILES)
    expected = stats.norm.ppf(QUANTILES[None, :], loc=means, scale=1.7)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)


def test_one_nonzero_weight_equals_that_component():
    weights = np.array([[0.0, 1.0, 0.0]])
    # Zero-weight components may even carry invalid parameters.
    components = stats.gamma(a=np.array([[2.0, 3.0, -1.0]]), scale=1.5)
    values = mixture_quantiles(weights, components, QUANTILES)
    np.testing.assert_allclose(values[0], stats.gamma.ppf(QUANTILES, 3.0, scale=1.5))


def test_two_component_gaussian_quantiles_invert_the_cdf():
    weights = np.array([[0.3, 0.7], [0.5, 0.5], [0.99, 0.01]])
    means = np.array([[-3.0, 2.0], [0.0, 0.0], [0.0, 50.0]])
    scales = np.array([0.5, 2.0])
    values = mixture_quantiles(weights, stats.norm(means, scales[None, :]), QUANTILES)
    # The CDF written out independently of the module.
    cdf = np.sum(
        weights[:, None, :]
        * stats.norm.cdf(values[:, :, None], means[:, None, :], scales[None, None, :]),
        axis=2,
    )
    np.testing.assert_allclose(cdf, np.broadcast_to(QUANTILES, cdf.shape), atol=1e-9)
    assert np.all(np.diff(values, axis=1) > 0)


def test_equal_components_reduce_to_one():
    weights = np.array([[0.2, 0.8]])
    components = stats.norm(loc=np.array([[1.0, 1.0]]), scale=np.array([[2.0, 2.0]]))
    values = mixture_quantiles(weights, components, QUANTILES)
    np.testing.assert_allclose(
        values[0], stats.norm.ppf(QUANTILES, 1.0, 2.0), atol=1e-8
    )


@pytest.mark.parametrize(
    "make_components",
    [
        lambda means: stats.norm(loc=means, scale=np.array([[0.5, 1.0, 3.0]])),
        lambda means: stats.t(df=np.array([[2.5, 4.0, 30.0]]), loc=means, scale=1.2),
        lambda means: stats.gamma(
            a=np.array([[0.7, 2.0, 9.0]]), scale=np.exp(means) / 2
        ),
    ],
    ids=["norm", "student_t", "gamma"],
)
def test_continuous_mixtures_hit_the_probability(make_components):
    rng = np.random.default_rng(2)
    weights = _random_weights(rng, 30, 3, n_zeros=10)
    components = make_components(rng.normal(0, 2, size=(30, 3)))
    values = mixture_quantiles(weights, components, QUANTILES)
    assert values.shape == (30, QUANTILES.size)
    reached = mixture_cdf(values, weights, components)
    np.testing.assert_allclose(
        reached, np.broadcast_to(QUANTILES, reached.shape), atol=1e-6
    )


def test_far_tail_quantiles_are_relatively_accurate():
    weights = np.array([[0.5, 0.5]])
    components = stats.norm(loc=np.array([[-2.0, 2.0]]), scale=1.0)
    tails = np.array([1e-12, 1e-9, 1 - 1e-9])
    values = mixture_quantiles(weights, components, tails)
    lower = 0.5 * (
        stats.norm.cdf(values[0, :2], -2, 1) + stats.norm.cdf(values[0, :2], 2, 1)
    )
    upper = 0.5 * (
        stats.norm.sf(values[0, 2], -2, 1) + stats.norm.sf(values[0, 2], 2, 1)
    )
    np.testing.assert_allclose(lower, tails[:2], rtol=1e-3)
    np.testing.assert_allclose(upper, 1e-9, rtol=1e-2)


def test_poisson_mixture_quantiles_are_smallest_integers():
    rng = np.random.default_rng(3)
    weights = _random_weights(rng, 50, 3, n_zeros=15)
    means = np.exp(rng.normal(1, 1.5, size=(50, 3)))
    components = stats.poisson(mu=means)
    values = mixture_quantiles(weights, components, QUANTILES)
    np.testing.assert_array_equal(values, np.round(values))
    cdf = np.sum(
        weights[:, None, :] * stats.poisson.cdf(values[:, :, None], means[:, None, :]),
        2,
    )
    below = np.sum(
        weights[:, None, :]
        * stats.poisson.cdf(values[:, :, None] - 1, means[:, None, :]),
        2,
    )
    assert np.all(cdf >= QUANTILES - 1e-12)
    assert np.all(below < QUANTILES)


def test_poisson_single_component_equals_scipy():
    means = np.array([[0.3], [4.0], [120.0]])
    values = mixture_quantiles(np.ones((3, 1)), stats.poisson(means), QUANTILES)
    np.testing.assert_array_equal(values, stats.poisson.ppf(QUANTILES[None, :], means))


def test_mixture_cdf_matches_direct_sum_and_shapes():
    weights, components, means, scales = _gaussian_mixture(n_zeros=5)
    y = np.linspace(-5, 5, 40)
    expected = np.sum(weights * stats.norm.cdf(y[:, None], means, scales), axis=1)
    np.testing.assert_allclose(mixture_cdf(y, weights, components), expected)
    grid = np.stack([y, y + 1], axis=1)
    assert mixture_cdf(grid, weights, components).shape == (40, 2)
    np.testing.assert_allclose(mixture_cdf(grid, weights, components)[:, 0], expected)


def test_interval_is_the_central_quantile_pair():
    weights, components, _, _ = _gaussian_mixture(seed=4)
    interval = mixture_interval(weights, components, coverage=0.8)
    assert interval.shape == (40, 2)
    inside = mixture_cdf(interval[:, 1], weights, components) - mixture_cdf(
        interval[:, 0], weights, components
    )
    np.testing.assert_allclose(inside, 0.8, atol=1e-8)
    np.testing.assert_allclose(
        mixture_cdf(interval[:, 0], weights, components), 0.1, atol=1e-8
    )


def test_samples_follow_the_mixture_quantiles():
    weights = np.array([[0.3, 0.7, 0.0], [0.0, 0.5, 0.5]])
    # The zero-weight component sits far away: a single draw from it would show.
    means = np.array([[-3.0, 2.0, 1000.0], [1000.0, 0.0, 6.0]])
    components = stats.norm(loc=means, scale=np.array([[1.0, 0.5, 1.0]]))
    draws = mixture_sample(weights, components, n_samples=20000, random_state=0)
    assert draws.shape == (2, 20000)
    assert np.all(np.abs(draws) < 100)
    probabilities = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    expected = mixture_quantiles(weights, components, probabilities)
    empirical = np.quantile(draws, probabilities, axis=1).T
    # Away from the gap between modes, the quantiles themselves agree...
    np.testing.assert_allclose(empirical[0], expected[0], atol=0.1)
    # ...and everywhere the share of draws below each quantile is q.
    below = np.mean(draws[:, None, :] <= expected[:, :, None], axis=2)
    np.testing.assert_allclose(
        below, np.broadcast_to(probabilities, below.shape), atol=0.01
    )
    # Reproducible with the same seed.
    again = mixture_sample(weights, components, n_samples=20000, random_state=0)
    np.testing.assert_array_equal(draws, again)


def test_poisson_samples_are_integers_with_the_right_mean():
    weights = np.array([[0.25, 0.75]])
    components = stats.poisson(mu=np.array([[2.0, 10.0]]))
    draws = mixture_sample(weights, components, n_samples=20000, random_state=1)
    np.testing.assert_array_equal(draws, np.round(draws))
    mean, variance = mixture_mean_variance(weights, components)
    assert abs(draws.mean() - mean[0]) < 0.1
    assert abs(draws.var() - variance[0]) / variance[0] < 0.05


def test_mean_variance_law_of_total_variance():
    weights = np.array([[0.3, 0.7], [1.0, 0.0]])
    means = np.array([[-1.0, 2.0], [4.0, np.nan]])
    components = stats.norm(loc=means, scale=np.array([[1.0, 3.0]]))
    mean, variance = mixture_mean_variance(weights, components)
    np.testing.assert_allclose(mean, [0.3 * -1 + 0.7 * 2, 4.0])
    second_moment = 0.3 * (1 + 1) + 0.7 * (9 + 4)
    np.testing.assert_allclose(variance, [second_moment - 1.1**2, 1.0])


def test_one_row_and_scalar_quantile():
    components = stats.norm(loc=np.array([[0.0, 3.0]]), scale=1.0)
    values = mixture_quantiles(np.array([[0.5, 0.5]]), components, 0.5)
    assert values.shape == (1, 1)
    np.testing.assert_allclose(values, 1.5, atol=1e-8)


def test_inputs_are_not_modified():
    weights, components, means, _ = _gaussian_mixture(n_zeros=3)
    weights_copy, means_copy = weights.copy(), means.copy()
    quantiles = np.array([0.1, 0.9])
    mixture_quantiles(weights, components, quantiles)
    mixture_sample(weights, components, 3, random_state=0)
    np.testing.assert_array_equal(weights, weights_copy)
    np.testing.assert_array_equal(means, means_copy)
    np.testing.assert_array_equal(quantiles, [0.1, 0.9])


@pytest.mark.parametrize(
    "quantiles", [0.0, 1.0, [0.5, 1.2], [-0.1], [np.nan], [[0.5]], []]
)
def test_bad_quantiles_raise(quantiles):
    weights, components, _, _ = _gaussian_mixture()
    with pytest.raises(ValueError, match="quantiles"):
        mixture_quantiles(weights, components, quantiles)


@pytest.mark.parametrize("coverage", [0.0, 1.0, 1.5, np.nan, -0.2])
def test_bad_coverage_raises(coverage):
    weights, components, _, _ = _gaussian_mixture()
    with pytest.raises(ValueError, match="coverage"):
        mixture_interval(weights, components, coverage)
    with pytest.raises(TypeError, match="coverage"):
        mixture_interval(weights, components, "0.9")


def test_bad_weights_and_components_raise():
    weights, components, _, _ = _gaussian_mixture()
    with pytest.raises(ValueError, match="sum to 1"):
        mixture_quantiles(weights * 2, components, [0.5])
    with pytest.raises(ValueError, match="non-negative"):
        mixture_cdf(np.zeros(40), -weights, components)
    with pytest.raises(ValueError, match="2-D"):
        mixture_mean_variance(weights[0], components)
    with pytest.raises(ValueError, match="broadcast"):
        mixture_quantiles(weights[:5], components, [0.5])
    with pytest.raises(TypeError, match="frozen scipy.stats"):
        mixture_quantiles(weights, stats.norm, [0.5])
    with pytest.raises(ValueError, match="y must have shape"):
        mixture_cdf(np.zeros(3), weights, components)
    with pytest.raises(ValueError, match="n_samples"):
        mixture_sample(weights, components, 0)
    with pytest.raises(TypeError, match="n_samples"):
        mixture_sample(weights, components, 2.5)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    probabilities=st.lists(
        st.floats(1e-6, 1 - 1e-6, allow_nan=False), min_size=2, max_size=6, unique=True
    ),
    discrete=st.booleans(),
)
def test_quantiles_are_monotone_in_q(seed, probabilities, discrete):
    rng = np.random.default_rng(seed)
    weights = _random_weights(rng, 4, 3, n_zeros=2)
    means = rng.normal(0, 3, size=(4, 3))
    if discrete:
        components = stats.poisson(mu=np.exp(means / 2))
    else:
        components = stats.norm(loc=means, scale=rng.uniform(0.1, 3, size=(1, 3)))
    probabilities = np.sort(probabilities)
    values = mixture_quantiles(weights, components, probabilities)
    assert np.all(np.diff(values, axis=1) >= 0)
    reached = mixture_cdf(values, weights, components)
    assert np.all(reached >= probabilities - 1e-6)
