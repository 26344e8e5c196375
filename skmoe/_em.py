"""The EM driver: one loop for every engine.

As ``sklearn.mixture._base.BaseMixture.fit``: :func:`fit_em` restarts
``n_init`` times, keeps the parameters of the run with the best
log-likelihood and warns with a ``ConvergenceWarning`` when that run did not
converge (or, screening, compares the runs after their first iterations and
lets only the best go on); :func:`run_em` is one run. The engines
(``skmoe._engines``) say how an iteration is computed; the driver owns what
is common: the initial M-step, the convergence test, the log-likelihood
path, the removal of dead experts and the verbose report.

An engine has ``set_responsibilities(R)`` (the start of a new run),
``resume()`` (an E-step at the current parameters; returns the
log-likelihood), ``step()`` (an M-step from the current responsibilities
and the E-step at the new parameters; returns the log-likelihood),
``totals`` (each expert's total weight, a host array), ``total_weight``,
``remove_experts(keep)`` and ``parameters()``.
"""

import warnings
from time import perf_counter
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning


class EMRun(NamedTuple):
    """What one EM run found (its parameters stay with its engine)."""

    log_likelihood: float
    path: list
    converged: bool
    expert_weights: np.ndarray


def dead_experts(totals, min_expert_weight):
    """Mask of the experts whose share of the data is below the threshold.

    ``totals`` are each expert's total (weighted) responsibility, a host
    array; the largest expert is never dead, so that at least one remains.
    """
    shares = totals / totals.sum()
    dead = shares < min_expert_weight
    dead[np.argmax(shares)] = False
    return dead


class EMReport:
    """The lines ``verbose`` prints during one run."""

    def __init__(self, verbose, run):
        self.verbose = verbose
        self.run = run
        self.start = perf_counter()

    def initial(self, log_likelihood):
        if self.verbose:
            print(f"Run {self.run}: initial log-likelihood {log_likelihood:.6f}")

    def iteration(self, iteration, log_likelihood, change):
        if self.verbose:
            print(
                f"Run {self.run}, iteration {iteration}: log-likelihood "
                f"{log_likelihood:.6f}, change per sample {change:.3e}, "
                f"{perf_counter() - self.start:.2f} s"
            )

    def removed(self, dead, min_expert_weight):
        if self.verbose:
            print(
                f"Run {self.run}: removing expert(s) "
                f"{np.flatnonzero(dead).tolist()}, share below "
                f"min_expert_weight={min_expert_weight}"
            )

    def end(self, log_likelihood, converged):
        if self.verbose:
            state = "converged" if converged else "did not converge"
            print(f"Run {self.run} {state}: log-likelihood {log_likelihood:.6f}")


def _remove_dead(engine, min_expert_weight, report):
    """Remove the engine's dead experts; whether there were any.

    An expert whose share of the (weighted) data falls below
    ``min_expert_weight`` is collapsing: its fit rests on a handful of
    samples (or none), its dispersion and gate weights run to their limits.
    It is removed with its gate column, and the next M-step refits the rest
    on the renormalised responsibilities.
    """
    dead = dead_experts(engine.totals, min_expert_weight)
    if not dead.any():
        return False
    report.removed(dead, min_expert_weight)
    engine.remove_experts(~dead)
    return True


def run_em(engine, responsibilities, *, max_iter, tol, min_expert_weight, report):
    """One EM run.

    Parameters
    ----------
    engine : engine
        Holds the data and the parameters; see the module's docstring.
    responsibilities : array of shape (n, K) or None
        Initial responsibilities, turned into parameters by a first M-step;
        None continues from the engine's current parameters.
    max_iter : int
        EM iterations (each an M-step and an E-step).
    tol : float
        Convergence threshold on the change of the log-likelihood per unit
        of sample weight.
    min_expert_weight : float
        Experts whose share of the data falls below it are removed, before
        an M-step (and after the last iteration, with one more M-step).
    report : EMReport

    Returns
    -------
    run : EMRun
        The log-likelihood after the last E-step, the path of the
        log-likelihood after each iteration (the initial one excluded), and
        whether the change fell below ``tol``. Between removals the path
        never decreases with exact M-steps and no gate penalty.
    """
    if responsibilities is None:
        log_likelihood = engine.resume()
    else:
        engine.set_responsibilities(responsibilities)
        _remove_dead(engine, min_expert_weight, report)
        log_likelihood = engine.step()
    report.initial(log_likelihood)
    path = []
    converged = False
    for iteration in range(1, max_iter + 1):
        removed = _remove_dead(engine, min_expert_weight, report)
        previous = log_likelihood
        log_likelihood = engine.step()
        path.append(log_likelihood)
        change = (log_likelihood - previous) / engine.total_weight
        report.iteration(iteration, log_likelihood, change)
        if abs(change) < tol and not removed:
            converged = True
            break
    if max_iter > 0:
        # An expert that died in the last iteration: the fitted state must
        # not keep it.
        while _remove_dead(engine, min_expert_weight, report):
            log_likelihood = engine.step()
            path.append(log_likelihood)
    report.end(log_likelihood, converged)
    return EMRun(log_likelihood, path, converged, engine.totals / engine.total_weight)


def fit_em(
    start_run, n_runs, *, max_iter, tol, min_expert_weight, verbose, screen_iter=None
):
    """Best of ``n_runs`` EM runs.

    Parameters
    ----------
    start_run : callable
        ``start_run(run) -> (engine, responsibilities)`` for run 0, 1, ...:
        a fresh engine and its initial responsibilities (None: continue
        from the engine's parameters).
    n_runs : int
    max_iter, tol, min_expert_weight :
        As in :func:`run_em`.
    verbose : int
    screen_iter : int or None, default=None
        None: every run goes on to ``max_iter`` iterations (or converges),
        and the best at the end is kept. An int: every run stops after
        ``screen_iter`` iterations, and only the best of them by then goes
        on (experts that continue training spend most of a run's cost in
        its first iterations, which set where the partition settles).

    Returns
    -------
    run : EMRun
        The run with the best log-likelihood.
    parameters : object
        Its engine's ``parameters()``.
    """
    screening = screen_iter is not None and n_runs > 1
    first_iter = min(screen_iter, max_iter) if screening else max_iter
    best = None
    for run in range(n_runs):
        engine, responsibilities = start_run(run)
        result = run_em(
            engine,
            responsibilities,
            max_iter=first_iter,
            tol=tol,
            min_expert_weight=min_expert_weight,
            report=EMReport(verbose, run),
        )
        if best is None or result.log_likelihood > best[0].log_likelihood:
            # A screened run keeps its engine, to go on from where it stopped.
            best = result, engine if screening else engine.parameters(), run
    result, kept, run = best
    if screening:
        if not result.converged and max_iter > first_iter:
            more = run_em(
                kept,
                None,
                max_iter=max_iter - first_iter,
                tol=tol,
                min_expert_weight=min_expert_weight,
                report=EMReport(verbose, run),
            )
            result = more._replace(path=result.path + more.path)
        kept = kept.parameters()
    if not result.converged and max_iter > 0:
        warnings.warn(
            f"EM did not converge in max_iter={max_iter} iterations "
            f"(best of {n_runs} run(s)). Increase max_iter or tol.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return result, kept
