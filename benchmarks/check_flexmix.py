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
from sklearn.linear_model import LogisticRegression, PoissonRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import (
    load_mcycle,
    load_nodata,
    load_npreg,
    load_patent,
    load_tone,
)

warnings.simplefilter("ignore", ConvergenceWarning)

# logLik of flexmix's best fit (benchmarks/flexmix_reference.R), and of
# the GLM models of benchmarks/glm_reference.R: flexmix's patent model
# (Poisson experts on lgRD, gate on RDS) and mixtools' regmixEM(NO,
# Equivalence, k = 2) (constant mixing weights).
FLEXMIX_BEST = {
    ("mcycle", 2): -614.56577823,
    ("mcycle", 3): -578.82395750,
    ("tone", 2): 142.83823124,
    ("npreg", 2): -640.33341394,
    ("npreg", 3): -631.74675149,
    ("patent", 2): -218.4907690115,
    ("patent", 3): -197.6750221738,
    ("NOdata (mixtools)", 2): -82.5974723165,
}


def main(n_seeds=10):
    X, y = load_npreg(return_X_y=True)
    data = {
        "mcycle": load_mcycle(return_X_y=True),
        "tone": load_tone(return_X_y=True),
        "npreg": (np.hstack([X, X**2]), y),
    }
    patent = load_patent(as_frame=True)
    data["patent"] = patent.data[["lgRD", "RDS"]], patent.target
    data["NOdata (mixtools)"] = load_nodata(return_X_y=True)
    options = {
        "patent": {
            "estimator": PoissonRegressor(alpha=0),
            "expert_features": ["lgRD"],
            "gate_features": ["RDS"],
        },
        "NOdata (mixtools)": {"gate_features": []},
    }
    print("| data | K | R's best | skmoe best | skmoe worst | seeds | s/fit |")
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
                **options.get(name, {}),
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
