"""Batched GLM experts: IRLS from the weighted normal equations."""

from unittest import mock

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import GammaRegressor, PoissonRegressor, TweedieRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe._engines import make_training_data, weighted_scaling
from skmoe._experts import batched_kind, make_experts
from skmoe._glm import GLMExperts, glm_objective
from skmoe._kernels import _numba, _xp
from skmoe._linear import linear_expert_weights


def _problem(seed=0, n_samples=400, n_experts=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3)) * [1.0, 5.0, 0.1] + [0.0, 3.0, 1.0]
    log_mean = 0.3 * X[:, 0] + 0.05 * X[:, 1] - 2.0 * X[:, 2]
    responsibilities = rng.dirichlet(np.ones(n_experts), size=n_samples)
    sample_weight = rng.uniform(0.5, 2.0, size=n_samples)
    return X, log_mean, responsibilities, sample_weight, rng


@pytest.mark.parametrize("kernels", [_xp, _numba])
@pytest.mark.parametrize(
    "estimator",
    [
        PoissonRegressor(alpha=0.0),
        PoissonRegressor(alpha=0.3),
        GammaRegressor(alpha=0.01),
        TweedieRegressor(power=1.5, link="log", alpha=0.05),
    ],
)
def test_batched_glm_equals_the_class_own_weighted_fit(estimator, kernels):
    X, log_mean, responsibilities, sample_weight, rng = _problem()
    if isinstance(estimator, GammaRegressor):
        y = rng.gamma(2.0, np.exp(log_mean) / 2.0)
    else:
        y = rng.poisson(np.exp(log_mean)).astype(float)
    assert batched_kind(estimator) == "glm"
    mean, scale = weighted_scaling(X, sample_weight)
    data = make_training_data(X, y, sample_weight, mean, scale)
    experts = make_experts(estimator, 3, np.random.RandomState(0))
    model = GLMExperts("glm", mean, scale)
    experts = model.fit(experts, data, responsibilities, kernels)
    for k, expert in enumerate(experts):
        assert type(expert) is type(estimator)
        own = clone(estimator).set_params(solver="newton-cholesky", tol=1e-12,
                                          max_iter=1000)  # fmt: skip
        own.fit(X, y, sample_weight=responsibilities[:, k] * sample_weight)
        np.testing.assert_allclose(expert.coef_, own.coef_, rtol=0, atol=1e-6)
        assert expert.intercept_ == pytest.approx(own.intercept_, abs=1e-6)
        # A genuine fitted estimator: its own predict and score work.
        np.testing.assert_allclose(expert.predict(X), own.predict(X), rtol=1e-6)
    np.testing.assert_allclose(
        model.predict(experts, X),
        np.column_stack([expert.predict(X) for expert in experts]),
        rtol=1e-12,
    )


def test_glm_experts_continue_from_their_fit():
    X, log_mean, responsibilities, sample_weight, rng = _problem(1)
    y = rng.poisson(np.exp(log_mean)).astype(float)
    mean, scale = weighted_scaling(X, sample_weight)
    data = make_training_data(X, y, sample_weight, mean, scale)
    model = GLMExperts("glm", mean, scale)
    experts = make_experts(PoissonRegressor(), 3, np.random.RandomState(0))
    experts = model.fit(experts, data, responsibilities, _xp)
    assert experts[0].n_iter_ > 1  # a cold start converges
    coef = [expert.coef_.copy() for expert in experts]
    # Within EM, experts continue from their fit with one IRLS step (a
    # generalised M-step): at the optimum it moves nothing...
    experts = model.fit(experts, data, responsibilities, _xp)
    assert experts[0].n_iter_ == 1
    for expert, previous in zip(experts, coef):
        np.testing.assert_allclose(expert.coef_, previous, atol=1e-9)
    # ...and elsewhere it lowers every expert's objective.
    other = np.roll(responsibilities, 1, axis=1)
    weights = other * sample_weight[:, None]
    before = glm_objective(y, data.design @ linear_expert_weights(experts, mean, scale),
                           weights, 1.0)  # fmt: skip
    experts = model.fit(experts, data, other, _xp)
    after = glm_objective(y, data.design @ linear_expert_weights(experts, mean, scale),
                          weights, 1.0)  # fmt: skip
    assert np.all(after < before)


def test_tweedie_identity_link_is_not_batched():
    assert batched_kind(TweedieRegressor(power=0)) is None
    assert batched_kind(TweedieRegressor(power=1.5, link="identity")) is None
    assert batched_kind(PoissonRegressor(fit_intercept=False)) is None


def test_mixture_of_glm_experts_matches_generic_fits():
    # The batched path and sklearn's own fits (through a pipeline, which is
    # fitted one by one) find the same mixture.
    from sklearn.pipeline import make_pipeline

    X, log_mean, _, _, rng = _problem(2, n_samples=300)
    y = rng.poisson(np.exp(np.where(X[:, 0] > 0, 1.0, log_mean))).astype(float)
    params = dict(n_experts=2, random_state=0, tol=1e-10, max_iter=300)
    batched = MixtureOfExpertsRegressor(PoissonRegressor(alpha=1e-3), **params)
    generic = MixtureOfExpertsRegressor(
        make_pipeline(
            PoissonRegressor(alpha=1e-3, solver="newton-cholesky", tol=1e-12)
        ),
        **params,
    )
    batched.fit(X, y)
    generic.fit(X, y)
    assert generic.likelihood_ == batched.likelihood_ == "poisson"
    # (Generic fits leave out samples of responsibility below 1e-8.)
    assert batched.log_likelihood_ == pytest.approx(generic.log_likelihood_, rel=1e-5)


@pytest.mark.parametrize(
    "expert, likelihood, fused",
    [
        (PoissonRegressor(), "auto", True),
        (TweedieRegressor(power=1, link="log"), "auto", True),
        (GammaRegressor(), "auto", True),
        (TweedieRegressor(power=2), "auto", True),
        (PoissonRegressor(), "gaussian", False),
        (GammaRegressor(), "poisson", False),
        (TweedieRegressor(power=1.5), "auto", False),
    ],
)
def test_log_link_experts_take_the_fused_engine_under_their_own_likelihood(
    expert, likelihood, fused
):
    # The fused pass fits Poisson and Gamma GLMs under their own likelihood;
    # any other pairing takes the general engine.
    from skmoe._fused import FusedEngine

    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (300, 2))
    y = rng.gamma(2.0, np.exp(X[:, 0]) / 2.0) + 0.1
    model = MixtureOfExpertsRegressor(
        expert, n_experts=2, likelihood=likelihood, max_iter=3, random_state=0
    )
    with mock.patch("skmoe._base.FusedEngine", wraps=FusedEngine) as engine:
        model.fit(X, y)
    assert engine.called is fused
