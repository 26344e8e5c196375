"""Calibration of the regressor's predictive distribution, on held-out data.

Run ``python benchmarks/bench_uncertainty.py``. For synthetic problems whose
true conditional distribution is known, fits a mixture of experts on
``n_train`` rows and prints, on ``n_test`` held-out rows:

- the coverage of its central 90% intervals (goal: 88-92%);
- how often the target falls below its 5%, 50% and 95% quantiles (goal:
  within 0.015 of the level);
- the interval (Winkler) score of its 90% intervals, against the true
  distribution's intervals (goal: within 3%) and against a pair of quantile
  HistGradientBoosting models fitted in the same run (goal: no worse).

The Winkler score of an interval [l, u] at level 1 - a is
``(u - l) + 2/a (l - y) [y < l] + 2/a (y - u) [y > u]``: lower is better.
For the Poisson problem (integer targets) a quantile q is hit when the
target is at most q; its levels are then at least the nominal ones.

Then, on a well-specified problem with n = 2000, the ratio of bootstrap
(200 replicates) to observed-information standard errors of every
coefficient (goal: within 20%).
"""

import argparse
import time

import numpy as np
from scipy import stats
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, PoissonRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe._predictive import mixture_interval, mixture_quantiles, mixture_sample

COVERAGE = 0.9


def bimodal(n, rng):
    """Tone-like: two lines over the same x, a constant gate (0.7, 0.3)."""
    X = rng.uniform(1.3, 3.0, size=(n, 1))
    weights = np.tile([0.7, 0.3], (n, 1))
    means = np.column_stack([np.full(n, 2.0), X[:, 0]])
    scale = np.array([0.05, 0.1])
    return X, weights, stats.norm(loc=means, scale=scale[None, :])


def sharp_regimes(n, rng):
    """Three linear regimes on x0, sharp softmax gate, different noises."""
    X = rng.uniform(-3, 3, size=(n, 3))
    logits = 6.0 * np.column_stack([-X[:, 0] - 1, np.zeros(n), X[:, 0] - 1])
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    means = np.column_stack([1 + 2 * X[:, 1], -1 + X[:, 1] - X[:, 2], 3 - 2 * X[:, 2]])
    scale = np.array([0.3, 1.0, 0.5])
    return X, weights, stats.norm(loc=means, scale=scale[None, :])


def counts(n, rng):
    """Two Poisson regimes (log-linear in x1), gated along x0."""
    X = rng.uniform(-2, 2, size=(n, 2))
    gate = 1 / (1 + np.exp(-4 * X[:, 0]))
    weights = np.column_stack([1 - gate, gate])
    means = np.exp(np.column_stack([0.5 + 0.5 * X[:, 1], 2.0 - 0.3 * X[:, 1]]))
    return X, weights, stats.poisson(mu=means)


PROBLEMS = {
    "bimodal (tone-like), K=2": (bimodal, 2, {}),
    "sharp regimes, K=3": (sharp_regimes, 3, {}),
    "Poisson regimes, K=2": (counts, 2, {"estimator": PoissonRegressor(alpha=0)}),
}


def draw(weights, components, rng):
    """One target per row from the true mixture."""
    return mixture_sample(weights, components, 1, rng)[:, 0]


def winkler(interval, y, coverage=COVERAGE):
    alpha = 1 - coverage
    low, high = interval[:, 0], interval[:, 1]
    return np.mean(
        (high - low)
        + 2 / alpha * (low - y) * (y < low)
        + 2 / alpha * (y - high) * (y > high)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--n-test", type=int, default=20000)
    args = parser.parse_args()
    print(
        "| problem | 90% coverage (true dist.) | below q05 / q50 / q95 "
        "(true dist.) | Winkler: skmoe | true | skmoe / true | quantile HGB | "
        "skmoe / HGB | fit s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (make, n_experts, options) in PROBLEMS.items():
        rng = np.random.RandomState(0)
        X, weights, components = make(args.n_train, rng)
        y = draw(weights, components, rng)
        X_test, test_weights, test_components = make(args.n_test, rng)
        y_test = draw(test_weights, test_components, rng)
        start = time.perf_counter()
        moe = MixtureOfExpertsRegressor(
            n_experts=n_experts, n_init=3, max_iter=500, random_state=0, **options
        ).fit(X, y)
        seconds = time.perf_counter() - start
        interval = moe.predict_interval(X_test, coverage=COVERAGE)
        coverage = np.mean((interval[:, 0] <= y_test) & (y_test <= interval[:, 1]))
        quantiles = moe.predict_quantiles(X_test, [0.05, 0.5, 0.95])
        discrete = "Poisson" in name
        below = (
            (y_test[:, None] <= quantiles)
            if discrete
            else (y_test[:, None] < quantiles)
        ).mean(axis=0)
        true_interval = mixture_interval(test_weights, test_components, COVERAGE)
        true_quantiles = mixture_quantiles(
            test_weights, test_components, [0.05, 0.5, 0.95]
        )
        true_coverage = np.mean(
            (true_interval[:, 0] <= y_test) & (y_test <= true_interval[:, 1])
        )
        true_below = (
            (y_test[:, None] <= true_quantiles)
            if discrete
            else (y_test[:, None] < true_quantiles)
        ).mean(axis=0)
        hgb = [
            HistGradientBoostingRegressor(
                loss="quantile", quantile=level, random_state=0
            ).fit(X, y)
            for level in ((1 - COVERAGE) / 2, (1 + COVERAGE) / 2)
        ]
        hgb_interval = np.column_stack([model.predict(X_test) for model in hgb])
        ours, truth = winkler(interval, y_test), winkler(true_interval, y_test)
        theirs = winkler(hgb_interval, y_test)
        print(
            f"| {name} | {coverage:.3f} ({true_coverage:.3f}) | "
            f"{below[0]:.3f} / {below[1]:.3f} / {below[2]:.3f} "
            f"({true_below[0]:.3f} / {true_below[1]:.3f} / {true_below[2]:.3f}) | "
            f"{ours:.4f} | "
            f"{truth:.4f} | {ours / truth:.3f} | {theirs:.4f} | "
            f"{ours / theirs:.3f} | {seconds:.2f} |",
            flush=True,
        )
    standard_errors()


def standard_errors(n_boot=200):
    """Bootstrap against observed-information standard errors."""
    rng = np.random.RandomState(0)
    n = 2000
    X = rng.uniform(-2, 2, size=(n, 1))
    gate = 1 / (1 + np.exp(-3 * X[:, 0]))
    regime = rng.uniform(size=n) < gate
    y = np.where(regime, 1 + 2 * X[:, 0], -1 - X[:, 0]) + 0.5 * rng.randn(n)
    moe = MixtureOfExpertsRegressor(
        n_experts=2, gate=LogisticRegression(C=np.inf), random_state=0
    ).fit(X, y)
    start = time.perf_counter()
    information = moe.summary(X, y)
    middle = time.perf_counter()
    bootstrap = moe.summary(X, y, method="bootstrap", n_boot=n_boot, random_state=0)
    end = time.perf_counter()
    ratio = bootstrap["std_error"] / information["std_error"]
    print(
        f"\nStandard errors, n = {n}, two linear experts and a logistic gate: "
        f"information {middle - start:.2f} s, bootstrap ({n_boot} replicates) "
        f"{end - middle:.1f} s\n"
    )
    print("| part | term | information | bootstrap | ratio |")
    print("|---|---|---|---|---|")
    for (part, term), value in ratio.items():
        print(
            f"| {part} | {term} | {information.loc[(part, term), 'std_error']:.4f} "
            f"| {bootstrap.loc[(part, term), 'std_error']:.4f} | {value:.3f} |"
        )


if __name__ == "__main__":
    main()
