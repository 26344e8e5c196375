"""
Grid search over the number of experts on a Dask cluster
========================================================

Starts a local Dask cluster (two worker processes; point ``Client`` at a
real scheduler address to use a remote one), and runs GridSearchCV over
``n_experts`` with tree experts through joblib's dask backend: both the
grid points and the experts' fits inside each EM run are Dask tasks.
"""

import warnings

from distributed import Client, LocalCluster
from joblib import parallel_config
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_regression

# Tree experts refit in discrete jumps, so EM with them rarely meets a tight
# tolerance; the warning would only repeat that.
warnings.simplefilter("ignore", ConvergenceWarning)

if __name__ == "__main__":
    X, y = make_moe_regression(n_samples=3000, n_experts=3, noise=0.3, random_state=0)
    search = GridSearchCV(
        MixtureOfExpertsRegressor(
            DecisionTreeRegressor(max_depth=4), n_jobs=-1, random_state=0
        ),
        {"n_experts": [1, 2, 3, 4]},
        cv=KFold(3, shuffle=True, random_state=0),
        n_jobs=-1,
    )
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster):
        with parallel_config(backend="dask"):
            search.fit(X, y)
    for n_experts, score in zip(
        search.cv_results_["param_n_experts"], search.cv_results_["mean_test_score"]
    ):
        print(f"n_experts={n_experts}: cross-validated R^2 {score:.3f}")
    print(f"best: {search.best_params_}")
