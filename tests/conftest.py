import numpy as np
import pytest

from skmoe.datasets import load_mcycle, load_npreg, load_tone


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
