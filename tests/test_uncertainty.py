"""The regressor's predictive distribution and standard errors (public API)."""

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import load_npreg, load_tone

# Rscript benchmarks/flexmix_refit.R, case "NPreg K=2 yn ~ x + x2,
# concomitant ~ x + x2": summary(refit(m)) at logLik -640.320436.
FLEXMIX_NPREG_X2 = {
    "expert_a": ([15.0312494654346, 9.66993125886616, -0.952189506781022],
                 [1.38991663135515, 0.61332244039839, 0.05704483629536]),
    "expert_b": ([0.0203315193952851, 4.65943204893757, 0.0510303067398934],
                 [1.02916869323031, 0.52064088770114, 0.05048662111011]),
    # gate of expert b against expert a
    "gate": ([0.90264296930449, -0.46426715524878, 0.04034743748122],
             [0.48426975071168, 0.23115435712907, 0.02186292225713]),
}  # fmt: skip


@pytest.fixture(scope="module")
def tone_fit():
    X, y = load_tone(return_X_y=True)
    return X, y, MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)


def _mixture_cdf(moe, X, values):
    """The mixture CDF at values (n, m), from the public fitted parts."""
    gate = moe.gate_proba(X)
    means = np.column_stack([expert.predict(X) for expert in moe.experts_])
    scale = np.sqrt(moe.noise_variance_)
    cdf = stats.norm.cdf(values[:, :, None], means[:, None, :], scale)
    return np.einsum("nk,nmk->nm", gate, cdf)


def test_quantiles_invert_the_mixture_cdf(tone_fit):
    X, _, moe = tone_fit
    levels = [0.01, 0.05, 0.5, 0.9, 0.99]
    quantiles = moe.predict_quantiles(X, quantiles=levels)
    assert quantiles.shape == (len(X), len(levels))
    assert np.all(np.diff(quantiles, axis=1) > 0)
    np.testing.assert_allclose(
        _mixture_cdf(moe, X, quantiles), np.tile(levels, (len(X), 1)), atol=1e-6
    )
    interval = moe.predict_interval(X, coverage=0.9)
    np.testing.assert_allclose(interval, moe.predict_quantiles(X, [0.05, 0.95]))
    one = moe.predict_quantiles(X[:1], quantiles=0.5)
    assert one.shape == (1, 1)


def test_intervals_cover_and_samples_follow_the_mixture(tone_fit):
    X, y, moe = tone_fit
    interval = moe.predict_interval(X, coverage=0.9)
    covered = np.mean((interval[:, 0] <= y) & (y <= interval[:, 1]))
    assert 0.85 <= covered <= 0.97
    draws = moe.sample_y(X[:5], n_samples=20_000, random_state=0)
    assert draws.shape == (5, 20_000)
    empirical = np.quantile(draws, [0.1, 0.5, 0.9], axis=1).T
    levels = _mixture_cdf(moe, X[:5], empirical)
    np.testing.assert_allclose(levels, np.tile([0.1, 0.5, 0.9], (5, 1)), atol=0.015)
    again = moe.sample_y(X[:5], n_samples=3, random_state=1)
    np.testing.assert_array_equal(again, moe.sample_y(X[:5], 3, random_state=1))


def test_top_k_quantiles_use_the_kept_experts_only(tone_fit):
    X, _, moe = tone_fit
    top = MixtureOfExpertsRegressor(n_experts=2, top_k=1, random_state=0).fit(
        *load_tone(return_X_y=True)
    )
    median = top.predict_quantiles(X, 0.5)[:, 0]
    chosen = top.apply(X)
    means = np.column_stack([expert.predict(X) for expert in top.experts_])
    np.testing.assert_allclose(median, means[np.arange(len(X)), chosen], atol=1e-8)


@pytest.mark.parametrize(
    "method, kwargs, match",
    [
        ("predict_interval", {"coverage": 1.0}, "coverage"),
        ("predict_interval", {"coverage": 0.0}, "coverage"),
        ("predict_quantiles", {"quantiles": [0.5, 1.2]}, "quantiles"),
        ("predict_quantiles", {"quantiles": [[0.5]]}, "quantiles"),
    ],
)
def test_bad_probabilities(tone_fit, method, kwargs, match):
    X, _, moe = tone_fit
    with pytest.raises(ValueError, match=match):
        getattr(moe, method)(X, **kwargs)


def test_standard_errors_match_flexmix_refit_on_npreg():
    X, y = load_npreg(return_X_y=True)
    X = np.column_stack([X[:, 0], X[:, 0] ** 2])
    moe = MixtureOfExpertsRegressor(
        n_experts=2,
        gate=LogisticRegression(C=np.inf),
        n_init=20,
        tol=1e-10,
        max_iter=2000,
        random_state=0,
    ).fit(X, y)
    assert moe.log_likelihood_ == pytest.approx(-640.320436, abs=1e-3)
    table = moe.summary(X, y)
    assert list(table.columns) == ["estimate", "std_error", "z", "p_value"]
    assert table.index.get_level_values("term")[:3].tolist() == [
        "intercept",
        "x0",
        "x1",
    ]
    # Experts in flexmix's order: component a has the larger intercept.
    first = int(np.argmax([expert.intercept_ for expert in moe.experts_]))
    second = 1 - first
    for part, (estimate, error) in [
        (f"expert {first}", FLEXMIX_NPREG_X2["expert_a"]),
        (f"expert {second}", FLEXMIX_NPREG_X2["expert_b"]),
    ]:
        # Both optima agree to a fiftieth of a standard error.
        gap = np.abs(table.loc[part, "estimate"].to_numpy() - estimate)
        assert np.all(gap < 0.02 * np.asarray(error)), gap / error
        np.testing.assert_allclose(table.loc[part, "std_error"], error, rtol=0.02)
    gate = table.loc["gate 1"]
    sign = 1.0 if first == 0 else -1.0  # our reference is expert 0
    estimate, error = map(np.asarray, FLEXMIX_NPREG_X2["gate"])
    assert np.all(np.abs(sign * gate["estimate"].to_numpy() - estimate) < 0.02 * error)
    np.testing.assert_allclose(
        gate["std_error"], FLEXMIX_NPREG_X2["gate"][1], rtol=0.02
    )


def test_information_and_bootstrap_agree_on_a_well_specified_problem():
    rng = np.random.RandomState(0)
    n = 2000
    X = rng.uniform(-2, 2, size=(n, 1))
    gate = 1 / (1 + np.exp(-3 * X[:, 0]))
    regime = rng.uniform(size=n) < gate
    y = np.where(regime, 1 + 2 * X[:, 0], -1 - X[:, 0]) + 0.5 * rng.randn(n)
    moe = MixtureOfExpertsRegressor(
        n_experts=2, gate=LogisticRegression(C=np.inf), random_state=0
    ).fit(X, y)
    information = moe.summary(X, y)
    bootstrap = moe.summary(X, y, method="bootstrap", n_boot=60, random_state=0)
    ratio = bootstrap["std_error"] / information["std_error"]
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio


def test_summary_of_coefficient_free_experts():
    X, y = load_tone(return_X_y=True)
    moe = MixtureOfExpertsRegressor(
        DecisionTreeRegressor(max_depth=2), n_experts=2, random_state=0
    ).fit(X, y)
    with pytest.raises(TypeError, match="bootstrap"):
        moe.summary(X, y)
    table = moe.summary(X, y, method="bootstrap", n_boot=10, random_state=0)
    assert set(table.index.get_level_values("part")) == {"gate 1"}
    assert np.all(table["std_error"] > 0)
    with pytest.raises(ValueError, match="method"):
        moe.summary(X, y, method="jackknife")


# Rscript benchmarks/flexmix_refit.R, "patent K=2 Patents ~ lgRD (poisson),
# concomitant ~ RDS": logLik -218.490769; refit()'s standard errors of the
# component with the larger intercept ("high"), the other, and the gate of
# the "high" component against the other.
FLEXMIX_PATENT_SE = {
    "high": [0.2014057609294466, 0.0477055941934984],
    "low": [0.2117559745190142, 0.0537624751077807],
    "gate": [0.4296837046033041, 1.4385522730955029],
}


def test_poisson_standard_errors_match_flexmix_refit_on_patents():
    from sklearn.linear_model import PoissonRegressor

    from skmoe.datasets import load_patent

    data = load_patent(as_frame=True)
    X, y = data.data[["RDS", "lgRD"]], data.target
    moe = MixtureOfExpertsRegressor(
        PoissonRegressor(alpha=0),
        n_experts=2,
        gate=LogisticRegression(C=np.inf),
        gate_features=["RDS"],
        expert_features=["lgRD"],
        n_init=20,
        tol=1e-10,
        max_iter=2000,
        random_state=0,
    ).fit(X, y)
    assert moe.log_likelihood_ == pytest.approx(-218.490769, abs=1e-4)
    table = moe.summary(X, y)
    assert table.loc["gate 1"].index.tolist() == ["intercept", "RDS"]
    assert table.loc["expert 0"].index.tolist() == ["intercept", "lgRD"]
    high = int(np.argmax([expert.intercept_ for expert in moe.experts_]))
    for part, key in [(f"expert {high}", "high"), (f"expert {1 - high}", "low")]:
        np.testing.assert_allclose(
            table.loc[part, "std_error"], FLEXMIX_PATENT_SE[key], rtol=0.01
        )
    np.testing.assert_allclose(
        table.loc["gate 1", "std_error"], FLEXMIX_PATENT_SE["gate"], rtol=0.01
    )
