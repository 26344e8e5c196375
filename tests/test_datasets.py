import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from skmoe.datasets import (
    load_mcycle,
    load_npreg,
    load_tone,
    make_moe_classification,
    make_moe_regression,
)


def test_loaders_shapes_and_frames():
    for loader, n_samples in [(load_mcycle, 133), (load_tone, 150), (load_npreg, 200)]:
        X, y = loader(return_X_y=True)
        assert X.shape == (n_samples, 1) and y.shape == (n_samples,)
        assert np.all(np.isfinite(X)) and np.all(np.isfinite(y))
        bunch = loader(as_frame=True)
        assert isinstance(bunch.data, pd.DataFrame)
        assert list(bunch.data.columns) == bunch.feature_names
        assert bunch.DESCR


def test_npreg_has_two_regimes():
    bunch = load_npreg()
    assert sorted(np.unique(bunch.regime)) == [1, 2]
    assert np.sum(bunch.regime == 1) == 100


def test_make_moe_regression_is_reproducible_and_regimed():
    X, y, regimes = make_moe_regression(
        n_samples=500, n_experts=4, noise=0.1, return_regimes=True, random_state=3
    )
    X2, y2 = make_moe_regression(n_samples=500, n_experts=4, noise=0.1, random_state=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert X.shape == (500, 2) and set(np.unique(regimes)) <= set(range(4))
    # Within one regime the target is linear in X up to the noise.
    rows = regimes == np.bincount(regimes).argmax()
    design = np.column_stack([X[rows], np.ones(rows.sum())])
    residual = y[rows] - design @ np.linalg.lstsq(design, y[rows], rcond=None)[0]
    assert residual.std() < 0.2


def test_make_moe_classification_labels():
    X, y = make_moe_classification(n_samples=300, n_classes=3, random_state=0)
    assert X.shape == (300, 2)
    assert set(np.unique(y)) == {0, 1, 2}


def test_make_moe_classification_expert_degree():
    X, y, regimes = make_moe_classification(
        n_samples=4000, expert_sharpness=20.0, return_regimes=True, random_state=0
    )
    # Degree 1 is the original draw: the same data as before the parameter
    # (labels pinned from the version without it).
    X1, y1 = make_moe_classification(
        n_samples=4000, expert_sharpness=20.0, expert_degree=1, random_state=0
    )
    np.testing.assert_array_equal(y, y1)
    assert y[:20].tolist() == [
        0,
        1,
        1,
        0,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        0,
        0,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
    ]
    assert int(y.sum()) == 3499
    X2, y2, regimes2 = make_moe_classification(
        n_samples=4000,
        expert_sharpness=20.0,
        expert_degree=2,
        return_regimes=True,
        random_state=0,
    )
    np.testing.assert_array_equal(X2, X)  # same features and regimes
    np.testing.assert_array_equal(regimes2, regimes)

    def linear_accuracy(labels, rows):
        model = LogisticRegression(C=1e4).fit(X[rows], labels[rows])
        return model.score(X[rows], labels[rows])

    # Within the largest regime, sharp labels of degree 1 are nearly
    # linearly separable, those of degree 2 are not.
    rows = regimes == np.bincount(regimes).argmax()
    assert linear_accuracy(y, rows) > 0.95
    assert linear_accuracy(y2, rows) < 0.85
    for bad in (0, True, 1.5, "2"):
        with pytest.raises(ValueError, match="expert_degree"):
            make_moe_classification(expert_degree=bad)
