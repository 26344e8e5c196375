"""skmoe's log-likelihood against the best of R's flexmix, over random seeds.

For each data set and K, fits MixtureOfExpertsRegressor with
LinearRegression experts, gate=LogisticRegression(C=np.inf) and n_init=20
for ten random states, and prints the best and worst log-likelihood and how
many seeds reach flexmix's best (from benchmarks/flexmix_reference.R) to
within 0.05 nats. Run ``python benchmarks/check_flexmix.py``.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import load_mcycle, load_npreg, load_tone

warnings.simplefilter("ignore", ConvergenceWarning)

# logLik of flexmix's best fit (benchmarks/flexmix_reference.R).
FLEXMIX_BEST = {
    ("mcycle", 2): -614.56577823,
    ("mcycle", 3): -578.82395750,
    ("tone", 2): 142.83823124,
    ("npreg", 2): -640.33341394,
    ("npreg", 3): -631.74675149,
}


def main(n_seeds=10):
    X, y = load_npreg(return_X_y=True)
    data = {
        "mcycle": load_mcycle(return_X_y=True),
        "tone": load_tone(return_X_y=True),
        "npreg": (np.hstack([X, X**2]), y),
    }
    print("| data | K | flexmix best | skmoe best | skmoe worst | seeds | s/fit |")
    print("|---|---|---|---|---|---|---|")
    for (name, n_experts), reference in FLEXMIX_BEST.items():
        X, y = data[name]
        values = []
        start = time.perf_counter()
        for seed in range(n_seeds):
            moe = MixtureOfExpertsRegressor(
                n_experts=n_experts,
                gate=LogisticRegression(C=np.inf),
                n_init=20,
                max_iter=1000,
                tol=1e-8,
                random_state=seed,
            ).fit(X, y)
            values.append(moe.log_likelihood_)
        seconds = (time.perf_counter() - start) / n_seeds
        values = np.array(values)
        reached = int(np.sum(values >= reference - 0.05))
        print(
            f"| {name} | {n_experts} | {reference:.3f} | {values.max():.3f} | "
            f"{values.min():.3f} | {reached}/{n_seeds} | {seconds:.2f} |"
        )


if __name__ == "__main__":
    main()
