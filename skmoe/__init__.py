"""skmoe: mixtures of experts for scikit-learn, trained by EM."""

from ._classifier import MixtureOfExpertsClassifier
from ._regressor import MixtureOfExpertsRegressor

__version__ = "0.1.0"

__all__ = ["MixtureOfExpertsClassifier", "MixtureOfExpertsRegressor", "__version__"]
