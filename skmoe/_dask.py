"""Exact EM on Dask arrays: the fused pass over chunks, on the workers.

:class:`DaskEngine` is the fused engine (``skmoe._fused.FusedEngine``)
with another way to run a pass: the fused kernel ``em_pass`` maps over the
row chunks of the data where they live, each chunk returns its sums
(``PassStatistics``, a few kilobytes), and the sums are added in a tree on
the workers. The client receives the total only, and solves the M-step's
small systems as the fused engine does: the same driver, the same M-step,
the same line search, the same result to rounding.

Each pass is a pure function of the data and of parameters: the
responsibilities a step was computed from are recomputed in the chunk from
the parameters that gave them (an E-step costs a fraction of the pass)
rather than kept on the workers. A lost worker's tasks are simply rerun by
the scheduler, and the workers hold no more than the data.

Dask is imported when a function here is called, never at ``import skmoe``.
"""

from typing import NamedTuple

import numpy as np

from ._backend import get_kernels, kernel_threads
from ._engines import standardised_design
from ._fused import FusedEngine
from ._kernels import _xp
from ._linear import linear_expert_weights
from ._responsibilities import keep_columns
from ._solvers import draw_curvature_sample, rescaled_sample

#: Rows drawn on the workers for the initialisation (EM on the sample gives
#: the full fit its start) and the gate's curvature sample.
SAMPLE_ROWS = 100_000

#: Fan-in of the tree that adds the chunks' statistics.
FAN_IN = 8


def is_dask_collection(value):
    """Whether ``value`` is a Dask collection (array, DataFrame, Series).

    Decided from its type, without importing dask.
    """
    module = type(value).__module__.partition(".")[0]
    return module == "dask" and hasattr(value, "__dask_graph__")


class DaskData(NamedTuple):
    """The data of a fit on Dask, by row chunk, and its weighted summaries.

    ``X``, ``y`` and ``sample_weight`` are lists of Delayed chunks, one per
    row chunk (``sample_weight`` entries None when unweighted).
    """

    X: list
    y: list
    sample_weight: list
    row_chunks: tuple
    n_samples: int
    n_features: int
    total_weight: float
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    target_mean: float
    target_scale: float
    target_min: float
    target_terms: float = 0.0


class ResponsibilitiesAt(NamedTuple):
    """Responsibilities recomputed in each chunk: the E-step at these
    parameters, restricted to the ``keep`` experts (None: all)."""

    gate_coef: np.ndarray
    expert_coef: np.ndarray
    dispersion: object
    keep: object = None


def chunk_responsibilities(kernels, design, targets, previous, n_experts, family):
    """The responsibilities a chunk's pass starts from, as a fresh C array.

    ``previous`` is a chunk of given responsibilities, a
    :class:`ResponsibilitiesAt`, or None (uniform); ``targets`` as the pass
    reads them, ``family`` its experts' (``em_pass``).
    """
    if previous is None:
        return np.full((design.shape[0], n_experts), 1.0 / n_experts)
    if not isinstance(previous, ResponsibilitiesAt):
        return np.array(previous, dtype=np.float64, order="C")
    dispersion = previous.dispersion
    responsibilities = kernels.pass_responsibilities(
        design,
        targets,
        previous.gate_coef,
        previous.expert_coef,
        np.ones(n_experts) if dispersion is None else dispersion,
        np.empty((design.shape[0], previous.gate_coef.shape[1])),
        family=family,
    )
    if previous.keep is not None:
        responsibilities = keep_columns(responsibilities, previous.keep)
    return np.ascontiguousarray(responsibilities)


def chunk_pass(
    design,
    y,
    weight,
    previous,
    offset,
    coefficients,
    pairs,
    update,
    backend,
    family="gaussian",
):
    """``em_pass`` on one row chunk (runs on a worker); its ``PassStatistics``.

    Parameters
    ----------
    design : ndarray of shape (m, d + 1)
        The chunk's standardised design (``standardised_design``), made once
        per fit and kept on the worker.
    y : ndarray of shape (m,)
    weight : ndarray of shape (m,) or None
    previous : ndarray of shape (m, K), ResponsibilitiesAt or None
        The responsibilities the pass starts from.
    offset : float
        Subtracted from the targets (Gaussian experts: their weighted mean).
    coefficients : tuple
        ``(gate_coef, expert_coef, dispersion)`` of the pass.
    pairs : ndarray of int of shape (q, 2)
    update : bool
        Whether the pass makes an E-step (else it gathers the M-step's sums
        of ``previous``).
    backend : {"numpy", "numba"}
    family : {"gaussian", "poisson", "gamma"}, default="gaussian"
        The experts' family (``em_pass``).
    """
    gate_coef, expert_coef, dispersion = coefficients
    n_experts = gate_coef.shape[1]
    targets = np.asarray(y, dtype=np.float64) - offset
    weight = np.ones(len(targets)) if weight is None else weight
    kernels = get_kernels(backend)
    # Dask runs one task per thread: the kernel on one thread too.
    with kernel_threads(backend, 0):
        previous = chunk_responsibilities(
            kernels, design, targets, previous, n_experts, family
        )
        out = np.empty_like(previous) if update else None
        return kernels.em_pass(
            design,
            targets,
            weight,
            gate_coef,
            expert_coef,
            np.ones(n_experts) if dispersion is None else dispersion,
            previous,
            out,
            pairs,
            family=family,
        )


def _target_terms(y, family):
    """``target_terms`` of a chunk's targets (on a worker); invalid targets
    give NaN here and are refused by the family's check on the client."""
    with np.errstate(all="ignore"):
        return _xp.target_terms(family, np.asarray(y, dtype=np.float64))


def add_statistics(*parts):
    """The field-wise sum of ``PassStatistics`` of disjoint chunks."""
    return _xp.PassStatistics(*(sum(values) for values in zip(*parts)))


def tree_sum(parts):
    """Delayed ``add_statistics`` of Delayed parts, in a tree of ``FAN_IN``."""
    from dask import delayed

    while len(parts) > 1:
        parts = [
            delayed(add_statistics, pure=True)(*parts[start : start + FAN_IN])
            for start in range(0, len(parts), FAN_IN)
        ]
    return parts[0]


class DaskEngine(FusedEngine):
    """The fused engine on Dask data: each pass maps over the row chunks.

    Parameters
    ----------
    data : DaskData
    experts : list of K LinearRegression or Ridge
    gate : SoftmaxGate
    family : GaussianFamily
    sample : tuple of (ndarray of shape (m, p), ndarray of shape (m,))
        Rows drawn on the workers (standardised design, weights): the gate's
        curvature sample when the full Hessian on all rows is over budget.
    backend : {"numpy", "numba"}
        Kernels of the workers and of the client.
    dispersion : ndarray of shape (K,), default=None
        Noise variances of fitted experts (a start from parameters).
    curvature_rows : int, default=None
        As in ``FusedEngine`` (at most the sample's rows).
    """

    def __init__(
        self,
        data,
        experts,
        gate,
        family,
        sample,
        *,
        backend,
        dispersion=None,
        curvature_rows=None,
    ):
        self.sample = sample
        self.backend = backend
        super().__init__(
            data,
            experts,
            gate,
            family,
            data.feature_mean,
            data.feature_scale,
            kernels=get_kernels(backend),
            dispersion=dispersion,
            curvature_rows=min(
                gate.curvature_rows if curvature_rows is None else curvature_rows,
                len(sample[1]),
            ),
        )

    def _prepare_data(self, data):
        if self.kind == "gaussian":
            return data.total_weight, data.target_mean
        # Summed once per fit, in prepare_dask_data's first pass.
        self.constant = data.target_terms
        return data.total_weight, 0.0

    def _first_fit(self, responsibilities):
        """Log-link experts start from the targets' mean (intercepts only);
        their IRLS steps, tested, go on from there."""
        expert_coef = np.zeros((self.n_params, self.gate_coef.shape[1]))
        if self.kind != "gaussian":
            expert_coef[-1] = np.log(max(self.data.target_mean, 1e-300))
        return expert_coef

    @property
    def n_samples(self):
        return self.data.n_samples

    @property
    def n_params(self):
        return self.data.n_features + 1

    @property
    def n_gate_params(self):
        return self.data.n_features + 1

    def _draw_curvature_sample(self, n_rows):
        # Rows of the sample drawn on the workers, weighted for all the rows.
        rows = draw_curvature_sample(*self.sample, n_rows, self.random_state)
        return rescaled_sample(*rows, self.total_weight)

    def _pass(self, gate_coef, expert_coef, dispersion, previous, out, gather=True):
        from dask import compute, delayed

        data = self.data
        coefficients = (gate_coef, expert_coef, dispersion)
        pairs = self.pairs if gather else self.pairs[:0]
        if previous is None or isinstance(previous, ResponsibilitiesAt):
            previous = [previous] * len(data.X)
        parts = [
            delayed(chunk_pass, pure=True)(
                design,
                y,
                weight,
                chunk,
                self.offset,
                coefficients,
                pairs,
                out is not None,
                self.backend,
                self.kind,
            )
            for design, y, weight, chunk in zip(
                self._designs(), data.y, data.sample_weight, previous
            )
        ]
        return compute(tree_sum(parts))[0]

    def _designs(self):
        """The chunks' standardised designs, made once per fit and persisted
        where the data live (on the workers): a pass then reads them instead
        of standardising its chunk again, at the cost of a copy of X."""
        if getattr(self, "design_chunks", None) is None:
            from dask import delayed, persist

            data = self.data
            self.design_chunks = persist(
                *(
                    delayed(standardised_design, pure=True)(
                        X, data.feature_mean, data.feature_scale
                    )
                    for X in data.X
                )
            )
        return self.design_chunks

    def _responsibilities_now(self, keep=None):
        return ResponsibilitiesAt(
            self.gate_coef, self.expert_coef, self.dispersion, keep
        )

    def set_responsibilities(self, responsibilities):
        """The first M-step's sums from responsibilities given as a dask
        array with the data's row chunks (the E-step at parameters is the
        usual start; see ``resume``)."""
        self._start_from(list(responsibilities.to_delayed().ravel()))

    def _start_from(self, source, expert_coef=None):
        if expert_coef is None:
            expert_coef = self._first_fit(None)
        self.expert_coef = expert_coef
        self.current, self.previous = source, True
        self._gathered(self._pass(self.gate_coef, expert_coef, None, source, None))

    def resume(self):
        """An E-step at the fitted parameters, with the next M-step's sums."""
        self.expert_coef = linear_expert_weights(
            self.experts, self.feature_mean, self.feature_scale
        )
        self.expert_coef[-1] -= self.offset
        self._gathered(
            self._pass(self.gate_coef, self.expert_coef, self.dispersion, None, True)
        )
        self.current, self.previous = self._responsibilities_now(), True
        return self.stats.log_likelihood + self.constant

    def step(self):
        log_likelihood = super().step()
        # The responsibilities of the accepted pass, as the chunks recompute them.
        self.current, self.previous = self._responsibilities_now(), True
        return log_likelihood

    def remove_experts(self, keep):
        source = self.current
        if isinstance(source, ResponsibilitiesAt):
            source = self._responsibilities_now(keep)
        else:  # chunks of given responsibilities: renormalised in the chunks
            from dask import delayed

            source = [delayed(keep_columns)(chunk, keep) for chunk in source]
        self._start_from(source, self._keep(keep))


def prepare_dask_data(X, y, sample_weight, family="gaussian"):
    """Checks and weighted summaries of dask data, in two passes on the workers.

    Parameters
    ----------
    X : dask array of shape (n, d)
        From :func:`as_dask_matrix`.
    y, sample_weight : dask arrays of shape (n,)
        From :func:`as_dask_vector` (``sample_weight`` may be None).
    family : {"gaussian", "poisson", "gamma"}, default="gaussian"
        The likelihood's name: the weighted sum of its targets' own terms
        (``_xp.target_terms``, 0 for Gaussian) is taken in the first pass.

    Returns
    -------
    data : DaskData
    """
    import dask
    import dask.array as da

    def weighted_sum(values):
        if sample_weight is None:
            return values.sum(axis=0)
        return sample_weight @ values

    checks = {
        "X contains NaN or infinity": (~da.isfinite(X)).sum(),
        "y contains NaN or infinity": (~da.isfinite(y)).sum(),
    }
    if sample_weight is not None:
        checks["sample_weight contains NaN, infinity or negative values"] = (
            ~(da.isfinite(sample_weight) & (sample_weight >= 0))
        ).sum()
    total = X.shape[0] if sample_weight is None else sample_weight.sum()
    terms = y.map_blocks(_target_terms, family, dtype=np.float64)
    total, feature_sums, target_sum, target_min, target_terms, *counts = dask.compute(
        total,
        weighted_sum(X),
        weighted_sum(y),
        y.min(),
        weighted_sum(terms) if family != "gaussian" else 0.0,
        *checks.values(),
    )
    for problem, count in zip(checks, counts):
        if count:
            raise ValueError(f"Input {problem} ({count} value(s) in its chunks).")
    if not total > 0:
        raise ValueError("sample_weight must have a positive sum.")
    feature_mean, target_mean = feature_sums / total, float(target_sum / total)
    feature_variance, target_variance = dask.compute(
        weighted_sum((X - feature_mean) ** 2) / total,
        weighted_sum((y - target_mean) ** 2) / total,
    )
    feature_scale = np.sqrt(feature_variance)
    constant = feature_scale <= 1e-12 * np.clip(np.abs(feature_mean), 1e-300, None)
    target_scale = float(np.sqrt(target_variance))
    return DaskData(
        list(X.to_delayed().ravel()),
        list(y.to_delayed().ravel()),
        [None] * X.numblocks[0]
        if sample_weight is None
        else list(sample_weight.to_delayed().ravel()),
        X.chunks[0],
        X.shape[0],
        X.shape[1],
        float(total),
        feature_mean,
        np.where(constant, 1.0, feature_scale),
        target_mean,
        target_scale if target_scale > 0 else 1.0,
        float(target_min),
        float(target_terms),
    )


def _sample_chunk(X, y, weight, fraction, seed):
    """Rows of a chunk kept with probability ``fraction`` (on a worker)."""
    keep = np.random.default_rng(seed).random(X.shape[0]) < fraction
    weight = np.ones(X.shape[0]) if weight is None else weight
    return X[keep], np.asarray(y)[keep], weight[keep]


def draw_sample(data, n_rows, seed):
    """About ``n_rows`` rows drawn uniformly on the workers, brought to the client.

    Returns
    -------
    X : ndarray of shape (m, d)
    y, sample_weight : ndarray of shape (m,)
    """
    from dask import compute, delayed

    fraction = min(1.0, n_rows / data.n_samples)
    parts = compute(
        *[
            delayed(_sample_chunk, pure=True)(X, y, weight, fraction, (seed, index))
            for index, (X, y, weight) in enumerate(
                zip(data.X, data.y, data.sample_weight)
            )
        ]
    )
    X, y, weight = (np.concatenate(arrays) for arrays in zip(*parts))
    return X, y, weight
