"""Speed of the neural gate's kernels: numba against the numpy twin.

``python benchmarks/bench_mlp_gate.py`` times one evaluation of the
objective and gradient (``mlp_objective``) and of the log-probabilities
(``mlp_log_softmax``) on one thread, for 4 features, hidden layers (16,)
and (32, 32), 2 outputs, n = 10,000 and 100,000 rows; each time is the best
of 20 evaluations, and the ratio is numpy's time over numba's, measured in
the same run. An M-step of ``MLPGate`` evaluates the objective about once
per L-BFGS iteration (``max_iter=50`` at most).
"""

import os
import time

import numba
import numpy as np

from skmoe._kernels import _mlp_numba, _mlp_xp


def best_time(function, *args, repeats=20):
    """Best of ``repeats`` calls of ``function(*args)``, after a warm-up."""
    function(*args)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - start)
    return best


def main():
    numba.set_num_threads(1)
    rng = np.random.RandomState(0)
    print(f"one thread, load {os.getloadavg()[0]:.2f}\n")
    print("| n | hidden | kernel | numba ms | numpy ms | numpy / numba |")
    print("|---|---|---|---|---|---|")
    for n_samples in (10_000, 100_000):
        X = rng.uniform(-1, 1, (n_samples, 4))
        targets = rng.dirichlet([1.0, 1.0], n_samples)
        weight = np.ones(n_samples)
        mean, scale = np.zeros(4), np.ones(4)
        for hidden in ((16,), (32, 32)):
            sizes = (4, *hidden, 2)
            params = 0.3 * rng.randn(_mlp_xp.n_params(sizes))
            common = (X, mean, scale, params, sizes, "relu")
            for name, args in (
                ("objective", (*common, targets, weight, 1e-4)),
                ("log_softmax", common),
            ):
                fast = best_time(getattr(_mlp_numba, f"mlp_{name}"), *args)
                slow = best_time(getattr(_mlp_xp, f"mlp_{name}"), *args)
                print(
                    f"| {n_samples:,} | {hidden} | {name} | {1e3 * fast:.2f} | "
                    f"{1e3 * slow:.2f} | {slow / fast:.1f} |"
                )
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
