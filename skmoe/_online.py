"""Online EM for ``partial_fit``: one step of stepwise EM per chunk.

Stepwise EM (Cappé & Moulines, 2009): the chunk's responsibilities come
from the current model; each expert takes one ``partial_fit`` step on them;
the gate and the family's own parameters (noise variances) move towards the
chunk's estimates with step size ``(t + 1) ** -0.6`` at chunk t.
"""

from ._array_utils import to_host

#: Exponent of the step sizes ``t ** -STEP_EXPONENT``: in (0.5, 1], as
#: stochastic approximation requires.
STEP_EXPONENT = 0.6


def step_size(n_chunks):
    """Step size of stepwise EM at the ``n_chunks``-th chunk (1-based)."""
    return n_chunks**-STEP_EXPONENT


def stepwise_em_step(engine, targets, step, classes=None):
    """One stepwise EM update of the engine's parameters on its chunk.

    Parameters
    ----------
    engine : GeneralEngine
        Holds the chunk (numpy) and the current parameters, updated in place.
    targets : ndarray of shape (n,)
        The chunk's targets as the experts' ``partial_fit`` takes them
        (labels for classifiers).
    step : float
        Step size in (0, 1].
    classes : ndarray, default=None
        Every class of the stream (classifiers).

    Returns
    -------
    log_likelihood : float
        The chunk's log-likelihood after the update.
    shares : ndarray of shape (K,)
        Each expert's share of the chunk after the update.
    """
    data = engine.data
    engine.resume()
    responsibilities = engine.responsibilities
    partial_fit_experts(
        engine.experts, data.X, targets, responsibilities, data.sample_weight, classes
    )
    previous_weights = getattr(engine.gate, "weights", None)
    engine.gate.m_step(
        engine.gate_input, responsibilities, data.sample_weight, engine.kernels
    )
    if previous_weights is not None:
        engine.gate.weights = previous_weights + step * (
            engine.gate.weights - previous_weights
        )
    previous = engine.dispersion
    if previous is not None:
        predictions = engine.expert_model.predictions(engine.experts, data)
        chunk = engine.family.fit_dispersion(
            data.y, predictions, responsibilities * data.sample_weight[:, None]
        )
        engine.dispersion = previous + step * (chunk - previous)
    log_likelihood = engine.resume()
    return log_likelihood, to_host(engine.totals) / engine.total_weight


def partial_fit_experts(experts, X, y, responsibilities, sample_weight, classes=None):
    """One ``partial_fit`` of each expert on its responsibility-weighted chunk.

    ``y`` as the experts see it (labels for classifiers, with ``classes``).
    """
    extra = {} if classes is None else {"classes": classes}
    for k, expert in enumerate(experts):
        expert.partial_fit(
            X, y, sample_weight=responsibilities[:, k] * sample_weight, **extra
        )
    return experts
