"""scikit-learn's estimator check suite on both estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor

# Zero sample weights vs. removed samples, and integer weights vs. repeated
# samples: the k-means initialisation sees different data in each pair, so EM
# can start (and end) at different local optima. The regressor passes these
# checks; the classifier's logistic experts land on different optima. The EM
# updates themselves are exact under weights (tests/test_base.py checks it
# with a fixed init).
_SAMPLE_WEIGHT_REASON = (
    "EM starts from a k-means partition of the data, which differs between "
    "weighted and repeated/removed samples, so the local optimum can differ."
)


def _expected_failed_checks(estimator):
    if isinstance(estimator, MixtureOfExpertsRegressor):
        return {}
    return {
        "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_REASON,
        "check_sample_weight_equivalence_on_sparse_data": _SAMPLE_WEIGHT_REASON,
    }


@parametrize_with_checks(
    [
        MixtureOfExpertsRegressor(n_experts=2, random_state=0),
        MixtureOfExpertsClassifier(n_experts=2, random_state=0),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
