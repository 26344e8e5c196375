"""The fused engine: EM in one pass over the data per iteration.

For linear experts with a Gaussian (identity link), Poisson or Gamma (log
link) likelihood and the built-in softmax gate, soft routing, on the host.
One pass (``em_pass`` of the kernels) computes the E-step at new parameters
and, in the same loop, everything the next M-step needs:

- Gaussian experts: the K weighted normal equations, solved exactly; their
  noise variances come from the same sums (``sum w R (y - x b)^2 = sum w R
  y^2 - 2 b'm + b'G b``, with the targets centred so that little cancels);
- Poisson and Gamma experts: one IRLS step of each expert's weighted GLM
  from its current weights (Newton for Poisson, Fisher scoring for Gamma),
  a generalised M-step that is the exact one at convergence; Gamma
  dispersions are first maximised from the same pass's sums (ECM);
- the gate's value, gradient and curvature blocks, for a Newton step.

The steps that are not exact are tested inside the next pass, which also
measures the gate's and the experts' objectives at the new weights on the
responsibilities the steps were computed from: a gate step that does not
raise its objective enough (Armijo), or an expert step that lowers its own,
is halved and the pass repeated. Every iteration so raises the expected
complete-data (penalised) log-likelihood, hence the likelihood
(generalised EM), when the experts' ridges (``alpha`` times their share
of the data) and the gate's penalty do not move.
"""

import numpy as np

from ._engines import Parameters
from ._experts import batched_kind
from ._glm import fit_glm, fitted_glms, glm_ridge, ridge_penalty
from ._kernels._xp import target_terms
from ._linear import (
    expert_alphas,
    linear_expert_weights,
    set_linear_experts,
    solve_linear_experts,
    solve_ridge,
)
from ._losses import glm_power
from ._responsibilities import keep_columns
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
# more iterations than it saved.
CURVATURE_REFRESH = 4

#: The Tweedie power of the log-link experts of each fused family.
FUSED_GLM_POWERS = {"poisson": 1.0, "gamma": 2.0}


def fused_experts(estimator, likelihood):
    """Whether the fused pass fits experts like ``estimator`` under
    ``likelihood``: LinearRegression or Ridge under the Gaussian one, the
    log-link GLMs under their own (``FUSED_GLM_POWERS``)."""
    kind = batched_kind(estimator)
    if likelihood == "gaussian":
        return kind == "regression"
    return kind == "glm" and glm_power(estimator) == FUSED_GLM_POWERS.get(likelihood)


class FusedEngine:
    """EM in one pass over the data per iteration (see the module docstring).

    Parameters
    ----------
    data : TrainingData
        On the host.
    experts : list of K estimators
        LinearRegression or Ridge for a Gaussian family, log-link GLMs
        (``FUSED_GLM_POWERS``) for the others; fitted (continuing) or not;
        their ``alpha`` is the ridge penalty.
    gate : SoftmaxGate
        Its ``weights`` start the run; ``penalty`` and ``free`` say how it
        is fitted, ``newton_budget`` when it takes full Newton steps.
    family : GaussianFamily, PoissonFamily or GammaFamily
    feature_mean, feature_scale : ndarray of shape (d,)
    kernels : module
    dispersion : ndarray of shape (K,), default=None
        The noise variances (Gamma: dispersions), when continuing from a fit.
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
        self.dispersion = dispersion
        self.gate_coef = gate.weights
        self.kind = family.name
        self.constant, self.log_target = 0.0, None
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
        """Total weight and target offset: Gaussian targets are centred, so
        that the noise variances come from sums of squares. For log links
        the terms of the targets alone, which the pass leaves out of the
        log-likelihood, are summed once (``constant``)."""
        total_weight = float(data.sample_weight.sum())
        if self.kind != "gaussian":
            self.targets = data.y
            if self.kind == "gamma":
                self.log_target = np.log(data.y)
            self.constant = float(data.sample_weight @ target_terms(self.kind, data.y))
            return total_weight, 0.0
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

    def _pass(self, gate_coef, expert_coef, dispersion, previous, out, gather=True):
        if dispersion is None:  # Poisson experts have none
            dispersion = np.ones(gate_coef.shape[1])
        return self.kernels.em_pass(
            self.data.design,
            self.targets,
            self.data.sample_weight,
            gate_coef,
            expert_coef,
            dispersion,
            previous,
            out,
            self.pairs if gather else self.pairs[:0],
            gate_design=self.data.gate_design,
            family=self.kind,
            log_target=self.log_target,
        )

    def _gathered(self, stats):
        self.stats = stats
        self.curvature = stats.gate_curvature
        self.stale = 0  # passes since the gate's curvature was gathered

    @property
    def totals(self):
        return self.stats.totals

    def set_responsibilities(self, responsibilities, expert_coef=None):
        """A pass gathering the M-step of given responsibilities (no E-step).

        Log-link experts take their IRLS step from ``expert_coef`` (default:
        their GLMs fitted to convergence on these responsibilities).
        """
        # A copy: the caller's array is not ours to overwrite.
        self.current = np.array(responsibilities, dtype=np.float64, order="C")
        self.previous = np.empty_like(self.current)
        if expert_coef is None:
            expert_coef = self._first_fit(self.current)
        self.expert_coef = expert_coef
        self._gathered(
            self._pass(self.gate_coef, expert_coef, None, self.current, None)
        )

    def _first_fit(self, responsibilities):
        """Expert weights the first pass starts from: zeros (Gaussian
        experts' sums do not depend on them) or the converged GLMs."""
        n_params = self.data.design.shape[1]
        if self.kind == "gaussian":
            return np.zeros((n_params, responsibilities.shape[1]))
        coef, _ = fit_glm(
            self.kernels,
            self.data.design,
            self.targets,
            responsibilities * self.data.sample_weight[:, None],
            None,
            expert_alphas(self.experts),
            self.feature_scale,
            FUSED_GLM_POWERS[self.kind],
        )
        return coef

    def resume(self):
        """An E-step at the fitted parameters, with the next M-step's sums."""
        self.expert_coef = linear_expert_weights(
            self.experts, self.feature_mean, self.feature_scale
        )
        self.expert_coef[-1] -= self.offset  # 0 for log links
        n_samples, n_experts = self.n_samples, len(self.experts)
        self.previous = np.full((n_samples, n_experts), 1.0 / n_experts)
        self.current = np.empty_like(self.previous)
        self._gathered(
            self._pass(
                self.gate_coef,
                self.expert_coef,
                self.dispersion,
                self.previous,
                self.current,
            )
        )
        return self.stats.log_likelihood + self.constant

    def remove_experts(self, keep):
        self.set_responsibilities(keep_columns(self.current, keep), self._keep(keep))

    def _keep(self, keep):
        """Drop the experts not in ``keep`` from the gate and the experts,
        plan the gate's steps again; the kept experts' weights (or None)."""
        self.gate.weights = self.gate_coef
        self.gate.keep_experts(keep)
        self.gate_coef = self.gate.weights
        self.experts = [expert for expert, kept in zip(self.experts, keep) if kept]
        self._plan()
        if self.expert_coef is None:
            return None
        return self.expert_coef[:, np.flatnonzero(keep)]

    def _expert_step(self):
        """Where the experts step to, and their dispersions, from the last
        pass's sums: exact weighted least squares (ridge) of Gaussian
        experts and their noise variances; the IRLS step of log-link
        experts, after their Gamma dispersions (None for Poisson).

        Returns
        -------
        proposal : ndarray of shape (p, K)
        dispersion : ndarray of shape (K,) or None
        reference : tuple or None
            ``(ridge, floor)`` of log-link experts: their ridges (p - 1, K)
            and what their penalised objectives must not fall below at the
            new weights (K,); None when the step is exact.
        """
        stats = self.stats
        alphas = expert_alphas(self.experts)
        if self.kind != "gaussian":
            ridge = glm_ridge(alphas, stats.totals, self.feature_scale)
            proposal = solve_ridge(stats.grams, stats.moments, ridge)
            # Gamma: sum w R (y / mu - log(y / mu) - 1) = -expert_value - totals.
            dispersion = self.family.dispersion_from_sums(
                -stats.expert_value - stats.totals, stats.totals
            )
            floor = stats.expert_value - ridge_penalty(ridge, self.expert_coef)
            return proposal, dispersion, (ridge, floor - 1e-13 * np.abs(floor))
        beta = solve_linear_experts(
            stats.grams, stats.moments, alphas, self.feature_scale
        )
        beta_rows = beta.T
        residual_sums = (
            stats.target_squares
            - 2 * np.einsum("kp,kp->k", beta_rows, stats.moments.T)
            + np.einsum("kp,kpq,kq->k", beta_rows, stats.grams, beta_rows)
        )
        variance = self.family.dispersion_from_sums(residual_sums, stats.totals)
        return beta, variance, None

    def _experts_worse(self, stats, expert_coef, reference):
        """Which experts' steps lowered their objectives (NaN counts as
        lower), (K,) boolean; none for an exact step."""
        if reference is None:
            return np.zeros(expert_coef.shape[1], dtype=bool)
        ridge, floor = reference
        value = stats.previous_expert_value - ridge_penalty(ridge, expert_coef)
        return ~(value >= floor)

    def _gate_step(self):
        """The gate's Newton direction from the last pass's sums, with its
        decrement and objective (a zero direction when it is converged)."""
        if self.sampled:
            self.curvature = sample_curvature(
                self.kernels, self.curvature_sample, self.gate_coef, self.sample_pairs
            )
        direction, decrement, objective = newton_direction(
            self.stats.gate_value,
            self.stats.gate_gradient,
            self.curvature,
            self.gate_coef,
            self.gate.penalty,
            self.gate.free,
            self.full or self.sampled,
        )
        if not decrement > self.threshold:
            direction, decrement = np.zeros_like(direction), 0.0
        return direction, decrement, objective

    def step(self):
        """M-step from the last pass's sums; E-step in the next pass, which
        also tests the steps that are not exact (halved until they raise
        their objectives)."""
        proposal, dispersion, reference = self._expert_step()
        direction, decrement, objective = self._gate_step()
        penalty = self.gate.penalty
        step = 1.0 if decrement > 0 else 0.0
        expert_steps = np.isfinite(proposal).all(axis=0).astype(np.float64)
        halvings = 0
        while True:
            candidate = self.gate_coef + step * direction
            expert_coef = proposal
            if reference is not None:
                # A step of 0 keeps the weights, even where the proposal
                # is not finite (a singular or overflowed system).
                with np.errstate(invalid="ignore", over="ignore"):
                    expert_coef = np.where(
                        expert_steps > 0,
                        self.expert_coef + expert_steps * (proposal - self.expert_coef),
                        self.expert_coef,
                    )
            gather = halvings > 0 or self.stale + 1 >= self.refresh
            stats = self._pass(
                candidate, expert_coef, dispersion, self.current, self.previous, gather
            )
            value = stats.previous_gate_value - 0.5 * penalty @ np.sum(
                candidate**2, axis=1
            )
            gate_done = step == 0.0 or armijo_accepts(value, objective, step, decrement)
            worse = self._experts_worse(stats, expert_coef, reference)
            worse &= expert_steps > 0
            if gate_done and not worse.any():
                break
            halvings += 1
            # No ascent found: keep the weights (the rest still moves).
            factor = 0.5 if halvings < MAX_HALVINGS else 0.0
            step = step if gate_done else factor * step
            expert_steps[worse] *= factor
        self.gate_coef, self.expert_coef = candidate, expert_coef
        self.dispersion = dispersion
        if gather:
            self._gathered(stats)
        else:
            self.stats = stats
            self.stale += 1
        self.previous, self.current = self.current, self.previous
        return stats.log_likelihood + self.constant

    def parameters(self):
        self.gate.weights = self.gate_coef
        coef = self.expert_coef.copy()
        coef[-1] += self.offset
        set_linear_experts(
            self.experts, coef, self.feature_mean, self.feature_scale, self.feature_mean
        )
        if self.kind != "gaussian":
            fitted_glms(self.experts, 1)  # as the general engine: one IRLS step
        return Parameters(self.experts, self.gate, self.dispersion)
