"""skmoe: mixtures of experts for scikit-learn, trained by EM."""

from ._classifier import MixtureOfExpertsClassifier
from ._mlp_gate import MLPGate
from ._regressor import MixtureOfExpertsRegressor
from .model_selection import select_n_experts

__version__ = "0.1.0"

__all__ = [
    "MLPGate",
    "MixtureOfExpertsClassifier",
    "MixtureOfExpertsRegressor",
    "select_n_experts",
    "__version__",
]
