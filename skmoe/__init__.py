"""skmoe: mixtures of experts for scikit-learn, trained by EM."""

from ._classifier import MixtureOfExpertsClassifier
from ._mlp_gate import MLPGate
from ._regressor import MixtureOfExpertsRegressor
from ._spline_gate import SplineGate
from .model_selection import select_n_experts

__version__ = "0.1.0"

__all__ = [
    "MLPGate",
    "MixtureOfExpertsClassifier",
    "MixtureOfExpertsRegressor",
    "SplineGate",
    "select_n_experts",
    "__version__",
]
