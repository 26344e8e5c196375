import numpy as np
import pytest

from skmoe import (
    MixtureOfExpertsClassifier,
    MixtureOfExpertsRegressor,
    select_n_experts,
)
from skmoe.datasets import make_moe_classification


def test_bic_finds_the_two_regimes_of_npreg(npreg):
    X, y = npreg
    best, results = select_n_experts(
        MixtureOfExpertsRegressor(n_init=5, random_state=0), X, y, [3, 1, 2]
    )
    assert list(results.index) == [1, 2, 3]
    assert best.n_experts == 2 == results["bic"].idxmin()
    assert best.log_likelihood_ == results.loc[2, "log_likelihood"]
    # More experts never fit worse here, and the criteria differ by the penalty.
    assert results["log_likelihood"].is_monotonic_increasing
    np.testing.assert_allclose(
        results["bic"] - results["aic"],
        results["n_parameters"] * (np.log(len(y)) - 2),
    )


def test_aic_and_the_classifier():
    X, y = make_moe_classification(n_samples=600, random_state=0)
    best, results = select_n_experts(
        MixtureOfExpertsClassifier(n_init=3, random_state=0),
        X,
        y,
        range(1, 4),
        criterion="aic",
    )
    assert best.n_experts == results["aic"].idxmin() > 1
    assert best.score(X, y) > 0.85


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"criterion": "loglik"}, "criterion"),
        ({"n_experts": []}, "n_experts"),
        ({"n_experts": [0, 2]}, "n_experts"),
        ({"n_experts": [1.5]}, "n_experts"),
    ],
)
def test_bad_arguments_are_refused(npreg, kwargs, match):
    X, y = npreg
    with pytest.raises(ValueError, match=match):
        select_n_experts(MixtureOfExpertsRegressor(), X, y, **kwargs)
