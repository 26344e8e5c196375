import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import softmax

from skmoe._inference import (
    MixtureParameters,
    bootstrap_table,
    coefficient_table,
    covariance_from_information,
    match_experts,
    mixture_log_likelihood,
    mixture_score,
    observed_information,
    pack_parameters,
    unpack_parameters,
)
from skmoe.datasets import load_mcycle, load_npreg, load_tone

# ---------------------------------------------------------------------------
# Reference values from R's flexmix 2.3 (benchmarks/flexmix_refit.R), e.g. for
# NPreg:
#   m <- flexmix(yn ~ x, data = NPreg, k = 2, model = FLXMRglm(),
#                concomitant = FLXPmultinom(~ x), control = list(minprior = 0,
#                tolerance = 1e-10, iter.max = 5000))   # best of 20 seeds
#   r <- refit(m); print(r@coef, digits = 15); print(sqrt(diag(r@vcov)))
#   print(FLXlogLikfun(m)(r@coef), digits = 15)
# r@coef is refit()'s re-maximised parameter vector (coefficients, log(sigma)
# per component, then the concomitant coefficients of components 2..K): the
# point at which refit() takes optim's numerical Hessian and the estimates
# summary(refit(m)) prints.
# ---------------------------------------------------------------------------
FLEXMIX = {
    "npreg": {
        "theta": [-0.855145263361261, 5.124736188749208, 1.092249820080445,
                  30.376546318528050, 0.561924256669715, 2.069718841807507,
                  -0.381785673755801, 0.194843601635526],
        "std_error": [0.6579646871270993, 0.1717995585184581, 0.1312445285729327,
                      2.0061588562861039, 0.3563111022619526, 0.0705862038620698,
                      0.3470071998702159, 0.0960650658095863],
        "log_likelihood": -701.104041595897,
    },
    "mcycle": {
        "theta": [-0.935666064498325, -0.176610706090875, 0.395085596717770,
                  -100.161780377438291, 2.421778813165742, 3.772086917258480,
                  -62.913742925828707, 4.327609363205630],
        "std_error": [0.7723143745949835, 0.0800490608914089, 0.1535154741254192,
                      11.1256578464939420, 0.3585471373637898, 0.0677227667115938,
                      43.2778479206560007, 2.9548694960836395],
        "log_likelihood": -614.536743321771,
    },
    # concomitant = FLXPmultinom(~ 1): an intercept-only gate.
    "tone": {
        "theta": [-0.0192747372428507, 0.9922955020787093, -2.0186545490296206,
                  1.9163801373890379, 0.0425485137998709, -3.0749471892488258,
                  0.8364653954612379],
        "std_error": [0.1021838652498855, 0.0441079172469749, 0.1182909916890460,
                      0.0226828428592155, 0.0102275534325815, 0.0809326798041298,
                      0.2297114539488696],
        "log_likelihood": 141.198402299684,
    },
}  # fmt: skip
# NPreg, flexmix's own EM estimates (parameters(m), sigma df-corrected) and
# summary(refit(m))'s p-values of the concomitant part.
NPREG_EM = MixtureParameters(
    expert_intercept=np.array([-0.849164206523957, 30.38678438226814]),
    expert_coef=np.array([[5.127015881865269], [0.55831513212823]]),
    noise_variance=np.array([3.013385269310275, 7.96498558558270]) ** 2,
    gate_intercept=np.array([0.0, -0.379651303165757]),
    gate_coef=np.array([[0.0], [0.192984985112046]]),
)
NPREG_GATE_P_VALUES = [0.271235, 0.042535]
# Agreement with flexmix at its refit point: optim's Hessian is a finite
# difference (ndeps = 1e-3) of the analytic gradient, ours is analytic.
FLEXMIX_RTOL = 1e-3


def _flexmix_data(name):
    if name == "npreg":
        X, y = load_npreg(return_X_y=True)
        return X, y, X
    if name == "mcycle":
        X, y = load_mcycle(return_X_y=True)
        return X, y, X
    X, y = load_tone(return_X_y=True)
    return X, y, np.empty((len(y), 0))


def _random_problem(seed=0, n=60, n_experts=3, n_features=2, n_gate_features=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    Z = rng.normal(size=(n, n_gate_features))
    y = rng.normal(size=n) + X[:, 0]
    size = n_experts * (n_features + 2) + (n_experts - 1) * (n_gate_features + 1)
    theta = rng.normal(scale=0.5, size=size)
    weight = rng.uniform(0.2, 2.0, size=n)
    return theta, X, y, Z, n_experts, weight


@pytest.mark.parametrize("name", ["npreg", "mcycle", "tone"])
def test_standard_errors_match_flexmix_refit(name):
    reference = FLEXMIX[name]
    X, y, Z = _flexmix_data(name)
    theta = np.array(reference["theta"])
    log_likelihood = mixture_log_likelihood(theta, X, y, Z, 2)
    np.testing.assert_allclose(log_likelihood, reference["log_likelihood"], rtol=1e-10)
    covariance = covariance_from_information(observed_information(theta, X, y, Z, 2))
    np.testing.assert_allclose(
        np.sqrt(np.diag(covariance)), reference["std_error"], rtol=FLEXMIX_RTOL
    )


def test_npreg_table_matches_flexmix_summary():
    X, y, Z = _flexmix_data("npreg")
    parameters = unpack_parameters(np.array(FLEXMIX["npreg"]["theta"]), 2, 1, 1)
    table = coefficient_table(
        parameters, X, y, Z, feature_names=["x"], gate_feature_names=["x"]
    )
    # flexmix prints coefficients only: no log(sigma) rows.
    expected_index = [
        ("expert 0", "intercept"),
        ("expert 0", "x"),
        ("expert 1", "intercept"),
        ("expert 1", "x"),
        ("gate 1", "intercept"),
        ("gate 1", "x"),
    ]
    assert list(table.index) == expected_index
    assert list(table.columns) == ["estimate", "std_error", "z", "p_value"]
    keep = [0, 1, 3, 4, 6, 7]
    np.testing.assert_allclose(
        table["estimate"], np.array(FLEXMIX["npreg"]["theta"])[keep]
    )
    np.testing.assert_allclose(
        table["std_error"],
        np.array(FLEXMIX["npreg"]["std_error"])[keep],
        rtol=FLEXMIX_RTOL,
    )
    np.testing.assert_allclose(
        table.loc["gate 1", "p_value"], NPREG_GATE_P_VALUES, atol=1e-5
    )


def test_at_flexmix_em_estimates_errors_are_close_but_not_equal():
    # flexmix's EM sigma is df-corrected, so its estimates are not the MLE and
    # refit() re-maximises first; at the EM point the errors move by ~1%.
    X, y, Z = _flexmix_data("npreg")
    table = coefficient_table(NPREG_EM, X, y, Z, include_dispersion=True)
    ratio = table["std_error"].to_numpy() / FLEXMIX["npreg"]["std_error"]
    assert np.all(np.abs(ratio - 1) < 0.02)
    assert np.max(np.abs(ratio - 1)) > FLEXMIX_RTOL


def test_log_likelihood_matches_a_direct_computation():
    theta, X, y, Z, n_experts, weight = _random_problem()
    params = unpack_parameters(theta, n_experts, X.shape[1], Z.shape[1])
    means = params.expert_intercept + X @ params.expert_coef.T
    gate = softmax(params.gate_intercept + Z @ params.gate_coef.T, axis=1)
    density = stats.norm.pdf(y[:, None], means, np.sqrt(params.noise_variance))
    expected = weight @ np.log(np.sum(gate * density, axis=1))
    np.testing.assert_allclose(
        mixture_log_likelihood(theta, X, y, Z, n_experts, weight), expected, rtol=1e-12
    )


@pytest.mark.parametrize("n_gate_features", [0, 1, 3])
def test_score_is_the_gradient_of_the_log_likelihood(n_gate_features):
    theta, X, y, Z, n_experts, weight = _random_problem(n_gate_features=n_gate_features)
    score = mixture_score(theta, X, y, Z, n_experts, weight)
    assert score.shape == (X.shape[0], theta.size)
    step = 1e-6
    numeric = [
        (
            mixture_log_likelihood(theta + step * e, X, y, Z, n_experts, weight)
            - mixture_log_likelihood(theta - step * e, X, y, Z, n_experts, weight)
        )
        / (2 * step)
        for e in np.eye(theta.size)
    ]
    np.testing.assert_allclose(score.sum(axis=0), numeric, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n_experts", [1, 2, 3])
def test_information_is_minus_the_derivative_of_the_score(n_experts):
    theta, X, y, Z, _, weight = _random_problem(seed=n_experts, n_experts=n_experts)
    information = observed_information(theta, X, y, Z, n_experts, weight)
    step = 1e-6
    numeric = np.array(
        [
            (
                mixture_score(theta + step * e, X, y, Z, n_experts, weight).sum(0)
                - mixture_score(theta - step * e, X, y, Z, n_experts, weight).sum(0)
            )
            / (2 * step)
            for e in np.eye(theta.size)
        ]
    )
    np.testing.assert_allclose(information, -numeric, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(information, information.T)


def test_integer_weights_equal_repeated_rows():
    theta, X, y, Z, n_experts, _ = _random_problem(n=20)
    counts = np.arange(20) % 3
    rows = np.repeat(np.arange(20), counts)
    weighted = observed_information(theta, X, y, Z, n_experts, counts.astype(float))
    repeated = observed_information(theta, X[rows], y[rows], Z[rows], n_experts)
    np.testing.assert_allclose(weighted, repeated, rtol=1e-10, atol=1e-10)


def test_single_expert_gives_ordinary_least_squares_errors():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 2))
    y = 1 + X @ [2.0, -1.0] + rng.normal(size=50)
    design = np.column_stack([np.ones(50), X])
    beta = np.linalg.lstsq(design, y, rcond=None)[0]
    variance = np.mean((y - design @ beta) ** 2)  # the MLE
    params = MixtureParameters(
        beta[:1], beta[None, 1:], np.array([variance]), np.zeros(1), np.zeros((1, 0))
    )
    table = coefficient_table(params, X, y, np.empty((50, 0)), include_dispersion=True)
    expected = np.sqrt(np.diag(variance * np.linalg.inv(design.T @ design)))
    np.testing.assert_allclose(table["std_error"].to_numpy()[:3], expected, rtol=1e-10)
    # log(sigma) at the MLE: information 2n, so the error is 1 / sqrt(2n).
    np.testing.assert_allclose(
        table["std_error"].to_numpy()[3], 1 / np.sqrt(100), rtol=1e-10
    )
    assert list(table.index.get_level_values("part").unique()) == ["expert 0"]


def test_gate_normalisation_does_not_matter():
    X, y, Z = _flexmix_data("npreg")
    shifted = NPREG_EM._replace(
        gate_intercept=NPREG_EM.gate_intercept + 3.0, gate_coef=NPREG_EM.gate_coef - 1.5
    )
    pd.testing.assert_frame_equal(
        coefficient_table(NPREG_EM, X, y, Z), coefficient_table(shifted, X, y, Z)
    )


def test_pack_and_unpack_round_trip():
    theta, X, _, Z, n_experts, _ = _random_problem()
    params = unpack_parameters(theta, n_experts, X.shape[1], Z.shape[1])
    np.testing.assert_array_equal(params.gate_intercept[0], 0.0)
    np.testing.assert_allclose(pack_parameters(params), theta)
    np.testing.assert_allclose(pack_parameters(params._asdict()), theta)


def test_singular_information_warns_and_uses_a_pseudo_inverse():
    # Two identical experts: the gate is not identified.
    X, y, Z = _flexmix_data("npreg")
    same = NPREG_EM._replace(
        expert_intercept=np.array([1.0, 1.0]),
        expert_coef=np.array([[2.0], [2.0]]),
        noise_variance=np.array([9.0, 9.0]),
    )
    with pytest.warns(UserWarning, match="singular or not positive definite"):
        table = coefficient_table(same, X, y, Z)
    assert table.shape == (6, 4)
    # A singular (rank one) matrix: the pseudo-inverse, with the warning.
    with pytest.warns(UserWarning, match="pseudo-inverse"):
        covariance = covariance_from_information(np.ones((2, 2)))
    np.testing.assert_allclose(covariance, np.full((2, 2), 0.25))
    # A well-conditioned one: the plain inverse, silently.
    information = np.array([[2.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(
        covariance_from_information(information), np.linalg.inv(information)
    )


def test_inputs_are_not_modified():
    theta, X, y, Z, n_experts, weight = _random_problem()
    copies = [a.copy() for a in (theta, X, y, Z, weight)]
    observed_information(theta, X, y, Z, n_experts, weight)
    for original, copy in zip((theta, X, y, Z, weight), copies):
        np.testing.assert_array_equal(original, copy)


def test_bad_inputs_raise():
    theta, X, y, Z, n_experts, weight = _random_problem()
    with pytest.raises(ValueError, match="theta must have shape"):
        mixture_log_likelihood(theta[:-1], X, y, Z, n_experts)
    with pytest.raises(ValueError, match="Z must be a 2-D array"):
        mixture_score(theta, X, y, Z[:, 0], n_experts)
    with pytest.raises(ValueError, match="y must have shape"):
        observed_information(theta, X, y[:-1], Z, n_experts)
    with pytest.raises(ValueError, match="sample_weight"):
        observed_information(theta, X, y, Z, n_experts, -weight)
    with pytest.raises(ValueError, match="X must be finite"):
        observed_information(theta, np.full_like(X, np.nan), y, Z, n_experts)
    with pytest.raises(TypeError, match="n_experts"):
        mixture_log_likelihood(theta, X, y, Z, 2.0)
    with pytest.raises(ValueError, match="noise_variance must be positive"):
        pack_parameters(NPREG_EM._replace(noise_variance=np.array([1.0, 0.0])))
    with pytest.raises(ValueError, match="missing"):
        pack_parameters({"expert_intercept": np.zeros(2)})
    X_npreg, y_npreg, Z_npreg = _flexmix_data("npreg")
    with pytest.raises(ValueError, match="feature_names must have 1"):
        coefficient_table(NPREG_EM, X_npreg, y_npreg, Z_npreg, feature_names=["a", "b"])
    with pytest.raises(ValueError, match="do not match the data"):
        coefficient_table(NPREG_EM, X_npreg, y_npreg, np.empty((200, 0)))
    with pytest.raises(ValueError, match="square"):
        covariance_from_information(np.ones((2, 3)))


def test_match_experts_undoes_a_permutation():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(5, 3))
    order = rng.permutation(5)
    candidate = reference[order] + rng.normal(scale=0.01, size=(5, 3))
    matched = match_experts(reference, candidate)
    np.testing.assert_array_equal(order[matched], np.arange(5))


def test_bootstrap_matching_undoes_label_switching():
    # The refit returns the true parameters with experts in a random order,
    # plus noise of known size: unmatched, the spread would be ~10.
    truth = NPREG_EM
    rng = np.random.default_rng(1)
    noise = 0.01

    def refit(indices):
        assert indices.shape == (200,) and indices.max() < 200
        order = rng.permutation(2)
        jittered = MixtureParameters(
            *(a + rng.normal(scale=noise, size=a.shape) for a in truth[:2]),
            truth.noise_variance,
            *(a + rng.normal(scale=noise, size=a.shape) for a in truth[3:]),
        )
        return {name: value[order] for name, value in jittered._asdict().items()}

    table, replicates = bootstrap_table(
        refit, truth, 200, n_boot=50, random_state=0, return_replicates=True
    )
    assert replicates.shape == (50, 8)
    assert list(table.index) == list(
        coefficient_table(truth, *_flexmix_data("npreg")).index
    )
    np.testing.assert_allclose(
        table["estimate"], pack_parameters(truth)[[0, 1, 3, 4, 6, 7]]
    )
    expert_errors = table.loc[["expert 0", "expert 1"], "std_error"]
    assert np.all((expert_errors > 0.5 * noise) & (expert_errors < 2 * noise))
    # The gate differs from row 0, which has noise too: sqrt(2) * noise.
    gate_errors = table.loc["gate 1", "std_error"]
    assert np.all((gate_errors > 0.7 * noise) & (gate_errors < 2.8 * noise))


def _em_refit(X, y, start, n_iter=60):
    """A plain EM for two linear experts with a constant gate (test helper)."""

    def refit(indices):
        X_b, y_b = X[indices], y[indices]
        design = np.column_stack([np.ones(len(y_b)), X_b])
        beta = np.column_stack([start.expert_intercept, start.expert_coef])
        variance = start.noise_variance.copy()
        log_prior = start.gate_intercept - np.max(start.gate_intercept)
        prior = np.exp(log_prior) / np.exp(log_prior).sum()
        for _ in range(n_iter):
            density = stats.norm.pdf(y_b[:, None], design @ beta.T, np.sqrt(variance))
            resp = prior * density
            resp /= resp.sum(axis=1, keepdims=True)
            for k in range(2):
                w = resp[:, k]
                gram = design.T @ (w[:, None] * design)
                beta[k] = np.linalg.solve(gram, design.T @ (w * y_b))
                variance[k] = w @ (y_b - design @ beta[k]) ** 2 / w.sum()
            prior = resp.mean(axis=0)
        return MixtureParameters(
            beta[:, 0], beta[:, 1:], variance, np.log(prior), np.zeros((2, 0))
        )

    return refit


def test_bootstrap_errors_agree_with_the_observed_information():
    rng = np.random.default_rng(3)
    n = 400
    X = rng.uniform(0, 10, size=(n, 1))
    regime = rng.random(n) < 0.4
    y = np.where(regime, 1 + 2 * X[:, 0], 20 - X[:, 0]) + rng.normal(scale=1.5, size=n)
    Z = np.empty((n, 0))
    start = MixtureParameters(
        np.array([1.0, 20.0]),
        np.array([[2.0], [-1.0]]),
        np.array([2.25, 2.25]),
        np.log([0.4, 0.6]),
        np.zeros((2, 0)),
    )
    refit = _em_refit(X, y, start, n_iter=200)
    fitted = refit(np.arange(n))
    theta = pack_parameters(fitted)
    assert np.max(np.abs(mixture_score(theta, X, y, Z, 2).sum(0))) < 1e-4  # an MLE
    information_table = coefficient_table(fitted, X, y, Z)
    bootstrap = bootstrap_table(
        _em_refit(X, y, fitted), fitted, n, n_boot=60, random_state=0
    )
    ratio = bootstrap["std_error"] / information_table["std_error"]
    # 60 replicates: the bootstrap error is itself uncertain by ~10%.
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio


def test_bootstrap_bad_arguments_raise():
    with pytest.raises(TypeError, match="refit must be callable"):
        bootstrap_table(None, NPREG_EM, 200)
    with pytest.raises(ValueError, match="n_boot must be at least 2"):
        bootstrap_table(lambda i: NPREG_EM, NPREG_EM, 200, n_boot=1)
    wrong = NPREG_EM._replace(expert_coef=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="another shape"):
        bootstrap_table(lambda i: wrong, NPREG_EM, 200, n_boot=2)
