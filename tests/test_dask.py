"""Expert fits run on a Dask cluster through joblib's dask backend."""

import distributed
import numpy as np
import pytest
from joblib import parallel_config
from sklearn.exceptions import ConvergenceWarning
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_regression


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


def test_expert_fits_run_on_the_workers(cluster):
    X, y = make_moe_regression(n_samples=600, n_experts=3, random_state=0)
    params = dict(
        estimator=DecisionTreeRegressor(max_depth=3, random_state=0),
        n_experts=3,
        max_iter=5,
        tol=0,
        random_state=0,
    )
    local = MixtureOfExpertsRegressor(n_jobs=1, **params)
    with pytest.warns(ConvergenceWarning):  # 5 iterations only
        local.fit(X, y)
    with (
        distributed.Client(cluster) as client,
        distributed.get_task_stream(client) as stream,
        parallel_config(backend="dask"),
    ):
        remote = MixtureOfExpertsRegressor(n_jobs=-1, **params)
        with pytest.warns(ConvergenceWarning):
            remote.fit(X, y)
        workers = set(client.scheduler_info()["workers"])
    ran_on = {task["worker"] for task in stream.data}
    assert stream.data, "no task reached the cluster"
    assert ran_on <= workers
    np.testing.assert_array_equal(remote.predict(X), local.predict(X))
    assert remote.log_likelihood_ == local.log_likelihood_
