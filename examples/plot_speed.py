"""
Speed of an EM iteration, against a textbook EM and R's flexmix
===============================================================

With linear experts and the built-in gate, an EM iteration of skmoe is one
fused pass over the data (see the user guide's page on speed). This example
times one iteration at growing n (d = 5 features, K = 4 experts) against a
textbook numpy EM (one weighted least-squares fit per expert, a few L-BFGS
steps for the gate), and against R's flexmix (``FLXMRglm`` experts,
``FLXPmultinom`` gate) when ``Rscript`` and flexmix are installed.

Seconds per iteration are the difference between a fit of ``n_iter + 2``
iterations and one of 2, divided by ``n_iter``, so that per-fit overheads
cancel. ``--quick`` (used by the documentation build) stops at 20,000 rows;
``benchmarks/bench_em.py`` is the full benchmark, up to 10^6 rows.
"""

import argparse
import shutil
import subprocess
import tempfile
import timeit
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax, logsumexp
from sklearn.exceptions import ConvergenceWarning

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_regression

D, K = 5, 4


def best_of(function, repeat=2):
    """Fastest of ``repeat`` runs, in seconds."""
    return min(timeit.repeat(function, number=1, repeat=repeat))


def skmoe_per_iteration(X, y, n_iter):
    """Seconds per EM iteration of skmoe, from a fixed start."""
    start = np.eye(K)[np.random.RandomState(0).randint(K, size=len(y))]

    def fit_time(max_iter):
        moe = MixtureOfExpertsRegressor(
            n_experts=K, init=start, max_iter=max_iter, tol=0, random_state=0
        )
        # These fits stop after a fixed number of iterations on purpose (tol=0),
        # so that they time iterations; that they did not converge is expected.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return best_of(lambda: moe.fit(X, y))

    return (fit_time(n_iter + 2) - fit_time(2)) / n_iter


def textbook_per_iteration(X, y, n_iter):
    """Seconds per iteration of a plain numpy EM of the same model."""
    n = len(y)
    X1 = np.column_stack([X, np.ones(n)])
    rng = np.random.RandomState(0)
    responsibilities = rng.dirichlet(np.ones(K), size=n)
    W = np.zeros((D + 1, K))

    def gate_objective(w, R):
        log_gate = log_softmax(X1 @ w.reshape(D + 1, K), axis=1)
        gradient = X1.T @ (np.exp(log_gate) - R)
        return -np.sum(R * log_gate), gradient.ravel()

    def iteration():
        nonlocal responsibilities, W
        log_density = np.empty((n, K))
        for k in range(K):
            root = np.sqrt(responsibilities[:, k])
            coef = np.linalg.lstsq(X1 * root[:, None], y * root, rcond=None)[0]
            residual = y - X1 @ coef
            variance = (
                responsibilities[:, k] @ residual**2 / responsibilities[:, k].sum()
            )
            log_density[:, k] = -0.5 * (
                np.log(2 * np.pi * variance) + residual**2 / variance
            )
        W = minimize(
            gate_objective,
            W.ravel(),
            args=(responsibilities,),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 10},
        ).x.reshape(D + 1, K)
        joint = log_softmax(X1 @ W, axis=1) + log_density
        responsibilities = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))

    return best_of(lambda: [iteration() for _ in range(n_iter)]) / n_iter


FLEXMIX = """
suppressMessages(library(flexmix))
d <- read.csv("{path}")
f <- as.formula(paste("y ~", paste(setdiff(names(d), "y"), collapse = " + ")))
c <- as.formula(paste("~", paste(setdiff(names(d), "y"), collapse = " + ")))
set.seed(0)
t <- system.time(fit <- flexmix(f, data = d, k = {k}, model = FLXMRglm(),
    concomitant = FLXPmultinom(c),
    control = list(iter.max = {n_iter}, tolerance = 0, minprior = 0)))
cat(t[["elapsed"]], fit@iter, "\\n")
"""


def flexmix_per_iteration(X, y, n_iter):
    """Seconds per iteration of R's flexmix, or None when it cannot run."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "data.csv"
        header = ",".join([f"x{j}" for j in range(D)] + ["y"])
        np.savetxt(
            path, np.column_stack([X, y]), delimiter=",", header=header, comments=""
        )
        script = FLEXMIX.format(path=path, k=K, n_iter=n_iter)
        result = subprocess.run(
            ["Rscript", "-e", script], capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        return None
    seconds, iterations = result.stdout.split()
    return float(seconds) / int(iterations)


parser = argparse.ArgumentParser(description="Seconds per EM iteration")
parser.add_argument("--quick", action="store_true", help="up to 20,000 rows")
args = parser.parse_args()
sizes = [2_000, 5_000, 20_000] if args.quick else [10_000, 100_000, 1_000_000]
X_all, y_all = make_moe_regression(
    n_samples=max(sizes), n_features=D, n_experts=K, random_state=1
)
# Compile the numba kernels before timing.
MixtureOfExpertsRegressor(n_experts=K).fit(X_all[:500], y_all[:500])

timings = {"skmoe": [], "textbook numpy EM": [], "flexmix": []}
for n in sizes:
    X, y = X_all[:n], y_all[:n]
    timings["skmoe"].append(skmoe_per_iteration(X, y, 20))
    timings["textbook numpy EM"].append(textbook_per_iteration(X, y, 3))
    timings["flexmix"].append(flexmix_per_iteration(X, y, 10) if n <= 20_000 else None)
    line = ", ".join(
        f"{name} {seconds[-1]:.5f} s"
        for name, seconds in timings.items()
        if seconds[-1] is not None
    )
    print(f"n = {n:>9,}: {line}")
if all(seconds is None for seconds in timings["flexmix"]):
    print("flexmix not timed: Rscript or the flexmix package is not available")

# %%
# Seconds per EM iteration against n, on log scales.

fig, ax = plt.subplots(figsize=(7, 4.5))
for name, seconds in timings.items():
    points = [(n, s) for n, s in zip(sizes, seconds) if s is not None]
    if points:
        ax.plot(*zip(*points), marker="o", label=name)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("samples n")
ax.set_ylabel("seconds per EM iteration")
ax.set_title(f"One EM iteration, d = {D}, K = {K} linear experts")
ax.legend()
fig.tight_layout()
plt.show()
