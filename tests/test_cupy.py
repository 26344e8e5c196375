"""The GPU backend on real CuPy; skipped on machines without a GPU.

tests/test_array_api.py runs the same code paths on the CPU through
array-api-strict on every machine.
"""

import numpy as np
import pytest
import sklearn

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_classification, make_moe_regression


def _cupy_with_a_gpu():
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy
    except Exception:  # no CuPy, no driver, no device
        pass
    return None


cupy = _cupy_with_a_gpu()
pytestmark = pytest.mark.skipif(cupy is None, reason="CuPy with a GPU is not available")


def test_cupy_backend_on_numpy_input_matches_numpy():
    X, y = make_moe_regression(n_samples=5000, random_state=0)
    estimator = MixtureOfExpertsRegressor(n_experts=3, random_state=0)
    reference = sklearn.clone(estimator).set_params(backend="numpy").fit(X, y)
    fitted = sklearn.clone(estimator).set_params(backend="cupy").fit(X, y)
    assert fitted.log_likelihood_ == pytest.approx(reference.log_likelihood_, rel=1e-6)
    prediction = fitted.predict(X)
    assert isinstance(prediction, np.ndarray)
    np.testing.assert_allclose(prediction, reference.predict(X), atol=1e-6)


def test_cupy_input_stays_on_the_gpu():
    X, y = make_moe_classification(n_samples=2000, n_classes=3, random_state=0)
    estimator = MixtureOfExpertsClassifier(n_experts=2, random_state=0)
    reference = sklearn.clone(estimator).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        fitted = sklearn.clone(estimator).fit(cupy.asarray(X), cupy.asarray(y))
        proba = fitted.predict_proba(cupy.asarray(X))
    assert isinstance(proba, cupy.ndarray)
    np.testing.assert_allclose(proba.get(), reference.predict_proba(X), atol=1e-6)
