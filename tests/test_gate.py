import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from skmoe._gate import ClassifierGate, SoftmaxGate, fit_multinomial, make_gate
from skmoe._kernels import _xp


def _design(X):
    mean, scale = X.mean(axis=0), X.std(axis=0)
    return np.column_stack([(X - mean) / scale, np.ones(len(X))]), mean, scale


def _ascend(design, targets, penalty, n_steps):
    row_weight = targets.sum(axis=1)
    args = (targets / row_weight[:, None], row_weight, penalty)
    coef = np.zeros((design.shape[1], targets.shape[1]))
    values = [_xp.multinomial_objective(design, coef, *args)]
    for _ in range(n_steps):
        coef, _ = fit_multinomial(_xp, design, coef, *args, max_iter=1, tol=1e-16)
        values.append(_xp.multinomial_objective(design, coef, *args))
    return coef, np.array(values)


def test_fit_multinomial_never_decreases_and_converges(monkeypatch):
    rng = np.random.RandomState(0)
    X = rng.randn(300, 3)
    targets = rng.dirichlet(np.ones(4), size=300) * rng.uniform(0.5, 2, (300, 1))
    design, _, _ = _design(X)
    penalty = np.array([0.1, 0.1, 0.1, 0.0])
    # Full Hessian: quadratic convergence to a vanishing gradient.
    monkeypatch.setattr("skmoe._gate.FULL_NEWTON_BUDGET", np.inf)
    coef, values = _ascend(design, targets, penalty, 20)
    assert np.all(np.diff(values) >= -1e-9)
    proba = np.exp(_xp.log_softmax(design @ coef))
    gradient = design.T @ (targets - targets.sum(1, keepdims=True) * proba)
    gradient -= penalty[:, None] * coef
    assert np.abs(gradient).max() < 1e-6
    # Block-diagonal Hessians: monotone, and linear convergence to the same value.
    monkeypatch.setattr("skmoe._gate.FULL_NEWTON_BUDGET", 0)
    _, block_values = _ascend(design, targets, penalty, 400)
    assert np.all(np.diff(block_values) >= -1e-9)
    assert block_values[-1] == pytest.approx(values[-1], rel=1e-8)


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
    gate._fit(design, np.eye(n_classes)[y], weights)
    np.testing.assert_allclose(
        gate.predict_proba(X), reference.predict_proba(X), atol=1e-6
    )


def test_make_gate_options():
    mean, scale = np.zeros(2), np.ones(2)
    assert isinstance(make_gate(None, 3, mean, scale), SoftmaxGate)
    unpenalised = make_gate(LogisticRegression(C=np.inf), 3, mean, scale)
    assert unpenalised._penalty.max() == 0 and not unpenalised._free[0]
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
    gate._fit(X, np.column_stack([responsibilities, np.zeros(200)]), np.ones(200))
    proba = gate.predict_proba(X)
    assert proba.shape == (200, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(proba.argmax(axis=1) == responsibilities.argmax(axis=1)) > 0.95
