"""
A mixture of experts on a Dask cluster
======================================

Part 1, exact EM on data that stay on the workers: 10^7 rows x 10 features
(``--rows``) are generated and persisted on a local cluster of two worker
processes; ``fit`` on the dask arrays runs every EM pass on the workers,
chunk by chunk, and brings only the sums of each pass (a few kilobytes) to
the client, which solves the M-step's small systems. Predictions on dask
input are lazy dask arrays; the fitted model is an ordinary one that
predicts numpy input and pickles.

Part 2, generic experts (trees) through joblib's dask backend: grid search
over ``n_experts``, where the grid points and the experts' fits inside each
EM run are Dask tasks (the data, small here, travel with the tasks).

On a real cluster, start a scheduler and workers (``dask scheduler``,
``dask worker tcp://scheduler:8786 --nthreads 1``, one worker per core)
and run this script with ``--scheduler tcp://scheduler:8786``: nothing else
changes. Load the data on the workers (``dask.array.from_zarr``,
``dask.dataframe.read_parquet``...) rather than from the client.
"""

import argparse
import pickle
import time
import warnings

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, wait
from joblib import parallel_config
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_regression


def regimes(X, seed):
    """Targets of eight linear regimes, one per sign pattern of x0, x1, x2."""
    rng = np.random.RandomState(1000)
    coef, intercept = 2 * rng.standard_normal((8, 10)), 2 * rng.standard_normal(8)
    regime = 4 * (X[:, 0] > 0) + 2 * (X[:, 1] > 0) + (X[:, 2] > 0)
    y = np.einsum("ij,ij->i", X, coef[regime]) + intercept[regime]
    return y + 0.5 * np.random.default_rng(seed).standard_normal(len(y))


def exact_em_on_the_cluster(n_rows):
    # Chunks of 10^6 rows: 80 MB each for X, a few hundred MB of working
    # memory per task (see the README's "Chunks and worker memory").
    X = da.random.default_rng(0).standard_normal((n_rows, 10), chunks=(10**6, 10))
    y = X.map_blocks(
        lambda block, block_info=None: regimes(
            block, block_info[0]["chunk-location"][0]
        ),
        drop_axis=1,
        dtype=float,
    )
    X, y = X.persist(), y.persist()  # computed once, kept on the workers
    wait([X, y])
    start = time.perf_counter()
    model = MixtureOfExpertsRegressor(n_experts=8, random_state=0).fit(X, y)
    print(
        f"{n_rows:,} rows: {model.n_iter_} EM iterations, converged: "
        f"{model.converged_}, {time.perf_counter() - start:.0f} s; "
        f"log-likelihood per sample {model.log_likelihood_ / n_rows:.4f}"
    )
    prediction = model.predict(X)  # lazy: a dask array, nothing computed yet
    rmse = float(da.sqrt(((prediction - y) ** 2).mean()).compute())
    print(f"training RMSE {rmse:.3f} (noise sd 0.5); R^2 {model.score(X, y):.4f}")
    # An ordinary fitted model: numpy in, numpy out.
    local = pickle.loads(pickle.dumps(model))
    print("prediction for 3 numpy rows:", local.predict(np.zeros((3, 10))))


def grid_search_with_tree_experts():
    # Tree experts refit in discrete jumps, so EM with them rarely meets a
    # tight tolerance; the warning would only repeat that.
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = make_moe_regression(n_samples=3000, n_experts=3, noise=0.3, random_state=0)
    search = GridSearchCV(
        MixtureOfExpertsRegressor(
            DecisionTreeRegressor(max_depth=4), n_jobs=-1, random_state=0
        ),
        {"n_experts": [1, 2, 3, 4]},
        cv=KFold(3, shuffle=True, random_state=0),
        n_jobs=-1,
    )
    with parallel_config(backend="dask"):
        search.fit(X, y)
    for n_experts, score in zip(
        search.cv_results_["param_n_experts"], search.cv_results_["mean_test_score"]
    ):
        print(f"n_experts={n_experts}: cross-validated R^2 {score:.3f}")
    print(f"best: {search.best_params_}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument(
        "--scheduler", default=None, help="address of a running Dask scheduler"
    )
    args = parser.parse_args()
    if args.scheduler is None:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1)
        client = Client(cluster)
    else:
        client = Client(args.scheduler)
    with client:
        exact_em_on_the_cluster(int(args.rows))
        grid_search_with_tree_experts()
