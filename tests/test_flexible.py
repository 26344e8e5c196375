"""Generalized EM for experts that continue training (skmoe._flexible)."""

import warnings

import numpy as np
import pytest
from numpy.random import RandomState
from scipy import sparse
from sklearn.base import clone
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.tree import DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor, _init
from skmoe._em import fit_em
from skmoe._engines import standardised_design, weighted_scaling
from skmoe._experts import ExpertFitWarning
from skmoe._flexible import (
    ContinuationState,
    bin_features,
    continuation,
    needs_fit,
    slice_size,
)
from skmoe._gate import SoftmaxGate, make_gate
from skmoe._init import spline_mixture_start
from skmoe._kernels import _xp
from skmoe.datasets import make_moe_regression


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    """Histogram boosting spins its OpenMP threads: on a shared machine one
    thread is faster, and these tests are about results, not speed."""
    with threadpool_limits(1, user_api="openmp"):
        yield


def _regimes(n_samples=1500, kind="oblique", seed=0):
    """Two nonlinear regimes split by a linear (oblique) or a disc boundary."""
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, (n_samples, 3))
    if kind == "oblique":
        regime = X[:, 0] + X[:, 2] > 0.2
    else:
        regime = X[:, 0] ** 2 + X[:, 2] ** 2 < 0.5
    truth = np.where(regime, np.sin(3 * X[:, 1]) + 1.0, X[:, 1] ** 2 - 1.0)
    return X, truth + 0.2 * rng.randn(n_samples), regime


@pytest.mark.parametrize(
    "estimator, budget",
    [
        (MLPRegressor(), "max_iter"),
        (MLPClassifier(solver="sgd"), "max_iter"),
        (HistGradientBoostingRegressor(), "max_iter"),
        (HistGradientBoostingClassifier(early_stopping=False), "max_iter"),
        (GradientBoostingRegressor(), "n_estimators"),
    ],
)
def test_experts_that_continue(estimator, budget):
    how = continuation(estimator)
    assert how.budget == budget
    assert how.working["warm_start"] is True
    assert (how.max_bins is not None) == ("Hist" in type(estimator).__name__)


@pytest.mark.parametrize(
    "estimator",
    [
        LinearRegression(),
        KNeighborsRegressor(),
        MLPRegressor(solver="lbfgs"),
        MLPRegressor(early_stopping=True),
        HistGradientBoostingRegressor(early_stopping=True),
        HistGradientBoostingRegressor(categorical_features=[0]),
        HistGradientBoostingRegressor(categorical_features=np.array([True, False])),
        GradientBoostingRegressor(n_iter_no_change=5),
    ],
)
def test_experts_that_are_refitted(estimator):
    assert continuation(estimator) is None


def test_slice_schedule_spends_the_budget_exactly():
    shares = (0.25, 0.05)
    spent, slices = 0, []
    while (work := slice_size(200, spent, shares)) > 0:
        slices.append(work)
        spent += work
    assert slices[0] == 50 and set(slices[1:]) == {10}
    assert spent == 200
    assert slice_size(3, 0, shares) == 1  # at least one epoch or tree
    assert slice_size(100, 120, shares) == 0  # overspent (a raised budget)


def test_boosting_spends_a_fifth_then_the_rest():
    how = continuation(HistGradientBoostingRegressor(max_iter=20))
    spent, slices = 0, []
    while (work := slice_size(20, spent, how.shares)) > 0:
        slices.append(work)
        spent += work
    assert slices == [4, 16]


def test_held_experts_need_no_fit():
    X, y, _ = _regimes(n_samples=300)
    expert = HistGradientBoostingRegressor(max_iter=5)
    how = continuation(expert)
    assert needs_fit(expert, how)  # unfitted
    expert.fit(X, y)
    assert not needs_fit(expert, how)  # its 5 trees are spent
    expert.set_params(max_iter=6)
    assert needs_fit(expert, how)


def test_bin_features_rounds_to_fixed_representatives():
    rng = np.random.RandomState(0)
    X = rng.randn(3000, 3)
    X[::7, 1] = np.nan
    X[:, 2] = rng.randint(0, 5, 3000)  # few distinct values: kept
    rows = np.arange(3000)
    binned = bin_features(X, rows, 63)
    for column in range(3):
        values = binned.values[:, column]
        distinct = np.unique(values[~np.isnan(values)])
        assert len(distinct) <= 63
        # Every representative is held by an anchor row.
        assert set(distinct) <= set(values[binned.anchors])
    np.testing.assert_array_equal(np.isnan(binned.values), np.isnan(X))
    np.testing.assert_array_equal(binned.values[:, 2], X[:, 2])
    # Rounding to the nearest representative never reorders values.
    order = np.argsort(X[:, 0])
    assert np.all(np.diff(binned.values[order, 0]) >= 0)


def test_boosting_on_binned_features_routes_raw_features_alike():
    X, y, _ = _regimes()
    binned = bin_features(X, np.arange(len(y)), 255)
    model = HistGradientBoostingRegressor(max_iter=20, random_state=0)
    model.fit(binned.values, y, sample_weight=np.linspace(0.1, 1, len(y)))
    np.testing.assert_allclose(model.predict(X), model.predict(binned.values))


def test_continued_boosting_lowers_the_loss_under_new_weights():
    """The generalized M-step of a boosting expert: more trees on the new
    weights lower the weighted loss they are grown for."""
    X, y, _ = _regimes()
    binned = bin_features(X, np.arange(len(y)), 255)
    old = 1 / (1 + np.exp(-4 * X[:, 0]))
    new = 1 / (1 + np.exp(-40 * (X[:, 0] + X[:, 2] - 0.2)))
    model = HistGradientBoostingRegressor(
        max_iter=20, warm_start=True, early_stopping=False, random_state=0
    ).fit(binned.values, y, sample_weight=old)
    before = np.average((model.predict(X) - y) ** 2, weights=new)
    model.set_params(max_iter=25).fit(binned.values, y, sample_weight=new)
    after = np.average((model.predict(X) - y) ** 2, weights=new)
    assert after < before


def _path_dips(model):
    path = np.asarray(model.log_likelihood_path_)
    return np.diff(path) / model.n_features_in_ / len(path)


def test_boosting_experts_likelihood_climbs_and_budget_is_spent():
    X, y, _ = _regimes()
    expert = HistGradientBoostingRegressor(max_iter=20, random_state=0)
    user_params = expert.get_params()
    moe = MixtureOfExpertsRegressor(expert, n_experts=2, random_state=0).fit(X, y)
    path = np.asarray(moe.log_likelihood_path_)
    # Generalized EM with consistent bins: the path never falls (up to
    # rounding of sums over the data).
    assert np.all(np.diff(path) >= -1e-9 * np.abs(path[1:]))
    assert expert.get_params() == user_params and not hasattr(expert, "n_iter_")
    for fitted in moe.experts_:
        assert isinstance(fitted, HistGradientBoostingRegressor)
        seeded = {**user_params, "random_state": fitted.random_state}
        assert fitted.get_params() == seeded
        assert fitted.n_iter_ == 20  # the user's budget, spent in slices
    assert moe.score(X, y) > 0.8


@pytest.mark.parametrize(
    "expert, first_full",
    [
        (HistGradientBoostingRegressor(max_iter=10, random_state=0), True),
        (MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, random_state=0), False),
        (DecisionTreeRegressor(max_depth=2, random_state=0), False),
    ],
)
def test_first_gate_step_is_full_for_boosting_experts(expert, first_full, monkeypatch):
    """Boosting experts keep every tree: the run's first M-step fits the gate
    to convergence (later ones take one Newton step); networks, which
    unlearn, and refitted experts take one step from the start."""
    calls = []
    m_step = SoftmaxGate.m_step

    def spy(self, *args, full=False, **kwargs):
        calls.append(full)
        return m_step(self, *args, full=full, **kwargs)

    monkeypatch.setattr(SoftmaxGate, "m_step", spy)
    X, y, _ = _regimes(n_samples=400)
    moe = MixtureOfExpertsRegressor(
        expert, n_experts=2, max_iter=3, backend="numpy", random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        moe.fit(X, y)
    assert calls and calls[0] is first_full
    assert not any(calls[1:])


def test_full_first_gate_step_sharpens_the_start():
    """From sharp start responsibilities, one Newton step from zero weights
    gives a blurred gate; the full step reaches the objective's optimum
    (measured: -371 against -301, mean largest probability 0.75 against
    0.87)."""
    X, _, regime = _regimes(n_samples=1000)
    start = np.column_stack([regime, ~regime]).astype(float) * 0.9 + 0.05
    weight = np.ones(len(X))
    mean, scale = weighted_scaling(X, weight)
    design = standardised_design(X, mean, scale)
    fits = {}
    for full in (False, True):
        gate = make_gate(None, 2, mean, scale)
        log_proba = gate.m_step(design, start, weight, _xp, full=full).log_proba(
            design, _xp
        )
        fits[full] = np.sum(start * log_proba), np.exp(log_proba).max(axis=1).mean()
    (one_value, one_sharpness), (full_value, full_sharpness) = fits.values()
    assert full_value > one_value + 0.1 * abs(one_value)
    assert full_sharpness > one_sharpness + 0.05


def test_classic_boosting_experts_continue():
    X, y, _ = _regimes(n_samples=600)
    expert = GradientBoostingRegressor(n_estimators=12, max_depth=2, random_state=0)
    moe = MixtureOfExpertsRegressor(expert, n_experts=2, random_state=0).fit(X, y)
    path = np.asarray(moe.log_likelihood_path_)
    assert np.all(np.diff(path) >= -1e-9 * np.abs(path[1:]))
    for fitted in moe.experts_:
        assert fitted.n_estimators_ == 12 and fitted.warm_start is False


def test_network_experts_likelihood_climbs_within_tiny_dips():
    X, y, _ = _regimes()
    expert = MLPRegressor(hidden_layer_sizes=(8,), max_iter=60, random_state=0)
    moe = MixtureOfExpertsRegressor(expert, n_experts=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # none from slices
        moe.fit(X, y)
    path = np.asarray(moe.log_likelihood_path_)
    assert path[-1] > path[0]
    # Stochastic epochs may lower the likelihood by a hair: at most 0.01 per
    # sample per iteration.
    assert np.min(np.diff(path)) > -0.01 * len(y)
    for fitted in moe.experts_:
        assert fitted.max_iter == 60 and fitted.warm_start is False
        assert fitted.n_iter_no_change == 10
        assert len(fitted.loss_curve_) <= 60


def test_flexible_classifier_experts():
    X, _, regime = _regimes(kind="oblique")
    y = np.where(regime, X[:, 1] > 0, X[:, 1] ** 2 < 0.3).astype(int)
    for expert in (
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=40, random_state=0),
        HistGradientBoostingClassifier(max_iter=15, random_state=0),
    ):
        moe = MixtureOfExpertsClassifier(
            expert, n_experts=2, max_iter=30, random_state=0
        )
        with warnings.catch_warnings():
            # The gate sharpens slowly once the experts are held.
            warnings.simplefilter("ignore", ConvergenceWarning)
            moe.fit(X, y)
        proba = moe.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        path = np.asarray(moe.log_likelihood_path_)
        assert path[-1] > path[0]
        assert all(type(fitted) is type(expert) for fitted in moe.experts_)
        assert moe.score(X, y) > 0.75


def test_held_predictions_are_kept_until_the_expert_moves():
    X, y, _ = _regimes(n_samples=300)
    expert = HistGradientBoostingRegressor(max_iter=5).fit(X, y)
    state, calls = ContinuationState(), []

    def compute(model):
        calls.append(1)
        return model.predict(X)

    first = state.predictions(expert, compute)
    np.testing.assert_array_equal(state.predictions(expert, compute), first)
    assert len(calls) == 1
    expert.set_params(warm_start=True, max_iter=6).fit(X, y)
    state.predictions(expert, compute)
    assert len(calls) == 2
    # Experts that do not continue are always recomputed.
    linear = LinearRegression().fit(X, y)
    state.predictions(linear, compute)
    state.predictions(linear, compute)
    assert len(calls) == 4


@pytest.mark.parametrize("kind", ["oblique", "disc"])
def test_spline_start_finds_the_regimes(kind):
    X, y, regime = _regimes(n_samples=2000, kind=kind)
    moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0)
    start = spline_mixture_start(moe, X, y, np.ones(len(y)), np.random.RandomState(0))
    agreement = np.mean((start[:, 0] > 0.5) == regime)
    assert max(agreement, 1 - agreement) > 0.8
    np.testing.assert_allclose(start.sum(axis=1), 1.0)


@pytest.mark.parametrize("kind", ["oblique", "disc"])
def test_additive_stage_of_the_spline_start(kind, monkeypatch):
    """The additive experts move the gate to where the experts' functions
    change: a fifth of the errors of the constant experts' gate alone, or
    fewer (0.35% of the rows against 3.2% on the disc)."""
    X, y, regime = _regimes(n_samples=2000, kind=kind)
    moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0)

    def errors():
        start = spline_mixture_start(moe, X, y, np.ones(len(y)), RandomState(0))
        agreement = np.mean((start[:, 0] > 0.5) == regime)
        return min(agreement, 1 - agreement)

    staged = errors()
    monkeypatch.setattr(_init, "SPLINE_ADDITIVE_MAX_SHARE", 0.0)
    constant = errors()
    assert staged < 0.01
    assert staged < 0.2 * constant


def test_spline_start_in_chunks_of_rows(monkeypatch):
    """The start's probabilities are made a chunk of rows at a time: the
    same as all at once."""
    X, y, _ = _regimes(n_samples=600, kind="disc")
    moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0)
    whole = spline_mixture_start(moe, X, y, np.ones(len(y)), RandomState(0))
    monkeypatch.setattr(_init, "SPLINE_CHUNK_ROWS", 7)
    chunked = spline_mixture_start(moe, X, y, np.ones(len(y)), RandomState(0))
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-15)


def test_spline_start_skips_the_additive_stage_on_few_rows(monkeypatch):
    """More splines than SPLINE_ADDITIVE_MAX_SHARE of the rows: the gate of
    the constant experts is the start."""
    X, y, _ = _regimes(n_samples=300, kind="disc")
    moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0)
    start = spline_mixture_start(moe, X, y, np.ones(len(y)), RandomState(0))
    monkeypatch.setattr(_init, "SPLINE_ADDITIVE_MAX_SHARE", 0.0)
    constant = spline_mixture_start(moe, X, y, np.ones(len(y)), RandomState(0))
    np.testing.assert_array_equal(start, constant)
    monkeypatch.setattr(_init, "SPLINE_ADDITIVE_MAX_SHARE", 1.0)
    additive = spline_mixture_start(moe, X, y, np.ones(len(y)), RandomState(0))
    assert not np.allclose(additive, constant)


def test_spline_start_in_the_estimators():
    X, y, regime = _regimes(kind="oblique")
    expert = HistGradientBoostingRegressor(max_iter=20, random_state=0)
    moe = MixtureOfExpertsRegressor(expert, 2, init="spline", random_state=0)
    labels = moe.fit(X, y).apply(X)
    agreement = np.mean((labels == 0) == regime)
    assert max(agreement, 1 - agreement) > 0.9
    # Sparse input: the tree starts instead.
    X_sparse = sparse.csr_matrix(X)
    linear = MixtureOfExpertsRegressor(n_experts=2, init="spline", random_state=0)
    assert linear.fit(X_sparse, y).n_experts_ == 2


def test_bad_init_string_is_a_clear_error():
    X, y, _ = _regimes(n_samples=100)
    with pytest.raises(ValueError, match="spline"):
        MixtureOfExpertsRegressor(init="splines").fit(X, y)


def test_boosting_experts_report_sparse_input_in_their_own_words():
    """Binning is skipped for sparse input: the expert's own error says what
    is wrong (and, as for any expert that cannot fit, a constant replaces
    it with a warning)."""
    X, y, _ = _regimes(n_samples=200)
    expert = HistGradientBoostingRegressor(max_iter=5)
    moe = MixtureOfExpertsRegressor(expert, 2, max_iter=2, random_state=0)
    with (
        warnings.catch_warnings(),
        pytest.warns(ExpertFitWarning, match="dense data is required"),
    ):
        warnings.simplefilter("ignore", ConvergenceWarning)
        moe.fit(sparse.csr_matrix(X), y)


def test_user_estimator_is_never_changed():
    X, y, _ = _regimes(n_samples=400)
    expert = MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    before = clone(expert).get_params()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MixtureOfExpertsRegressor(expert, 2, max_iter=3, random_state=0).fit(X, y)
    assert expert.get_params() == before
    assert not hasattr(expert, "coefs_")


class _ScriptedEngine:
    """An engine whose log-likelihood after each step is given (fit_em's view)."""

    def __init__(self, name, log_likelihoods):
        self.name = name
        self.log_likelihoods = list(log_likelihoods)
        self.steps = 0
        self.totals = np.array([1.0, 1.0])
        self.total_weight = 2.0

    def set_responsibilities(self, responsibilities):
        pass

    def resume(self):
        return self.log_likelihoods[self.steps - 1]

    def step(self):
        self.steps += 1
        return self.log_likelihoods[self.steps - 1]

    def remove_experts(self, keep):
        raise AssertionError("no expert dies here")

    def parameters(self):
        return self.name


def _scripted_fit(screen_iter, max_iter=6):
    # Run 1 leads after its first iteration, run 2 would end best.
    scripts = [
        np.arange(10.0),
        np.arange(10.0) + 1.5,
        np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9.0]) * 1.4,
    ]
    engines = [_ScriptedEngine(f"run {i}", s) for i, s in enumerate(scripts)]
    run, parameters = fit_em(
        lambda run: (engines[run], np.ones((2, 2)) / 2),
        3,
        max_iter=max_iter,
        tol=0.0,
        min_expert_weight=0.0,
        verbose=0,
        screen_iter=screen_iter,
    )
    return run, parameters, [engine.steps for engine in engines]


def test_screened_restarts_continue_only_the_best():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        full, full_parameters, full_steps = _scripted_fit(None)
        screened, screened_parameters, screened_steps = _scripted_fit(1)
    # Without screening every run goes to max_iter; the best at the end wins.
    assert full_steps == [7, 7, 7]
    assert full_parameters == "run 2"
    # Screened: first M-step and one iteration each, then run 1 (best by
    # then) goes on alone, for max_iter iterations in all.
    assert screened_steps == [2, 7, 2]
    assert screened_parameters == "run 1"
    assert len(screened.path) == 6
    assert screened.path == list(np.arange(1.0, 7.0) + 1.5)
    assert screened.log_likelihood == 7.5


def test_network_restarts_are_screened(monkeypatch):
    X, y, _ = _regimes(n_samples=600)
    labels = y > np.median(y)
    fits = []
    original = MLPClassifier.fit

    def counted_fit(self, *args, **kwargs):
        fits.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MLPClassifier, "fit", counted_fit)
    counts = {}
    for n_init in (1, 3):
        fits.clear()
        model = MixtureOfExpertsClassifier(
            MLPClassifier((4,), max_iter=40, random_state=0),
            n_experts=2,
            init="spline",
            n_init=n_init,
            max_iter=30,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, labels)
        counts[n_init] = len(fits)
    # Each losing restart adds its first M-step and one iteration (2 fits
    # of each of the 2 networks), where full runs would triple the count.
    assert counts[1] > 8
    assert counts[3] <= counts[1] + 2 * 4 + 4


@pytest.mark.parametrize(
    "expert, screen",
    [
        (MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, random_state=0), 1),
        (HistGradientBoostingRegressor(max_iter=10), 0),
        (LinearRegression(), None),
    ],
)
def test_restarts_are_screened_where_the_first_m_steps_cost_most(expert, screen):
    # Networks are compared after one iteration, boosting after its first
    # M-step (a fifth of its trees; the next grows the rest), other experts
    # run to the end.
    from unittest import mock

    from skmoe import _base

    X, y = make_moe_regression(n_samples=300, n_experts=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with mock.patch.object(_base, "fit_em", wraps=_base.fit_em) as driver:
            MixtureOfExpertsRegressor(
                expert, n_experts=2, n_init=2, max_iter=5, random_state=0
            ).fit(X, y)
    assert driver.call_args.kwargs["screen_iter"] == screen
