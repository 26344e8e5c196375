import os

# scikit-learn's array-API dispatch (tests/test_array_api.py and the array-API
# estimator checks) needs scipy's array-API mode, set before scipy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from skmoe.datasets import load_mcycle, load_npreg, load_tone  # noqa: E402


@pytest.fixture(scope="session")
def mcycle():
    return load_mcycle(return_X_y=True)


@pytest.fixture(scope="session")
def tone():
    return load_tone(return_X_y=True)


@pytest.fixture(scope="session")
def npreg():
    X, y = load_npreg(return_X_y=True)
    return np.hstack([X, X**2]), y
