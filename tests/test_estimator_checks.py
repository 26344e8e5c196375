"""scikit-learn's estimator check suite on both estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor


# No expected failures. The model tree of the default initialisation sums
# weighted statistics, so zero weights and removed samples, integer weights
# and repeated samples give it the same partition, and both estimators pass
# the sample-weight equivalence checks (with init="kmeans" the classifier's
# logistic experts can land on different local optima in those checks).
@parametrize_with_checks(
    [
        MixtureOfExpertsRegressor(n_experts=2, random_state=0),
        MixtureOfExpertsClassifier(n_experts=2, random_state=0),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
