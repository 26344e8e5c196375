"""The engines the EM driver runs: arrays in, arrays out.

- :class:`GeneralEngine`: any experts, any gate. An iteration fits the
  experts on the (routed) responsibilities, the family's own parameters
  from the experts' predictions, then the gate, and makes an E-step.
- :class:`FusedEngine`: linear Gaussian experts and the built-in softmax
  gate, soft routing, on the host. One pass over the data per iteration
  (``em_pass`` of the kernels) computes the E-step at new parameters and,
  in the same loop, everything the next M-step needs: the K weighted normal
  equations of the experts (their noise variances come from the same sums,
  ``sum w R (y - x b)^2 = sum w R y^2 - 2 b'm + b'G b``, with the targets
  centred so that little cancels) and the gate's value, gradient and
  curvature blocks. The gate's step is tested inside the next pass, which
  also measures the gate's objective at the new weights on the
  responsibilities the step was computed from; a step that does not raise
  it enough (Armijo) is halved and the pass repeated.

Engines hold the data and the parameters of one run; they read only the
public protocol of the gates and experts they are given (see ``_gate`` and
``_experts``), and everything else comes as explicit arguments.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import sparse

from ._array_utils import device, is_numpy, namespace, to_host
from ._experts import (
    expert_alphas,
    linear_expert_weights,
    set_linear_experts,
    solve_linear_experts,
)
from ._responsibilities import keep_columns, route
from ._solvers import (
    MAX_HALVINGS,
    armijo_accepts,
    curvature_pairs,
    draw_curvature_sample,
    full_newton,
    newton_direction,
    sample_curvature,
)

# With diagonal-block gate steps the gate's curvature blocks are
# gathered every this many passes and reused in between: they change slowly,
# any positive definite matrix gives an ascent direction, and the step is
# tested all the same; a step that had to be halved gathers them afresh.
# The full Hessian of small data is gathered at every pass: reusing it cost
# 30-50% more iterations to converge.
CURVATURE_REFRESH = 4


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
        self.gate.m_step(
            self.gate_input, responsibilities, data.sample_weight, self.kernels
        )
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


class FusedEngine:
    """EM in one pass over the data per iteration (see the module docstring).

    Parameters
    ----------
    data : TrainingData
        On the host.
    experts : list of K LinearRegression or Ridge
        Fitted (continuing) or not; their ``alpha`` is the ridge penalty.
    gate : SoftmaxGate
        Its ``weights`` start the run; ``penalty`` and ``free`` say how it
        is fitted, ``newton_budget`` when it takes full Newton steps.
    family : GaussianFamily
    feature_mean, feature_scale : ndarray of shape (d,)
    kernels : module
    dispersion : ndarray of shape (K,), default=None
        The noise variances, when continuing from a fit.
    curvature_rows : int, default=None
        Past ``gate.newton_budget`` on all rows, the gate's full Hessian is
        taken on this many rows sampled once (``draw_curvature_sample``)
        before each step, the gradient and line search staying exact (the
        same optimum); 0: diagonal blocks on all rows instead. None: the
        gate's ``curvature_rows``.
    random_state : int, default=0
        Seed of the curvature sample.
    """

    def __init__(
        self,
        data,
        experts,
        gate,
        family,
        feature_mean,
        feature_scale,
        *,
        kernels,
        dispersion=None,
        curvature_rows=None,
        random_state=0,
    ):
        self.data = data
        self.experts = experts
        self.gate = gate
        self.family = family
        self.feature_mean = feature_mean
        self.feature_scale = feature_scale
        self.kernels = kernels
        self.variance = dispersion
        self.gate_coef = gate.weights
        self.total_weight, self.offset = self._prepare_data(data)
        self.threshold = 1e-10 * max(self.total_weight, 1.0)
        self.expert_coef = None
        self.curvature_rows = (
            gate.curvature_rows if curvature_rows is None else curvature_rows
        )
        self.random_state = random_state
        self.curvature_sample = None
        self._plan()

    def _prepare_data(self, data):
        """Total weight and target offset; centred targets, so that the
        noise variances come from sums of squares."""
        total_weight = float(data.sample_weight.sum())
        offset = float(data.sample_weight @ data.y) / total_weight
        self.targets = data.y - offset
        return total_weight, offset

    @property
    def n_samples(self):
        return self.data.design.shape[0]

    @property
    def n_gate_params(self):
        return self.data.gate_design.shape[1]

    def _plan(self):
        """How the gate steps for the current number of experts."""
        n_params = self.n_gate_params
        n_free = int(self.gate.free.sum())
        budget = self.gate.newton_budget
        self.full = full_newton(self.n_samples, n_free, n_params, budget)
        sample_rows = min(self.curvature_rows, self.n_samples)
        self.sampled = (
            not self.full
            and sample_rows > 0
            and full_newton(sample_rows, n_free, n_params, budget)
        )
        self.pairs = curvature_pairs(self.gate.free, self.full or self.sampled)
        if self.sampled:
            if self.curvature_sample is None:
                self.curvature_sample = self._draw_curvature_sample(sample_rows)
            self.sample_pairs, self.pairs = self.pairs, self.pairs[:0]
        self.refresh = 1 if self.full or self.sampled else CURVATURE_REFRESH

    def _draw_curvature_sample(self, n_rows):
        """Design rows and rescaled weights of the curvature sample."""
        return draw_curvature_sample(
            self.data.gate_design, self.data.sample_weight, n_rows, self.random_state
        )

    def _pass(self, gate_coef, expert_coef, variance, previous, out, gather=True):
        return self.kernels.em_pass(
            self.data.design,
            self.targets,
            self.data.sample_weight,
            gate_coef,
            expert_coef,
            variance,
            previous,
            out,
            self.pairs if gather else self.pairs[:0],
            gate_design=self.data.gate_design,
        )

    def _gathered(self, stats):
        self.stats = stats
        self.curvature = stats.gate_curvature
        self.stale = 0  # passes since the gate's curvature was gathered

    @property
    def totals(self):
        return self.stats.totals

    def set_responsibilities(self, responsibilities):
        """A pass gathering the M-step of given responsibilities (no E-step)."""
        # A copy: the caller's array is not ours to overwrite.
        self.current = np.array(responsibilities, dtype=np.float64, order="C")
        self.previous = np.empty_like(self.current)
        n_experts = self.current.shape[1]
        n_params = self.data.design.shape[1]
        self._gathered(
            self._pass(
                self.gate_coef,
                np.zeros((n_params, n_experts)),
                np.ones(n_experts),
                self.current,
                None,
            )
        )

    def resume(self):
        """An E-step at the fitted parameters, with the next M-step's sums."""
        self.expert_coef = linear_expert_weights(
            self.experts, self.feature_mean, self.feature_scale
        )
        self.expert_coef[-1] -= self.offset
        n_samples, n_experts = self.n_samples, len(self.experts)
        self.previous = np.full((n_samples, n_experts), 1.0 / n_experts)
        self.current = np.empty_like(self.previous)
        self._gathered(
            self._pass(
                self.gate_coef,
                self.expert_coef,
                self.variance,
                self.previous,
                self.current,
            )
        )
        return self.stats.log_likelihood

    def remove_experts(self, keep):
        self.gate.weights = self.gate_coef
        self.gate.keep_experts(keep)
        self.gate_coef = self.gate.weights
        self.experts = [expert for expert, kept in zip(self.experts, keep) if kept]
        self._plan()
        self.set_responsibilities(keep_columns(self.current, keep))

    def _expert_step(self):
        """Exact weighted least squares (ridge) of every expert and its noise
        variance, from the normal equations of the last pass."""
        stats = self.stats
        moments = stats.moments.T
        beta = solve_linear_experts(
            stats.grams, stats.moments, expert_alphas(self.experts), self.feature_scale
        )
        beta_rows = beta.T
        residual_sums = (
            stats.target_squares
            - 2 * np.einsum("kp,kp->k", beta_rows, moments)
            + np.einsum("kp,kpq,kq->k", beta_rows, stats.grams, beta_rows)
        )
        return beta, self.family.dispersion_from_sums(residual_sums, stats.totals)

    def step(self):
        """M-step from the last pass's sums; E-step in the next pass, which
        also tests the gate's step (halved until it raises the objective)."""
        expert_coef, variance = self._expert_step()
        penalty = self.gate.penalty
        if self.sampled:
            self.curvature = sample_curvature(
                self.kernels, self.curvature_sample, self.gate_coef, self.sample_pairs
            )
        direction, decrement, objective = newton_direction(
            self.stats.gate_value,
            self.stats.gate_gradient,
            self.curvature,
            self.gate_coef,
            penalty,
            self.gate.free,
            self.full or self.sampled,
        )
        if not decrement > self.threshold:
            direction, decrement = np.zeros_like(direction), 0.0
        step = 1.0 if decrement > 0 else 0.0
        halvings = 0
        while True:
            candidate = self.gate_coef + step * direction
            gather = halvings > 0 or self.stale + 1 >= self.refresh
            stats = self._pass(
                candidate, expert_coef, variance, self.current, self.previous, gather
            )
            value = stats.previous_gate_value - 0.5 * penalty @ np.sum(
                candidate**2, axis=1
            )
            if step == 0.0 or armijo_accepts(value, objective, step, decrement):
                break
            halvings += 1
            # No ascent found: keep the gate's weights (the experts still move).
            step = 0.5 * step if halvings < MAX_HALVINGS else 0.0
        self.gate_coef, self.expert_coef, self.variance = (
            candidate,
            expert_coef,
            variance,
        )
        if gather:
            self._gathered(stats)
        else:
            self.stats = stats
            self.stale += 1
        self.previous, self.current = self.current, self.previous
        return stats.log_likelihood

    def parameters(self):
        self.gate.weights = self.gate_coef
        coef = self.expert_coef.copy()
        coef[-1] += self.offset
        set_linear_experts(
            self.experts, coef, self.feature_mean, self.feature_scale, self.feature_mean
        )
        return Parameters(self.experts, self.gate, self.variance)
