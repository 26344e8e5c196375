"""How low can the RMSE go on make_moe_regression, and does EM get there?

``make_moe_regression`` draws each sample's regime from a softmax gate, so
near a soft boundary the same x can land in regimes whose lines are far
apart. The best possible mean prediction is then the true mixture mean
``sum_k g_k(x) f_k(x)``, and its RMSE (the floor) can sit far above the
noise standard deviation. This script rebuilds the generator's true gate and
experts (checking that it reproduces ``make_moe_regression`` exactly), and
prints, for the data of ``examples/compare_ensembles.py`` and a few gate
sharpnesses:

- the floor: RMSE of the true mixture mean, and of the true regime's line
  (what a model that knew each sample's regime would reach: the noise);
- the 3-fold cross-validated RMSE of a mixture of 4 linear experts
  (n_init=3) and of HistGradientBoostingRegressor;
- whether EM finds the true regimes: adjusted Rand index of ``apply(X)``
  against the true regimes, and the fitted log-likelihood against the
  log-likelihood of the true parameters, both on all the data.

Run ``python benchmarks/moe_regression_floor.py``.
"""

import warnings

import numpy as np
from scipy.special import logsumexp
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import KFold, cross_val_score
from sklearn.utils import check_random_state

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_regression

warnings.simplefilter("ignore", ConvergenceWarning)


def true_model(n_samples, n_features, n_experts, noise, gate_sharpness, seed):
    """The generator's draws, in its order: X, gate, regimes, lines, y."""
    rng = check_random_state(seed)
    X = rng.standard_normal((n_samples, n_features))
    logits = X @ (rng.standard_normal((n_features, n_experts)) * gate_sharpness)
    # The generator's own arithmetic, so that the regimes match bit for bit.
    logits -= logits.max(axis=1, keepdims=True)
    gate = np.exp(logits)
    gate /= gate.sum(axis=1, keepdims=True)
    log_gate = logits - logsumexp(logits, axis=1, keepdims=True)
    u = rng.random_sample((n_samples, 1))
    regime = np.minimum((gate.cumsum(axis=1) < u).sum(axis=1), n_experts - 1)
    coef = rng.uniform(-5, 5, size=(n_experts, n_features))
    intercept = rng.uniform(-5, 5, size=n_experts)
    lines = X @ coef.T + intercept
    y = lines[np.arange(n_samples), regime] + noise * rng.standard_normal(n_samples)
    X_check, y_check, regime_check = make_moe_regression(
        n_samples=n_samples,
        n_features=n_features,
        n_experts=n_experts,
        noise=noise,
        gate_sharpness=gate_sharpness,
        return_regimes=True,
        random_state=seed,
    )
    if not (
        np.array_equal(X, X_check)
        and np.allclose(y, y_check)
        and np.array_equal(regime, regime_check)
    ):
        raise RuntimeError("make_moe_regression changed: update true_model")
    return X, y, regime, log_gate, lines


def main():
    n, d, K, noise = 2000, 4, 4, 0.5
    cv = KFold(3, shuffle=True, random_state=0)
    print(
        f"make_moe_regression(n_samples={n}, n_features={d}, n_experts={K}, "
        f"noise={noise}, random_state=0); 3-fold cross-validated RMSE\n"
    )
    print(
        "| gate_sharpness | true regime's line | floor: true mixture mean | "
        "MoE, 4 linear experts | hist gradient boosting | MoE / HGB | "
        "adjusted Rand (EM vs true regimes) | logLik fitted / true |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for sharpness in [5.0, 10.0, 20.0, 50.0]:
        X, y, regime, log_gate, lines = true_model(n, d, K, noise, sharpness, 0)
        floor = np.sqrt(np.mean((y - (np.exp(log_gate) * lines).sum(axis=1)) ** 2))
        known = np.sqrt(np.mean((y - lines[np.arange(n), regime]) ** 2))
        true_loglik = logsumexp(
            log_gate
            - 0.5 * ((y[:, None] - lines) / noise) ** 2
            - np.log(noise * np.sqrt(2 * np.pi)),
            axis=1,
        ).sum()
        moe = MixtureOfExpertsRegressor(n_experts=K, n_init=3, random_state=0)
        moe_rmse = -cross_val_score(
            moe, X, y, cv=cv, scoring="neg_root_mean_squared_error"
        ).mean()
        hgb_rmse = -cross_val_score(
            HistGradientBoostingRegressor(random_state=0),
            X,
            y,
            cv=cv,
            scoring="neg_root_mean_squared_error",
        ).mean()
        moe.fit(X, y)
        rand = adjusted_rand_score(regime, moe.apply(X))
        print(
            f"| {sharpness:g} | {known:.3f} | {floor:.3f} | {moe_rmse:.3f} | "
            f"{hgb_rmse:.3f} | {moe_rmse / hgb_rmse:.2f} | {rand:.3f} | "
            f"{moe.log_likelihood_:.1f} / {true_loglik:.1f} |"
        )


if __name__ == "__main__":
    main()
