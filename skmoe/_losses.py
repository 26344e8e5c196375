"""What an expert's own loss says: its likelihood family, its GLM power.

Read by the regressor (``likelihood="auto"``) and by the batched expert
paths (``_experts.batched_kind``); imports nothing from skmoe.
"""

from sklearn.linear_model import GammaRegressor, PoissonRegressor, TweedieRegressor


def likelihood_of(estimator):
    """The likelihood ``likelihood="auto"`` gives an expert: its own loss.

    Poisson for PoissonRegressor, TweedieRegressor(power=1) and a
    ``loss="poisson"``; Gamma for GammaRegressor, TweedieRegressor(power=2)
    and a ``loss="gamma"``; Gaussian for anything else. A pipeline is
    judged by its final step.
    """
    steps = getattr(estimator, "steps", None)
    if steps:
        return likelihood_of(steps[-1][1])
    name = type(estimator).__name__
    params = estimator.get_params(deep=False)
    power = params.get("power") if name == "TweedieRegressor" else None
    loss = params.get("loss")
    if name == "PoissonRegressor" or power == 1 or loss == "poisson":
        return "poisson"
    if name == "GammaRegressor" or power == 2 or loss == "gamma":
        return "gamma"
    return "gaussian"


def glm_power(estimator):
    """Tweedie power of a GLM expert the batched path fits, or None.

    PoissonRegressor (1), GammaRegressor (2) and TweedieRegressor with a log
    link (``link="log"``, or ``"auto"`` with ``power > 0``).
    """
    kind = type(estimator)
    if kind is PoissonRegressor:
        return 1.0
    if kind is GammaRegressor:
        return 2.0
    if kind is TweedieRegressor:
        params = estimator.get_params()
        power = float(params["power"])
        if params["link"] == "log" or (params["link"] == "auto" and power > 0):
            return power
    return None
