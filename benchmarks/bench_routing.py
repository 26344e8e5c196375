"""Sparse routing: predict time of soft vs top_k=1 vs top_k=2, measured in one run.

K = 8 costly experts (KNeighborsRegressor, and a small MLPRegressor) fitted on
20,000 rows of data with 8 gated regimes; then predict on 20,000 new rows with
the full soft mixture and with top_k routing. Prints a markdown table of
seconds and of speed-ups against soft routing.

Run ``python benchmarks/bench_routing.py``.
"""

import timeit
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_regression

warnings.simplefilter("ignore", ConvergenceWarning)


def best_of(function, repeat=3):
    """Fastest of ``repeat`` runs, in seconds."""
    return min(timeit.repeat(function, number=1, repeat=repeat))


def main():
    n, K = 20_000, 8
    X, y = make_moe_regression(
        n_samples=2 * n, n_features=10, n_experts=K, random_state=0
    )
    X_train, y_train, X_test = X[:n], y[:n], X[n:]
    experts = {
        "KNeighborsRegressor(n_neighbors=10)": KNeighborsRegressor(n_neighbors=10),
        "MLPRegressor(256, 256)": MLPRegressor(
            hidden_layer_sizes=(256, 256), max_iter=20, random_state=0
        ),
    }
    print(f"Predict on {n:,} rows, K = {K} experts fitted on {n:,} rows\n")
    print("| expert | soft s | top_k=2 s | top_k=1 s | speed-up 2 | speed-up 1 |")
    print("|---|---|---|---|---|---|")
    for name, expert in experts.items():
        moe = MixtureOfExpertsRegressor(
            expert, n_experts=K, max_iter=3, routing="hard", random_state=0
        ).fit(X_train, y_train)
        seconds = {}
        for top_k in [None, 2, 1]:
            moe.set_params(top_k=top_k)
            seconds[top_k] = best_of(lambda m=moe: m.predict(X_test))
        print(
            f"| {name} | {seconds[None]:.3f} | {seconds[2]:.3f} | {seconds[1]:.3f} | "
            f"{seconds[None] / seconds[2]:.1f}x | {seconds[None] / seconds[1]:.1f}x |"
        )


if __name__ == "__main__":
    main()
