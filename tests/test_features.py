"""gate_features and expert_features: which columns the gate and experts see."""

import warnings

import numpy as np
import pytest
from sklearn.compose import make_column_selector
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, PoissonRegressor, SGDRegressor
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skmoe import MixtureOfExpertsRegressor, select_n_experts
from skmoe.datasets import load_nodata, load_patent, make_moe_regression

UNPENALISED = LogisticRegression(C=np.inf)

# Maximum-likelihood references (benchmarks/glm_reference.R): flexmix's
# patent model flexmix(Patents ~ lgRD, k = K, model = FLXMRglm(family =
# "poisson"), concomitant = FLXPmultinom(~ RDS)), best of 200 starts, and
# mixtools' regmixEM(y, x, k = 2), best of 30 starts, for the issue's
# regmixEM(NO, Equivalence) and for mixtools' example regmixEM(Equivalence, NO).
PATENT_LOGLIK = {2: -218.4907690115, 3: -197.6750221738}
NODATA_LOGLIK = {"NO": -82.5974723165, "Equivalence": 122.0383557855}


@pytest.mark.parametrize("n_experts", [2, 3])
def test_patent_model_reaches_flexmix(n_experts):
    X, y = load_patent(return_X_y=True, as_frame=True)
    moe = MixtureOfExpertsRegressor(
        PoissonRegressor(alpha=0),
        n_experts=n_experts,
        expert_features=["lgRD"],
        gate_features=["RDS"],
        gate=UNPENALISED,
        n_init=20,
        random_state=0,
    ).fit(X, y)
    assert moe.likelihood_ == "poisson"
    assert moe.log_likelihood_ == pytest.approx(PATENT_LOGLIK[n_experts], abs=0.05)
    assert moe.gate_.coef_.shape == (1, n_experts)
    assert all(expert.n_features_in_ == 1 for expert in moe.experts_)
    # flexmix's df: K - 1 gate columns of 2, K experts of 2.
    assert moe._n_parameters() == 2 * (n_experts - 1) + 2 * n_experts


@pytest.mark.parametrize("target", ["NO", "Equivalence"])
def test_nodata_constant_gate_reaches_regmixem(target):
    X, y = load_nodata(return_X_y=True)
    if target == "Equivalence":
        X, y = y[:, None], X[:, 0]
    moe = MixtureOfExpertsRegressor(
        n_experts=2, gate_features=[], gate=UNPENALISED, n_init=20, random_state=0
    ).fit(X, y)
    assert moe.log_likelihood_ == pytest.approx(NODATA_LOGLIK[target], abs=0.05)
    gate = moe.gate_proba(X)
    np.testing.assert_allclose(gate, np.broadcast_to(gate[0], gate.shape))
    np.testing.assert_allclose(gate[0], moe.expert_weights_, atol=1e-3)
    assert moe._n_parameters() == 1 + 2 * 2 + 2  # mixing weight, lines, sigmas


def _frame():
    pd = pytest.importorskip("pandas")
    X, y = make_moe_regression(n_samples=300, n_features=3, random_state=0)
    return pd.DataFrame(X, columns=["a", "b", "c"]), y


@pytest.mark.parametrize(
    "gate_features",
    [
        [0, 2],
        [-3, -1],
        ["a", "c"],
        np.array([True, False, True]),
        make_column_selector(pattern="a|c"),
    ],
)
def test_every_kind_of_selection_gives_the_same_fit(gate_features):
    X, y = _frame()
    moe = MixtureOfExpertsRegressor(
        n_experts=2, gate_features=gate_features, expert_features=[1], random_state=0
    ).fit(X, y)
    same = MixtureOfExpertsRegressor(
        n_experts=2, gate_features=["a", "c"], expert_features=["b"], random_state=0
    ).fit(X, y)
    assert moe.log_likelihood_ == pytest.approx(same.log_likelihood_, rel=1e-12)
    assert moe.gate_.coef_.shape == (2, 2)
    assert moe.experts_[0].coef_.shape == (1,)
    np.testing.assert_allclose(moe.predict(X), same.predict(X), rtol=1e-12)


def test_experts_and_gate_see_their_columns():
    X, y = _frame()
    moe = MixtureOfExpertsRegressor(
        n_experts=2, gate_features=["a"], expert_features=["b", "c"], random_state=0
    ).fit(X, y)
    values = X.to_numpy()
    gate = moe.gate_proba(X)
    np.testing.assert_allclose(gate, moe.gate_.predict_proba(values[:, [0]]))
    means = np.column_stack([e.predict(values[:, 1:]) for e in moe.experts_])
    np.testing.assert_allclose(moe.predict(X), np.sum(gate * means, axis=1))
    # Changing a column nobody sees changes nothing.
    moe_b = MixtureOfExpertsRegressor(
        n_experts=2, gate_features=["b"], expert_features=["c"], random_state=0
    ).fit(X, y)
    np.testing.assert_allclose(
        moe_b.predict(X.assign(a=0.0)), moe_b.predict(X), rtol=1e-12
    )
    # Inputs are never modified.
    np.testing.assert_array_equal(X.to_numpy(), values)


@pytest.mark.parametrize(
    "params, X_kind, message",
    [
        ({"gate_features": ["z"]}, "frame", "not in X"),
        ({"expert_features": ["a"]}, "array", "no column names"),
        ({"gate_features": [3]}, "array", "out of range"),
        ({"expert_features": [True, False]}, "array", "one entry per feature"),
        ({"gate_features": [[0, 1]]}, "array", "1-D"),
        ({"gate_features": [0.5]}, "array", "column indices"),
    ],
)
def test_bad_selections_are_named(params, X_kind, message):
    X, y = _frame()
    X = X if X_kind == "frame" else X.to_numpy()
    with pytest.raises(ValueError, match=message):
        MixtureOfExpertsRegressor(n_experts=2, **params).fit(X, y)


def test_top_k_warm_start_and_partial_fit():
    X, y = _frame()
    params = dict(n_experts=3, gate_features=["a"], expert_features=["a", "b"])
    moe = MixtureOfExpertsRegressor(top_k=1, random_state=0, **params).fit(X, y)
    assert moe.predict(X).shape == (300,)
    moe.set_params(warm_start=True, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        moe.fit(X, y)
    assert moe.gate_.coef_.shape == (1, moe.n_experts_)
    online = MixtureOfExpertsRegressor(SGDRegressor(random_state=0), **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        online.partial_fit(X[:150], y[:150]).partial_fit(X[150:], y[150:])
    assert online.experts_[0].coef_.shape == (2,)
    assert np.all(np.isfinite(online.predict(X)))


def test_pipeline_grid_search_and_select_n_experts():
    X, y = _frame()
    pipeline = make_pipeline(
        FunctionTransformer(feature_names_out="one-to-one"),
        MixtureOfExpertsRegressor(n_experts=2, random_state=0),
    ).set_output(transform="pandas")
    search = GridSearchCV(
        pipeline,
        {"mixtureofexpertsregressor__gate_features": [None, ["a"], []]},
        cv=2,
    ).fit(X, y)
    assert search.best_params_["mixtureofexpertsregressor__gate_features"] is None
    best, results = select_n_experts(
        MixtureOfExpertsRegressor(gate_features=[], random_state=0),
        X,
        y,
        range(1, 3),
        criterion="icl",
    )
    assert list(results.columns)[:5] == [
        "log_likelihood",
        "n_parameters",
        "bic",
        "aic",
        "icl",
    ]
    assert np.all(results["icl"] >= results["bic"] - 1e-9)
    assert best.n_experts == results["icl"].idxmin()


def test_plots_with_a_constant_gate():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skmoe.plotting import plot_experts, plot_gate

    X, y = load_nodata(return_X_y=True)
    moe = MixtureOfExpertsRegressor(n_experts=2, gate_features=[], random_state=0)
    moe.fit(X, y)
    assert plot_experts(moe, X, y) is not None
    assert plot_gate(moe, X) is not None


def test_classifier_gate_and_expert_features():
    from skmoe import MixtureOfExpertsClassifier
    from skmoe.datasets import make_moe_classification

    X, y = make_moe_classification(n_samples=400, n_features=3, random_state=0)
    clf = MixtureOfExpertsClassifier(
        n_experts=2, gate_features=[0], expert_features=[1, 2], random_state=0
    ).fit(X, y)
    assert clf.gate_.coef_.shape == (1, 2)
    assert clf.experts_[0].coef_.shape[1] == 2
    gate = clf.gate_proba(X)
    proba = sum(
        gate[:, [k]] * expert.predict_proba(X[:, 1:])
        for k, expert in enumerate(clf.experts_)
    )
    np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-10)
    assert clf.log_likelihood(X, y).shape == (400,)


@pytest.mark.parametrize("gate_features", [[], ["a"], ["a", "c"]])
def test_fused_pass_with_its_own_gate_design(gate_features):
    # routing="soft" runs linear experts and the softmax gate in one fused
    # pass per iteration; routing=n_experts keeps every expert, the same EM,
    # in the general engine.
    X, y = _frame()
    params = dict(
        n_experts=2,
        gate_features=gate_features,
        expert_features=["b", "c"],
        gate=UNPENALISED,
        tol=1e-10,
        max_iter=500,
        random_state=0,
    )
    fused = MixtureOfExpertsRegressor(**params).fit(X, y)
    general = MixtureOfExpertsRegressor(routing=2, **params).fit(X, y)
    assert fused.log_likelihood_ == pytest.approx(general.log_likelihood_, rel=1e-8)
    np.testing.assert_allclose(fused.predict(X), general.predict(X), rtol=1e-5)
    path = fused.log_likelihood_path_
    assert np.all(np.diff(path) >= -1e-9 * np.abs(path[1:]))


def test_summary_of_an_intercept_only_gate_and_of_other_families():
    X, y = load_nodata(return_X_y=True)
    moe = MixtureOfExpertsRegressor(n_experts=2, gate_features=[], random_state=0)
    table = moe.fit(X, y).summary(X, y)
    assert table.loc["gate 1"].index.tolist() == ["intercept"]
    assert table.loc["expert 0"].index.tolist() == ["intercept", "x0"]
    assert np.all(np.isfinite(table["std_error"])) and np.all(table["std_error"] > 0)
    student = MixtureOfExpertsRegressor(
        n_experts=2, likelihood="student_t", random_state=0
    ).fit(X, y)
    with pytest.raises(TypeError, match="student_t.*bootstrap"):
        student.summary(X, y)
    boot = student.summary(X, y, method="bootstrap", n_boot=10, random_state=0)
    assert boot.loc["gate 1"].index.tolist() == ["intercept", "x0"]
    assert boot.loc["expert 1"].index.tolist() == ["intercept", "x0"]
    assert np.all(boot["std_error"] > 0)
