"""Data sets for mixtures of experts: real data with regimes, and generators."""

from ._base import load_mcycle, load_nodata, load_npreg, load_patent, load_tone
from ._samples_generator import make_moe_classification, make_moe_regression

__all__ = [
    "load_mcycle",
    "load_nodata",
    "load_npreg",
    "load_patent",
    "load_tone",
    "make_moe_classification",
    "make_moe_regression",
]
