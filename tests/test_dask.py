"""Dask: exact EM on the cluster, lazy inference, and expert fits through
joblib's dask backend."""

import os
import pickle
import signal
import time

import dask.array as da
import distributed
import numpy as np
import pytest
from joblib import parallel_config
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
)
from sklearn.tree import DecisionTreeRegressor

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe._dask import (
    DaskEngine,
    add_statistics,
    draw_sample,
    prepare_dask_data,
)
from skmoe._dask_input import as_dask_matrix, as_dask_vector
from skmoe._em import EMReport, run_em
from skmoe._engines import standardised_design
from skmoe._experts import make_experts
from skmoe._families import GaussianFamily
from skmoe._gate import SoftmaxGate
from skmoe._kernels import _numba, _xp
from skmoe.datasets import make_moe_classification, make_moe_regression


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client():
    # In-process workers: fast to start, the same scheduler logic.
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def regression():
    X, y = make_moe_regression(n_samples=3000, n_experts=3, noise=0.3, random_state=0)
    weight = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    return X, y, weight


def _dask(*arrays, chunks=700):
    # Uneven chunks: 3000 rows in chunks of 700 and a last one of 200.
    return [da.from_array(a, chunks=(chunks,) + a.shape[1:]) for a in arrays]


def _init(n_samples, n_experts, seed=0):
    labels = np.random.RandomState(seed).randint(n_experts, size=n_samples)
    return np.eye(n_experts)[labels]


def test_dask_fit_equals_the_in_memory_fit(client, regression):
    X, y, weight = regression
    init = _init(len(y), 4)
    # Expert 3 starts with two samples: removed at the start, on both paths.
    init[:, 0] += init[:, 3]
    init[:, 3] = 0.0
    init[:2] = np.eye(4)[3]
    params = dict(n_experts=4, init=init, tol=1e-8, random_state=0)
    X_before, y_before = X.copy(), y.copy()
    local = MixtureOfExpertsRegressor(**params).fit(X, y, sample_weight=weight)
    Xd, yd, wd = _dask(X, y, weight)
    remote = MixtureOfExpertsRegressor(**params).fit(Xd, yd, sample_weight=wd)
    assert remote.n_experts_ == local.n_experts_ == 3
    assert remote.n_iter_ == local.n_iter_
    assert remote.log_likelihood_ == pytest.approx(local.log_likelihood_, rel=1e-8)
    np.testing.assert_allclose(
        remote.log_likelihood_path_, local.log_likelihood_path_, rtol=1e-8
    )
    np.testing.assert_allclose(remote.noise_variance_, local.noise_variance_, 1e-6)
    np.testing.assert_allclose(remote.predict(X), local.predict(X), atol=1e-6)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


def test_dask_fit_from_a_sample_drawn_on_the_workers(client):
    X, y = make_moe_regression(n_samples=4000, n_experts=3, noise=0.3, random_state=1)
    Xd, yd = _dask(X, y, chunks=1000)
    data = prepare_dask_data(*as_dask_matrix(Xd)[:1], as_dask_vector(yd, Xd, "y"), None)
    sample_X, sample_y, sample_weight = draw_sample(data, 1000, seed=0)
    # About a quarter of the rows, each a row of the data.
    assert 800 < len(sample_y) < 1200
    rows = np.flatnonzero(np.isin(y, sample_y))
    np.testing.assert_array_equal(X[rows], sample_X)
    np.testing.assert_array_equal(sample_weight, 1.0)

    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(Xd, yd)
    best = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    assert model.converged_
    assert model.log_likelihood_ / len(y) == pytest.approx(
        best.log_likelihood_ / len(y), abs=1e-3
    )
    # An ordinary fitted model: numpy in, numpy out; pickles.
    copy = pickle.loads(pickle.dumps(model))
    assert isinstance(copy.predict(X[:5]), np.ndarray)
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))


def test_dask_engine_equals_the_fused_engine_with_sampled_curvature(client):
    # Both engines past the Newton budget, on the same curvature sample.
    X, y = make_moe_regression(n_samples=2000, n_experts=3, noise=0.3, random_state=2)
    Xd, yd = _dask(X, y, chunks=600)
    data = prepare_dask_data(as_dask_matrix(Xd)[0], as_dask_vector(yd, Xd, "y"), None)
    mean, scale = data.feature_mean, data.feature_scale
    design = standardised_design(X, mean, scale)
    start = _init(len(y), 3, seed=2)
    family = GaussianFamily(data.target_scale)

    def parts():
        gate = SoftmaxGate(3, mean, scale)
        gate.newton_budget = 500 * (3 * design.shape[1]) ** 2
        return make_experts(LinearRegression(), 3, np.random.RandomState(0)), gate

    from skmoe._engines import make_training_data
    from skmoe._fused import FusedEngine

    memory = FusedEngine(
        make_training_data(X, y, np.ones(len(y)), mean, scale),
        *parts(),
        family,
        mean,
        scale,
        kernels=_numba,
        curvature_rows=500,
    )
    assert memory.sampled
    sample = memory.curvature_sample
    dask_engine = DaskEngine(data, *parts(), family, sample, backend="numba")
    assert dask_engine.sampled
    report = EMReport(0, 0)
    runs = [
        run_em(
            engine,
            responsibilities,
            max_iter=25,
            tol=0,
            min_expert_weight=0,
            report=report,
        )
        for engine, responsibilities in [
            (memory, start),
            (dask_engine, da.from_array(start, chunks=(600, 3))),
        ]
    ]
    np.testing.assert_allclose(runs[1].path, runs[0].path, rtol=1e-10)


def test_pass_statistics_add_over_chunks():
    rng = np.random.default_rng(0)
    design = np.column_stack([rng.standard_normal((300, 2)), np.ones(300)])
    y = rng.standard_normal(300)
    weight = rng.uniform(0.5, 2.0, 300)
    gate, experts = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    variance = np.ones(3)
    previous = rng.dirichlet(np.ones(3), 300)
    pairs = np.array([[0, 0], [1, 0], [1, 1]])

    def run(rows):
        return _xp.em_pass(
            design[rows],
            y[rows],
            weight[rows],
            gate,
            experts,
            variance,
            previous[rows],
            np.empty((len(y[rows]), 3)),
            pairs,
        )

    whole = run(slice(None))
    parts = add_statistics(
        run(slice(0, 100)), run(slice(100, 250)), run(slice(250, None))
    )
    for total, summed in zip(whole, parts):
        np.testing.assert_allclose(summed, total, rtol=1e-12)


def test_inference_on_dask_input_is_lazy(client, regression):
    X, y, _ = regression
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    Xd, yd = _dask(X, y)
    for method, args in [
        ("predict", ()),
        ("gate_proba", ()),
        ("apply", ()),
        ("log_likelihood", (y,)),
    ]:
        lazy = getattr(model, method)(Xd, *args)
        assert isinstance(lazy, da.Array), method
        np.testing.assert_allclose(
            lazy.compute(), getattr(model, method)(X, *args), rtol=1e-12
        )
    mean, std = model.predict(Xd, return_std=True)
    np.testing.assert_allclose(std.compute(), model.predict(X, return_std=True)[1])
    assert model.score(Xd, yd) == pytest.approx(model.score(X, y), rel=1e-12)
    # The predictive distribution, chunk by chunk; the criteria, summed.
    for method, kwargs in [
        ("predict_quantiles", {"quantiles": [0.1, 0.5, 0.9]}),
        ("predict_interval", {"coverage": 0.8}),
    ]:
        lazy = getattr(model, method)(Xd, **kwargs)
        assert isinstance(lazy, da.Array), method
        np.testing.assert_allclose(
            lazy.compute(), getattr(model, method)(X, **kwargs), rtol=1e-10
        )
    for criterion in ("bic", "aic", "icl"):
        assert getattr(model, criterion)(Xd, yd) == pytest.approx(
            getattr(model, criterion)(X, y), rel=1e-10
        )
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        model.predict_quantiles(Xd, quantiles=[0.5, 1.5])
    with pytest.raises(TypeError, match="compute X"):
        model.sample_y(Xd)

    Xc, yc = make_moe_classification(n_samples=900, n_classes=3, random_state=0)
    classifier = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(Xc, yc)
    (Xcd,) = _dask(Xc, chunks=400)
    proba = classifier.predict_proba(Xcd)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), classifier.predict_proba(Xc))
    np.testing.assert_array_equal(
        classifier.predict(Xcd).compute(), classifier.predict(Xc)
    )
    assert classifier.score(Xcd, yc) == pytest.approx(classifier.score(Xc, yc))


def test_dask_dataframe_input(client, regression):
    dd = pytest.importorskip("dask.dataframe")
    pandas = pytest.importorskip("pandas")
    X, y, _ = regression
    frame = pandas.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    Xd = dd.from_pandas(frame, npartitions=3)
    yd = dd.from_pandas(pandas.Series(y), npartitions=3)
    init = _init(len(y), 3)
    model = MixtureOfExpertsRegressor(n_experts=3, init=init).fit(Xd, yd)
    local = MixtureOfExpertsRegressor(n_experts=3, init=init).fit(frame, y)
    assert model.log_likelihood_ == pytest.approx(local.log_likelihood_, rel=1e-8)
    np.testing.assert_array_equal(model.feature_names_in_, frame.columns)
    np.testing.assert_allclose(model.predict(Xd).compute(), local.predict(frame))


def test_bad_dask_input_raises_clear_errors(client, regression):
    X, y, _ = regression
    model = MixtureOfExpertsRegressor(n_experts=2, max_iter=2)
    X_nan = X.copy()
    X_nan[2100, 1] = np.nan
    Xd, yd = _dask(X_nan, y)
    with pytest.raises(ValueError, match="X contains NaN"):
        model.fit(Xd, yd)
    Xd, yd = _dask(X, y[:-5])
    with pytest.raises(ValueError, match="X has 3000 samples but y has 2995"):
        model.fit(Xd, yd)
    (Xd,) = _dask(X)
    with pytest.raises(ValueError, match="y has 2999"):
        model.fit(Xd, y[:-1])
    with pytest.raises(ValueError, match="2-D"):
        model.fit(Xd[:, 0], y)
    fitted = MixtureOfExpertsRegressor(n_experts=2).fit(X, y)
    with pytest.raises(
        ValueError, match="1 features, but MixtureOfExpertsRegressor is expecting"
    ):
        fitted.predict(Xd[:, :1])
    with pytest.raises(ValueError, match="y has 10"):
        fitted.log_likelihood(Xd, y[:10])


@pytest.mark.parametrize(
    "model",
    [
        MixtureOfExpertsRegressor(DecisionTreeRegressor(), n_experts=2),
        MixtureOfExpertsRegressor(n_experts=2, routing="hard"),
        MixtureOfExpertsClassifier(n_experts=2),
    ],
)
def test_models_without_dask_em_say_what_works(client, regression, model):
    X, y, _ = regression
    Xd, yd = _dask(X, (y > 0).astype(float))
    with pytest.raises(TypeError, match="LinearRegression or Ridge experts"):
        model.fit(Xd, yd)


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
        client.as_current(),  # not the in-process cluster of other tests
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
    assert remote.log_likelihood_ == remote.log_likelihood_
    assert remote.log_likelihood_ == local.log_likelihood_


def test_a_lost_worker_does_not_corrupt_the_fit(cluster):
    X, y = make_moe_regression(n_samples=2000, n_experts=3, noise=0.3, random_state=3)
    start = _init(len(y), 3, seed=3)
    with distributed.Client(cluster) as client:
        Xd, yd = (array.persist() for array in _dask(X, y, chunks=250))
        data = prepare_dask_data(
            as_dask_matrix(Xd)[0], as_dask_vector(yd, Xd, "y"), None
        )
        mean, scale = data.feature_mean, data.feature_scale
        sample = (standardised_design(X, mean, scale), np.ones(len(y)))
        family = GaussianFamily(data.target_scale)

        def run(kill):
            engine = DaskEngine(
                data,
                make_experts(LinearRegression(), 3, np.random.RandomState(0)),
                SoftmaxGate(3, mean, scale),
                family,
                sample,
                backend="numba",
            )
            report = EMReport(0, 0)
            options = dict(tol=0, min_expert_weight=0, report=report)
            first = run_em(
                engine, da.from_array(start, chunks=(250, 3)), max_iter=3, **options
            )
            engine.parameters()  # the second run continues from them
            if kill:
                # Kill a worker process: the nanny starts another, and the
                # scheduler recomputes the chunks of the data it held.
                workers = list(client.scheduler_info()["workers"])
                held = client.has_what()[workers[0]]
                assert held, "the killed worker holds no data"
                pid = client.run(os.getpid, workers=workers[:1])[workers[0]]
                os.kill(pid, signal.SIGKILL)
                deadline = time.time() + 60
                while time.time() < deadline:
                    if workers[0] not in client.scheduler_info()["workers"]:
                        break
                    time.sleep(0.05)
                assert workers[0] not in client.scheduler_info()["workers"]
            second = run_em(engine, None, max_iter=5, **options)
            return first.path + second.path, engine.parameters()

        reference, reference_parameters = run(kill=False)
        path, parameters = run(kill=True)
    np.testing.assert_allclose(path, reference, rtol=1e-12)
    np.testing.assert_allclose(
        parameters.dispersion, reference_parameters.dispersion, rtol=1e-10
    )


def test_init_as_a_dask_array_and_warm_start(client, regression):
    X, y, _ = regression
    init = _init(len(y), 3, seed=4)
    Xd, yd, init_dask = _dask(X, y, init * 3.0, chunks=1000)  # rows renormalised
    model = MixtureOfExpertsRegressor(n_experts=3, init=init_dask, max_iter=5)
    local = MixtureOfExpertsRegressor(n_experts=3, init=init, max_iter=5)
    with pytest.warns(ConvergenceWarning):
        model.fit(Xd, yd)
    with pytest.warns(ConvergenceWarning):
        local.fit(X, y)
    assert model.log_likelihood_ == pytest.approx(local.log_likelihood_, rel=1e-10)
    # warm_start continues from the fit, on the workers.
    model.set_params(warm_start=True, max_iter=3, tol=0)
    local.set_params(warm_start=True, max_iter=3, tol=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(Xd, yd)
    with pytest.warns(ConvergenceWarning):
        local.fit(X, y)
    np.testing.assert_allclose(
        model.log_likelihood_path_, local.log_likelihood_path_, rtol=1e-10
    )
    (bad,) = _dask(-init)
    with pytest.raises(ValueError, match="non-negative"):
        MixtureOfExpertsRegressor(n_experts=3, init=bad).fit(Xd, yd)
    with pytest.raises(ValueError, match="shape"):
        MixtureOfExpertsRegressor(n_experts=3, init=init_dask[:10]).fit(Xd, yd)


def test_experts_removed_during_the_dask_fit_as_in_memory(client, regression):
    # Five experts on three regimes: small ones die during EM (their
    # responsibilities renormalised in the chunks, from the parameters).
    X, y, weight = regression
    init = _init(len(y), 5, seed=5)
    params = dict(n_experts=5, init=init, min_expert_weight=0.1, max_iter=20, tol=0)
    local = MixtureOfExpertsRegressor(**params)
    remote = MixtureOfExpertsRegressor(**params)
    Xd, yd, wd = _dask(X, y, weight)
    with pytest.warns(ConvergenceWarning):
        local.fit(X, y, sample_weight=weight)
    with pytest.warns(ConvergenceWarning):
        remote.fit(Xd, yd, sample_weight=wd)
    assert remote.n_experts_ == local.n_experts_ < 5
    np.testing.assert_allclose(
        remote.log_likelihood_path_, local.log_likelihood_path_, rtol=1e-8
    )


def test_importing_skmoe_does_not_import_dask():
    import subprocess
    import sys

    code = (
        "import sys, skmoe; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'distributed')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "expert", [PoissonRegressor(alpha=0.0), GammaRegressor(alpha=0.0)]
)
def test_dask_fit_of_log_link_experts_reaches_the_in_memory_optimum(client, expert):
    # Poisson and Gamma experts run the same fused pass on the chunks; from
    # the same start the two fits reach the same maximum.
    X, _ = make_moe_regression(
        n_samples=3000, n_features=3, n_experts=2, random_state=2
    )
    rng = np.random.default_rng(0)
    # A soft boundary (a logistic gate), so that the gate's weights are finite.
    regime = rng.random(len(X)) < 1.0 / (1.0 + np.exp(-3.0 * X[:, 0]))
    mean = np.exp(np.where(regime, 0.5 * X[:, 1], 1.0 - 0.5 * X[:, 2]))
    if isinstance(expert, PoissonRegressor):
        y = rng.poisson(mean).astype(float)
    else:
        y = rng.gamma(4.0, mean / 4.0)
    init = np.eye(2)[regime.astype(int)]
    # Unpenalised experts and gate: the likelihood itself never falls.
    params = dict(
        n_experts=2,
        gate=LogisticRegression(C=np.inf),
        init=init,
        tol=1e-10,
        max_iter=500,
        random_state=0,
    )
    # Weighted, the first chunk (700 rows) with no weight at all.
    weight = rng.uniform(0.5, 2.0, len(y))
    weight[:700] = 0.0
    local = MixtureOfExpertsRegressor(expert, **params).fit(X, y, sample_weight=weight)
    Xd, yd, wd = _dask(X, y, weight)
    remote = MixtureOfExpertsRegressor(expert, **params).fit(Xd, yd, sample_weight=wd)
    assert remote.likelihood_ == local.likelihood_ != "gaussian"
    assert remote.log_likelihood_ == pytest.approx(local.log_likelihood_, rel=1e-8)
    path = remote.log_likelihood_path_
    assert np.all(np.diff(path) >= -1e-8 * np.abs(path[1:]))
    # EM stops on the likelihood's change: the weights are known to about
    # its square root, and both fits stop a little short of the maximum.
    np.testing.assert_allclose(remote.predict(X), local.predict(X), rtol=5e-3)
    assert weight @ remote.log_likelihood(X, y) == pytest.approx(
        remote.log_likelihood_, rel=1e-10
    )
    if isinstance(expert, GammaRegressor):
        np.testing.assert_allclose(remote.dispersion_, local.dispersion_, rtol=5e-3)


def test_target_terms_are_summed_once_in_the_first_pass():
    """The targets' own log-density terms of a log-link family, weighted,
    come with the data's summaries (once per fit, not once per run)."""
    from scipy.special import gammaln

    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 2))
    y = rng.poisson(2.0, 500).astype(float) + 0.5
    weight = rng.uniform(0.0, 2.0, 500)
    Xd, yd, wd = _dask(X, y, weight)
    expected = {
        "poisson": -weight @ gammaln(y + 1.0),
        "gamma": -weight @ np.log(y),
        "gaussian": 0.0,
    }
    for family, value in expected.items():
        data = prepare_dask_data(Xd, yd, wd, family)
        assert data.target_terms == pytest.approx(value, rel=1e-12)
        assert data.total_weight == pytest.approx(weight.sum(), rel=1e-12)


def test_dask_fit_checks_the_targets_of_its_family(client, regression):
    X, y, _ = regression
    Xd, yd = _dask(X, y)  # y has negative values
    with pytest.raises(ValueError, match="non-negative"):
        MixtureOfExpertsRegressor(PoissonRegressor(), n_experts=2).fit(Xd, yd)
    with pytest.raises(ValueError, match="positive targets"):
        MixtureOfExpertsRegressor(GammaRegressor(), n_experts=2).fit(Xd, yd)


def test_inference_on_dask_input_with_an_empty_chunk(client, regression):
    # Filtered dask data often has empty partitions: they give empty results.
    X, y, _ = regression
    model = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    chunks = (1500, 0, 1500)
    Xd = da.from_array(X, chunks=(chunks, (X.shape[1],)))
    yd = da.from_array(y, chunks=(chunks,))
    np.testing.assert_allclose(model.predict(Xd).compute(), model.predict(X))
    np.testing.assert_allclose(
        model.predict_interval(Xd).compute(), model.predict_interval(X)
    )
    for criterion in ("bic", "icl"):
        assert getattr(model, criterion)(Xd, yd) == pytest.approx(
            getattr(model, criterion)(X, y), rel=1e-10
        )
