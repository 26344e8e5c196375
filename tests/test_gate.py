import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from skmoe._gate import ClassifierGate, SoftmaxGate, make_gate


def _design(X):
    mean, scale = X.mean(axis=0), X.std(axis=0)
    return np.column_stack([(X - mean) / scale, np.ones(len(X))]), mean, scale


@pytest.mark.parametrize("n_classes", [2, 3])
def test_softmax_gate_matches_logistic_regression_units(n_classes):
    # On hard targets, the built-in gate with LogisticRegression(C) is that
    # LogisticRegression: same penalty, in the units of the raw features.
    rng = np.random.RandomState(1)
    X = rng.randn(400, 2) * [1.0, 10.0] + [0.0, 5.0]
    y = (X[:, 0] + 0.1 * X[:, 1] + rng.randn(400) > 0.5).astype(int)
    if n_classes == 3:
        y[X[:, 0] < -0.5] = 2
    weights = rng.uniform(0.5, 2.0, 400)
    reference = LogisticRegression(C=0.05, tol=1e-10, max_iter=10_000).fit(
        X, y, sample_weight=weights
    )
    design, mean, scale = _design(X)
    gate = make_gate(LogisticRegression(C=0.05), n_classes, mean, scale)
    gate.max_iter = 100
    gate.m_step(design, np.eye(n_classes)[y], weights)
    np.testing.assert_allclose(
        gate.predict_proba(X), reference.predict_proba(X), atol=1e-6
    )


def test_make_gate_options():
    mean, scale = np.zeros(2), np.ones(2)
    assert isinstance(make_gate(None, 3, mean, scale), SoftmaxGate)
    unpenalised = make_gate(LogisticRegression(C=np.inf), 3, mean, scale)
    assert unpenalised.penalty.max() == 0 and not unpenalised.free[0]
    assert isinstance(
        make_gate(DecisionTreeClassifier(), 3, mean, scale), ClassifierGate
    )
    with pytest.raises(ValueError, match="L2"):
        make_gate(LogisticRegression(l1_ratio=1.0), 3, mean, scale)


def test_classifier_gate_soft_targets():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 2)
    responsibilities = np.column_stack([X[:, 0] > 0, X[:, 0] <= 0]).astype(float)
    gate = ClassifierGate(DecisionTreeClassifier(max_depth=2), 3)
    gate.m_step(X, np.column_stack([responsibilities, np.zeros(200)]), np.ones(200))
    proba = gate.predict_proba(X)
    assert proba.shape == (200, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(proba.argmax(axis=1) == responsibilities.argmax(axis=1)) > 0.95
