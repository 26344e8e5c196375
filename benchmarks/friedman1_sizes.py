"""Friedman #1: a mixture of 8 linear experts against HistGradientBoosting by size.

``make_friedman1(n_samples=n, noise=1)`` for n = 500, 1000, 2000, 5000;
3-fold cross-validated RMSE (the noise sd, 1, is the floor) of
HistGradientBoostingRegressor (scikit-learn defaults) and of
MixtureOfExpertsRegressor(n_experts=8) with n_init = 1 and 3, other settings
at their defaults. Every model runs on one thread. Prints a markdown table.

Run ``python benchmarks/friedman1_sizes.py``.
"""

import warnings

from sklearn.datasets import make_friedman1
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, cross_val_score
from threadpoolctl import threadpool_limits

from skmoe import MixtureOfExpertsRegressor

warnings.simplefilter("ignore", ConvergenceWarning)


def main():
    threadpool_limits(1)
    try:
        import numba

        numba.set_num_threads(1)
    except ImportError:
        pass
    cv = KFold(3, shuffle=True, random_state=0)
    models = {
        "hist gradient boosting": HistGradientBoostingRegressor(random_state=0),
        "MoE, 8 linear experts, n_init=1": MixtureOfExpertsRegressor(
            n_experts=8, random_state=0
        ),
        "MoE, 8 linear experts, n_init=3": MixtureOfExpertsRegressor(
            n_experts=8, n_init=3, random_state=0
        ),
    }
    sizes = [500, 1000, 2000, 5000]
    print("3-fold cross-validated RMSE on make_friedman1(noise=1)\n")
    print("| model | " + " | ".join(f"n = {n}" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    data = {n: make_friedman1(n_samples=n, noise=1.0, random_state=0) for n in sizes}
    for name, model in models.items():
        cells = [
            -cross_val_score(
                model, *data[n], cv=cv, scoring="neg_root_mean_squared_error"
            ).mean()
            for n in sizes
        ]
        print(f"| {name} | " + " | ".join(f"{cell:.3f}" for cell in cells) + " |")


if __name__ == "__main__":
    main()
