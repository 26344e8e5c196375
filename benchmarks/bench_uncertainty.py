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
"""

import argparse
import time

import numpy as np
from scipy import stats
from sklearn.ensemble import HistGradientBoostingRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe._predictive import mixture_interval

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


PROBLEMS = {
    "bimodal (tone-like), K=2": (bimodal, 2),
    "sharp regimes, K=3": (sharp_regimes, 3),
}


def draw(weights, components, rng):
    """One target per row from the true mixture."""
    chosen = (rng.uniform(size=(len(weights), 1)) > weights.cumsum(axis=1)).sum(1)
    rows = np.arange(len(weights))
    loc = np.broadcast_to(components.kwds["loc"], weights.shape)[rows, chosen]
    scale = np.broadcast_to(components.kwds["scale"], weights.shape)[rows, chosen]
    return rng.normal(loc, scale)


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
        "| problem | 90% coverage | below q05 / q50 / q95 | Winkler: skmoe | "
        "true | skmoe / true | quantile HGB | skmoe / HGB | fit s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (make, n_experts) in PROBLEMS.items():
        rng = np.random.RandomState(0)
        X, weights, components = make(args.n_train, rng)
        y = draw(weights, components, rng)
        X_test, test_weights, test_components = make(args.n_test, rng)
        y_test = draw(test_weights, test_components, rng)
        start = time.perf_counter()
        moe = MixtureOfExpertsRegressor(
            n_experts=n_experts, n_init=3, max_iter=500, random_state=0
        ).fit(X, y)
        seconds = time.perf_counter() - start
        interval = moe.predict_interval(X_test, coverage=COVERAGE)
        coverage = np.mean((interval[:, 0] <= y_test) & (y_test <= interval[:, 1]))
        quantiles = moe.predict_quantiles(X_test, [0.05, 0.5, 0.95])
        below = (y_test[:, None] < quantiles).mean(axis=0)
        true_interval = mixture_interval(test_weights, test_components, COVERAGE)
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
            f"| {name} | {coverage:.3f} | "
            f"{below[0]:.3f} / {below[1]:.3f} / {below[2]:.3f} | {ours:.4f} | "
            f"{truth:.4f} | {ours / truth:.3f} | {theirs:.4f} | "
            f"{ours / theirs:.3f} | {seconds:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
