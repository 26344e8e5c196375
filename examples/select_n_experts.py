"""
Choosing the number of experts: BIC and AIC beside GridSearchCV
===============================================================

For K = 1 ... 5 linear experts on the motorcycle crash data (mcycle) and on
flexmix's NPreg data (features x and x^2), fits a mixture on all the data
per K with ``select_n_experts`` (flexmix's stepFlexmix: ``bic(X, y)`` and
``aic(X, y)``, lower is better, in one call), and runs
GridSearchCV over ``n_experts`` with 5-fold cross-validation, scored by RMSE
and by held-out log-likelihood per sample. Prints one table per data set and
the number of experts each criterion picks.

BIC and AIC need one fit per K; cross-validation needs one per K and fold,
but also works for experts whose parameters BIC cannot count (trees).

Run ``python examples/select_n_experts.py``.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold

from skmoe import MixtureOfExpertsRegressor, select_n_experts
from skmoe.datasets import load_mcycle, load_npreg

warnings.simplefilter("ignore", ConvergenceWarning)

N_EXPERTS = [1, 2, 3, 4, 5]


def held_out_log_likelihood(estimator, X, y):
    """Mean log p(y | x) on held-out data (higher is better)."""
    return estimator.log_likelihood(X, y).mean()


def select(name, X, y):
    mixture = MixtureOfExpertsRegressor(n_init=3, random_state=0)
    best, results = select_n_experts(mixture, X, y, N_EXPERTS, criterion="bic")
    columns = ["log_likelihood", "n_parameters", "bic", "aic"]
    rows = results[columns].to_numpy()
    search = GridSearchCV(
        mixture,
        {"n_experts": N_EXPERTS},
        scoring={
            "rmse": "neg_root_mean_squared_error",
            "log_lik": held_out_log_likelihood,
        },
        refit="rmse",
        cv=KFold(5, shuffle=True, random_state=0),
    ).fit(X, y)
    cv_rmse = -search.cv_results_["mean_test_rmse"]
    cv_log_lik = search.cv_results_["mean_test_log_lik"]

    print(f"\n## {name} ({len(y)} samples)\n")
    print("| K | logLik | parameters | BIC | AIC | CV RMSE | CV logLik per sample |")
    print("|---|---|---|---|---|---|---|")
    for k, (log_likelihood, n_parameters, bic, aic), rmse, log_lik in zip(
        N_EXPERTS, rows, cv_rmse, cv_log_lik
    ):
        print(
            f"| {k} | {log_likelihood:.1f} | {n_parameters:.0f} | {bic:.1f} | "
            f"{aic:.1f} | {rmse:.3g} | {log_lik:.3f} |"
        )
    rows = np.array(rows)
    choices = {
        "BIC": N_EXPERTS[np.argmin(rows[:, 2])],
        "AIC": N_EXPERTS[np.argmin(rows[:, 3])],
        "GridSearchCV, RMSE": search.best_params_["n_experts"],
        "GridSearchCV, held-out logLik": N_EXPERTS[np.argmax(cv_log_lik)],
    }
    print(
        "\nnumber of experts chosen by "
        + "; ".join(f"{criterion}: {k}" for criterion, k in choices.items())
    )
    return choices


def main():
    select("mcycle", *load_mcycle(return_X_y=True))
    X, y = load_npreg(return_X_y=True)
    select("NPreg, features x and x^2", np.hstack([X, X**2]), y)


if __name__ == "__main__":
    main()
