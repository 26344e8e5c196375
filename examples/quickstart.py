"""
Quick start: mixtures of experts beside plain linear models
===========================================================

Fits MixtureOfExpertsRegressor on the motorcycle crash data and
MixtureOfExpertsClassifier on data with gated regimes, each beside the plain
linear model it generalises, and prints what each reached.
"""

from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, cross_val_score, train_test_split

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import load_mcycle, make_moe_classification

# Regression: head acceleration after a motorcycle crash, against time.
X, y = load_mcycle(return_X_y=True)
moe = MixtureOfExpertsRegressor(n_experts=4, n_init=5, max_iter=300, random_state=0)
cv = KFold(5, shuffle=True, random_state=0)
print("Motorcycle data (133 samples), 5-fold cross-validated R^2:")
for name, model in [
    ("linear regression", LinearRegression()),
    ("mixture of 4 linear experts", moe),
]:
    scores = cross_val_score(model, X, y, cv=cv)
    print(f"  {name:30s} {scores.mean():6.3f}")
moe.fit(X, y)
print(
    f"  mixture log-likelihood {moe.log_likelihood_:.2f}",
    f"after {moe.n_iter_} EM iterations",
)
print("  noise standard deviation per expert:", (moe.noise_variance_**0.5).round(1))

# Classification: labels from three logistic regimes chosen by a gate.
X, y = make_moe_classification(n_samples=3000, n_experts=3, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
print("\nGated classification regimes (3000 samples), test accuracy:")
for name, model in [
    ("logistic regression", LogisticRegression()),
    (
        "mixture of 3 logistic experts",
        MixtureOfExpertsClassifier(n_experts=3, random_state=0),
    ),
]:
    model.fit(X_train, y_train)
    print(f"  {name:30s} {model.score(X_test, y_test):6.3f}")
