"""The engines the EM driver runs: arrays in, arrays out.

- :class:`GeneralEngine`: any experts, any gate. An iteration fits the
  experts on the (routed) responsibilities, the family's own parameters
  from the experts' predictions, then the gate, and makes an E-step.
- ``_fused.FusedEngine``: linear Gaussian, Poisson and Gamma experts and
  the built-in softmax gate: one pass over the data per iteration.

Engines hold the data and the parameters of one run; they read only the
public protocol of the gates and experts they are given (see ``_gate`` and
``_experts``), and everything else comes as explicit arguments.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import sparse

from ._array_utils import device, is_numpy, namespace, to_host
from ._flexible import continuation
from ._responsibilities import keep_columns, route


class Parameters(NamedTuple):
    """The fitted parameters of one run: experts, gate, family parameters."""

    experts: list
    gate: object
    dispersion: object


@dataclass
class TrainingData:
    """Arrays of one fit: raw features, standardised design with a ones column.

    All on the device of the fit. ``X`` and ``design`` are the experts'
    features, ``gate_X`` and ``gate_design`` the gate's (the same arrays
    unless ``gate_features`` and ``expert_features`` differ); ``host_X`` are
    the experts' features as experts that only take numpy see them (copied
    from the device once, when first needed).
    """

    X: object
    design: object
    y: object
    sample_weight: object
    _host_X: object = None
    gate_X: object = None
    gate_design: object = None

    def __post_init__(self):
        if self.gate_X is None:
            self.gate_X, self.gate_design = self.X, self.design

    @property
    def host_X(self):
        if self._host_X is None:
            self._host_X = to_host(self.X)
        return self._host_X


def weighted_scaling(X, sample_weight):
    """Weighted mean and standard deviation of each feature (1 where constant).

    Weighted, so that integer weights and repeated rows agree.
    """
    if sparse.issparse(X):
        X = X.toarray()  # the design is dense anyway; centring must come first
    xp = namespace(X)
    total = xp.sum(sample_weight)
    mean = sample_weight @ X / total
    variance = sample_weight @ (X - mean) ** 2 / total
    scale = xp.sqrt(variance)
    constant = scale <= 1e-12 * xp.clip(xp.abs(mean), min=1e-300)
    return mean, xp.where(constant, xp.ones_like(scale), scale)


def standardised_design(X, feature_mean, feature_scale):
    """``[(X - mean) / scale, 1]``: the standardised features and a ones column."""
    if not is_numpy(X):
        xp = namespace(X)
        ones = xp.ones((X.shape[0], 1), dtype=xp.float64, device=device(X))
        return xp.concat([(X - feature_mean) / feature_scale, ones], axis=1)
    design = np.empty((X.shape[0], X.shape[1] + 1))
    dense = X.toarray() if sparse.issparse(X) else X
    np.subtract(dense, feature_mean, out=design[:, :-1])
    design[:, :-1] /= feature_scale
    design[:, -1] = 1.0
    return design


def make_training_data(
    X, y, sample_weight, feature_mean, feature_scale, host_X=None, gate=None
):
    """The arrays one EM run reads: raw and standardised features, targets.

    ``gate``: ``(gate_X, gate_mean, gate_scale)`` when the gate sees other
    columns than the experts; None when it sees theirs.
    """
    design = standardised_design(X, feature_mean, feature_scale)
    if gate is None:
        return TrainingData(X, design, y, sample_weight, host_X)
    gate_X, gate_mean, gate_scale = gate
    gate_design = standardised_design(gate_X, gate_mean, gate_scale)
    return TrainingData(X, design, y, sample_weight, host_X, gate_X, gate_design)


class GeneralEngine:
    """EM for any experts and any gate: separate M- and E-steps.

    Parameters
    ----------
    data : TrainingData
    experts : list of K estimators
    gate : gate
        Fitted in place by its ``m_step``.
    expert_model : RegressionExperts or ClassificationExperts
        How the experts are fitted and what they predict for the family.
    family : family
    kernels : module
    routing : {"soft", "hard"} or int, default="soft"
    dispersion : array of shape (K,), default=None
        The family's parameters, when continuing from a fit.
    """

    def __init__(
        self,
        data,
        experts,
        gate,
        expert_model,
        family,
        *,
        kernels,
        routing="soft",
        dispersion=None,
    ):
        self.data = data
        self.experts = experts
        self.gate = gate
        self.expert_model = expert_model
        # Boosting experts keep every tree they grow: the first M-step of a
        # run fits the gate to convergence on the start, so that the trees of
        # their next slice grow on sharp responsibilities (one Newton step
        # from zero weights blurs them). Networks, which unlearn, gain nothing.
        self.full_first_gate_step = any(
            getattr(continuation(expert), "cumulative", False) for expert in experts
        )
        self.first_m_step = False
        self.family = family
        self.kernels = kernels
        self.routing = routing
        self.dispersion = dispersion
        self.responsibilities = None
        self.total_weight = float(namespace(data.sample_weight).sum(data.sample_weight))

    @property
    def gate_input(self):
        return self.data.gate_design if self.gate.uses_design else self.data.gate_X

    @property
    def totals(self):
        return to_host(self.data.sample_weight @ self.responsibilities)

    def set_responsibilities(self, responsibilities):
        self.responsibilities = responsibilities
        self.first_m_step = True

    def remove_experts(self, keep):
        self.experts = [expert for expert, kept in zip(self.experts, keep) if kept]
        self.gate.keep_experts(keep)
        self.responsibilities = keep_columns(self.responsibilities, keep)

    def log_expert(self):
        """``log p_k(y_i | x_i)`` at the current parameters, (n, K)."""
        predictions = self.expert_model.predictions(self.experts, self.data)
        return self.family.log_density(self.data.y, predictions, self.dispersion)

    def _expert_responsibilities(self, responsibilities):
        """The responsibilities the experts are fitted on: times the family's
        latent weights at the current parameters, for families that have
        them (Student-t's precisions); the responsibilities otherwise."""
        latent = getattr(self.family, "expert_weights", None)
        if latent is None or self.dispersion is None:
            return responsibilities
        predictions = self.expert_model.predictions(self.experts, self.data)
        weights = latent(self.data.y, predictions, self.dispersion)
        return responsibilities if weights is None else responsibilities * weights

    def m_step(self, responsibilities):
        """Fit experts, family parameters and gate; return ``log p_k(y_i)``."""
        data = self.data
        self.experts = self.expert_model.fit(
            self.experts,
            data,
            self._expert_responsibilities(responsibilities),
            self.kernels,
        )
        predictions = self.expert_model.predictions(self.experts, data)
        self.dispersion = self.family.fit_dispersion(
            data.y, predictions, responsibilities * data.sample_weight[:, None]
        )
        log_expert = self.family.log_density(data.y, predictions, self.dispersion)
        # ``full`` only when asked for: gates of the older protocol take four
        # arguments.
        full = {"full": True} if self.first_m_step and self.full_first_gate_step else {}
        self.gate.m_step(
            self.gate_input, responsibilities, data.sample_weight, self.kernels, **full
        )
        self.first_m_step = False
        return log_expert

    def e_step(self, log_expert=None):
        """Responsibilities at the current parameters; the log-likelihood.

        The responsibilities are written over the gate's log-probabilities,
        a fresh array, so that an E-step holds two (n, K) arrays, not three.
        """
        if log_expert is None:
            log_expert = self.log_expert()
        log_gate = self.gate.log_proba(self.gate_input, self.kernels)
        self.responsibilities, _, log_likelihood = self.kernels.e_step(
            log_gate, log_expert, self.data.sample_weight
        )
        return log_likelihood

    def resume(self):
        return self.e_step()

    def step(self):
        routed = route(self.responsibilities, self.routing)
        self.responsibilities = None  # freed before the E-step makes new ones
        return self.e_step(self.m_step(routed))

    def parameters(self):
        return Parameters(self.experts, self.gate, self.dispersion)
