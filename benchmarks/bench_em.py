"""Speed of EM: seconds per iteration against baselines timed in the same run.

Run ``python benchmarks/bench_em.py`` (``--quick`` for a short run). Prints:

1. seconds per EM iteration (d = 10, K = 8, linear experts) at growing n,
   against the "numpy floor" of one iteration: the K weighted Gram matrices
   ``(X1 * r_k[:, None]).T @ X1``, the gate logits ``X1 @ W`` and one
   log-sum-exp, in plain numpy; then one whole fit of 100 iterations at the
   largest n (initialisation included) against 100 numpy floors;
2. the same fit against a plain numpy EM (one weighted lstsq per expert,
   scipy L-BFGS for the gate);
3. seconds per iteration against R's flexmix when Rscript and flexmix are
   installed (n = 10^4, d = 5, K = 4); skipped with a message otherwise;
4. DecisionTreeRegressor experts: fit time against fitting the K trees with
   the same weights the same number of times (framework overhead);
5. peak memory of a fit above its input (tracemalloc), in arrays of (n, K);
6. Poisson experts (batched PoissonRegressor, IRLS): seconds per iteration
   against the Gaussian fused iteration (n = 10^5, d = 10, K = 8), and
   against flexmix's Poisson model (n = 10^4, d = 5, K = 4).
"""

import argparse
import shutil
import subprocess
import tempfile
import time
import timeit
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, PoissonRegressor
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_regression

warnings.simplefilter("ignore", ConvergenceWarning)


def best_of(function, repeat=3):
    """Fastest of ``repeat`` runs, in seconds."""
    return min(timeit.repeat(function, number=1, repeat=repeat))


def numpy_floor(X, n_experts, rng):
    X1 = np.column_stack([X, np.ones(len(X))])
    responsibilities = rng.dirichlet(np.ones(n_experts), size=len(X))
    W = rng.randn(X1.shape[1], n_experts)

    def one_iteration():
        for k in range(n_experts):
            (X1 * responsibilities[:, k, None]).T @ X1
        logsumexp(X1 @ W, axis=1)

    return best_of(one_iteration)


def kmeans_start(X, y, n_experts):
    """Initial responsibilities from one k-means partition of the standardised
    [X, y] (as the estimator's own start), computed once."""
    joint = np.column_stack([X, y])
    joint = (joint - joint.mean(axis=0)) / joint.std(axis=0)
    kmeans = KMeans(n_experts, n_init=1, random_state=0).fit(joint[:10_000])
    start = np.full((len(X), n_experts), 0.05 / n_experts)
    start[np.arange(len(X)), kmeans.predict(joint)] += 0.95
    return start


def seconds_per_iteration(X, y, n_experts, n_iter, **params):
    """Seconds per EM iteration: the difference between a fit of ``n_iter + 2``
    iterations and one of 2 (best of two each), so that per-fit overheads
    cancel out. Both start from the same initial responsibilities, given:
    k-means inside the fits takes a time that varies (its threads contend
    with everything else on a loaded machine) by more than a few iterations.
    """
    start = kmeans_start(X, y, n_experts)

    def fit_time(max_iter):
        moe = MixtureOfExpertsRegressor(
            n_experts=n_experts,
            init=start,
            max_iter=max_iter,
            tol=0,
            random_state=0,
            **params,
        )
        return best_of(lambda: moe.fit(X, y), repeat=2)

    return (fit_time(n_iter + 2) - fit_time(2)) / n_iter


def plain_numpy_em(X, y, n_experts, n_iter, rng):
    """Textbook EM: weighted lstsq per expert, L-BFGS gate; per iteration."""
    n, d = X.shape
    X1 = np.column_stack([X, np.ones(n)])
    responsibilities = rng.dirichlet(np.ones(n_experts), size=n)
    W = np.zeros((d + 1, n_experts))
    start = time.perf_counter()
    for _ in range(n_iter):
        coef = np.empty((d + 1, n_experts))
        variance = np.empty(n_experts)
        for k in range(n_experts):
            root = np.sqrt(responsibilities[:, k])
            coef[:, k] = np.linalg.lstsq(X1 * root[:, None], y * root, rcond=None)[0]
            residual = y - X1 @ coef[:, k]
            variance[k] = (
                responsibilities[:, k] @ residual**2 / responsibilities[:, k].sum()
            )

        def objective(w, R=responsibilities):
            logits = X1 @ w.reshape(d + 1, n_experts)
            log_gate = logits - logsumexp(logits, axis=1, keepdims=True)
            gradient = X1.T @ (R - np.exp(log_gate))
            return -np.sum(R * log_gate), -gradient.ravel()

        W = minimize(
            objective, W.ravel(), jac=True, method="L-BFGS-B", options={"maxiter": 5}
        ).x.reshape(d + 1, n_experts)
        logits = X1 @ W
        log_gate = logits - logsumexp(logits, axis=1, keepdims=True)
        means = X1 @ coef
        log_expert = -0.5 * (
            np.log(2 * np.pi * variance) + (y[:, None] - means) ** 2 / variance
        )
        joint = log_gate + log_expert
        responsibilities = np.exp(joint - logsumexp(joint, axis=1, keepdims=True))
    return (time.perf_counter() - start) / n_iter


FLEXMIX_SCRIPT = """
suppressMessages(library(flexmix))
d <- read.csv("{path}")
f <- as.formula(paste("y ~", paste(names(d)[-1], collapse = " + ")))
g <- as.formula(paste("~", paste(names(d)[-1], collapse = " + ")))
set.seed(0)
t <- system.time(fit <- flexmix(f, data = d, k = {k},
     model = FLXMRglm(family = "{family}"),
     concomitant = FLXPmultinom(g),
     control = list(iter.max = {n_iter}, tolerance = {tolerance}, minprior = 0)))
cat(t[["elapsed"]], fit@iter, logLik(fit), "\\n")
"""


def run_flexmix(X, y, n_experts, n_iter, tolerance, family="gaussian"):
    """(seconds, iterations, logLik) of one flexmix fit, or (None, reason)."""
    if shutil.which("Rscript") is None:
        return None, "Rscript not found"
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data.csv"
        header = ",".join(["y"] + [f"x{j}" for j in range(X.shape[1])])
        np.savetxt(
            data, np.column_stack([y, X]), delimiter=",", header=header, comments=""
        )
        script = FLEXMIX_SCRIPT.format(
            path=data, k=n_experts, n_iter=n_iter, tolerance=tolerance, family=family
        )
        result = subprocess.run(
            ["Rscript", "-e", script], capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        return None, "flexmix not installed: " + result.stderr.strip().splitlines()[-1]
    elapsed, iterations, log_likelihood = result.stdout.split()
    return (float(elapsed), int(iterations), float(log_likelihood)), None


def tree_overhead(X, y, n_experts, n_iter):
    tree = DecisionTreeRegressor(max_depth=6, random_state=0)
    moe = MixtureOfExpertsRegressor(
        tree, n_experts=n_experts, max_iter=n_iter, tol=0, random_state=0
    )
    start = time.perf_counter()
    moe.fit(X, y)
    total = time.perf_counter() - start
    rng = np.random.RandomState(0)
    responsibilities = rng.dirichlet(np.ones(n_experts), size=len(X))
    start = time.perf_counter()
    for _ in range(moe.n_iter_ + 1):  # the initial M-step fits the trees too
        for k in range(n_experts):
            DecisionTreeRegressor(max_depth=6, random_state=0).fit(
                X, y, sample_weight=responsibilities[:, k]
            )
    bare = time.perf_counter() - start
    return total, bare


def peak_memory(X, y, n_experts, n_iter):
    moe = MixtureOfExpertsRegressor(
        n_experts=n_experts, max_iter=1, tol=0, random_state=0
    ).fit(X[:1000], y[:1000])  # compile and warm up outside the measure
    tracemalloc.start()
    moe = MixtureOfExpertsRegressor(
        n_experts=n_experts, max_iter=n_iter, tol=0, random_state=0
    )
    moe.fit(X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def poisson_counts(y, rng):
    """Counts whose log mean follows the regimes of a Gaussian target."""
    return rng.poisson(np.exp(0.5 + 0.5 * (y - y.mean()) / y.std())).astype(float)


def poisson_rows(X_all, y_all, n_iter, rng):
    """Section 6: Poisson experts against the Gaussian fused iteration and
    against flexmix's Poisson model."""
    n, K = 10**5, 8
    X, y = X_all[:n], y_all[:n]
    counts = poisson_counts(y, rng)
    poisson = PoissonRegressor(alpha=0.0)
    gaussian = seconds_per_iteration(X, y, K, n_iter)
    ours = seconds_per_iteration(X, counts, K, n_iter, estimator=poisson)
    print(f"\n## 6. Poisson experts (n = {n:,}, d = 10, K = 8, per iteration)\n")
    print("| Gaussian fused s/iter | Poisson s/iter | ratio |")
    print("|---|---|---|")
    print(f"| {gaussian:.4f} | {ours:.4f} | {ours / gaussian:.2f} |")
    X5, y5 = make_moe_regression(
        n_samples=10**4, n_features=5, n_experts=4, random_state=1
    )
    counts5 = poisson_counts(y5, rng)
    fixed, reason = run_flexmix(X5, counts5, 4, 20, tolerance=0, family="poisson")
    print("\nAgainst flexmix's Poisson model (n = 10,000, d = 5, K = 4):\n")
    if fixed is None:
        print(f"skipped: {reason}")
        return
    ours = seconds_per_iteration(
        X5, counts5, 4, 100, estimator=poisson, gate=LogisticRegression(C=np.inf)
    )
    flexmix = fixed[0] / fixed[1]
    print("| flexmix s/iter | skmoe s/iter | speed-up |")
    print("|---|---|---|")
    print(f"| {flexmix:.4f} | {ours:.5f} | {flexmix / ours:.0f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument(
        "--poisson", action="store_true", help="section 6 (Poisson experts) only"
    )
    args = parser.parse_args()
    sizes = [10**4, 10**5] if args.quick else [10**4, 10**5, 10**6]
    d, K, n_iter = 10, 8, 10
    rng = np.random.RandomState(0)
    X_all, y_all = make_moe_regression(
        n_samples=max(sizes), n_features=d, n_experts=K, random_state=0
    )
    # Warm up: compile the kernels before timing anything.
    MixtureOfExpertsRegressor(n_experts=K, max_iter=2).fit(X_all[:500], y_all[:500])
    if args.poisson:
        return poisson_rows(X_all, y_all, n_iter, rng)

    print("## 1. Seconds per EM iteration (d = 10, K = 8, LinearRegression experts)\n")
    print(
        "| n | skmoe s/iter | numpy floor s | ratio to floor | s/iter per 10^4 rows |"
    )
    print("|---|---|---|---|---|")
    per_iteration = {}
    for n in sizes:
        X, y = X_all[:n], y_all[:n]
        floor = numpy_floor(X, K, rng)
        seconds = seconds_per_iteration(X, y, K, n_iter)
        per_iteration[n] = seconds
        print(
            f"| {n:,} | {seconds:.4f} | {floor:.4f} | {seconds / floor:.2f} | "
            f"{seconds / n * 1e4:.5f} |"
        )

    n = max(sizes)
    print(f"\nA whole fit, n = {n:,}, 100 iterations (initialisation included):\n")
    whole, init_only = (
        best_of(
            lambda iterations=iterations: MixtureOfExpertsRegressor(
                n_experts=K, max_iter=iterations, tol=0, random_state=0
            ).fit(X_all[:n], y_all[:n]),
            repeat=2,
        )
        for iterations in (100, 0)
    )
    print("| fit s | of which initialisation s | 100 numpy floors s | ratio |")
    print("|---|---|---|---|")
    print(
        f"| {whole:.2f} | {init_only:.2f} | {100 * floor:.2f} | "
        f"{whole / (100 * floor):.2f} |"
    )
    print(f"\n## 2. Against a plain numpy EM (n = {n:,}, per iteration)\n")
    plain = plain_numpy_em(X_all[:n], y_all[:n], K, 3, rng)
    print("| plain numpy EM s/iter | skmoe s/iter | speed-up |")
    print("|---|---|---|")
    print(f"| {plain:.3f} | {per_iteration[n]:.4f} | {plain / per_iteration[n]:.1f}x |")

    print("\n## 3. Against R's flexmix (n = 10,000, d = 5, K = 4, per iteration)\n")
    X5, y5 = make_moe_regression(
        n_samples=10**4, n_features=5, n_experts=4, random_state=1
    )
    fixed, reason = run_flexmix(X5, y5, 4, 20, tolerance=0)
    if fixed is None:
        print(f"skipped: {reason}")
    else:
        unpenalised = LogisticRegression(C=np.inf)
        # 100 iterations (not flexmix's 20): a few milliseconds each, so that
        # the difference of two fits is not lost in the noise of a loaded machine.
        ours = seconds_per_iteration(X5, y5, 4, 100, gate=unpenalised)
        flexmix = fixed[0] / fixed[1]
        print("| flexmix s/iter | skmoe s/iter | speed-up |")
        print("|---|---|---|")
        print(f"| {flexmix:.4f} | {ours:.5f} | {flexmix / ours:.0f}x |")
        # Whole fits to convergence (flexmix's default tolerance, 1e-6 relative;
        # about 1e-6 per sample for skmoe), each from its own initialisation.
        (seconds, iterations, log_likelihood), _ = run_flexmix(
            X5, y5, 4, 1000, tolerance=1e-6
        )
        start = time.perf_counter()
        moe = MixtureOfExpertsRegressor(
            n_experts=4, gate=unpenalised, max_iter=1000, tol=1e-6, random_state=0
        ).fit(X5, y5)
        ours = time.perf_counter() - start
        print("\nTo convergence:\n")
        print("| | s | iterations | log-likelihood |")
        print("|---|---|---|---|")
        print(f"| flexmix | {seconds:.2f} | {iterations} | {log_likelihood:.2f} |")
        print(f"| skmoe | {ours:.3f} | {moe.n_iter_} | {moe.log_likelihood_:.2f} |")
        print(f"| speed-up | {seconds / ours:.0f}x | | |")

    n_tree = 20_000 if args.quick else 100_000
    print(
        f"\n## 4. DecisionTreeRegressor(max_depth=6) experts (n = {n_tree:,}, K = 8)\n"
    )
    total, bare = tree_overhead(X_all[:n_tree], y_all[:n_tree], K, 5)
    print("| skmoe fit s | bare tree fits s | overhead |")
    print("|---|---|---|")
    print(f"| {total:.2f} | {bare:.2f} | {100 * (total / bare - 1):.0f}% |")

    n_mem = max(sizes)
    print(f"\n## 5. Peak memory of a fit above its input (n = {n_mem:,}, K = 8)\n")
    peak = peak_memory(X_all[:n_mem], y_all[:n_mem], K, 3)
    unit = n_mem * K * 8
    print("| peak MB | one (n, K) float64 array MB | peak in (n, K) arrays |")
    print("|---|---|---|")
    print(f"| {peak / 1e6:.0f} | {unit / 1e6:.0f} | {peak / unit:.1f} |")
    poisson_rows(X_all, y_all, n_iter, rng)


if __name__ == "__main__":
    main()
