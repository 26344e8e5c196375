"""
Mixtures of experts beside bagging, boosting and stacking
=========================================================

Cross-validated scores and fit / predict times on data with regimes (mcycle,
tone, NPreg, make_moe_regression, make_moe_classification), on Friedman's
first benchmark function and on scikit-learn's bundled data sets (diabetes,
breast cancer, digits). Prints one markdown table per task type and draws
each model's error relative to the best model on each data set.

Run ``python examples/compare_ensembles.py`` (a few minutes on 2 cores) or
``--quick`` (under a minute: mcycle, the sharp synthetic regimes, friedman1,
make_moe_classification and breast cancer only; 3 folds, 50 trees per
forest, stacking with 2 internal folds instead of 5 folds, 100 trees and 3).
Every model runs on one thread (``--threads``), so that fit times compare
like with like; two folds are fitted at once (``--n-jobs``).
"""

import argparse
import os
import time
import warnings

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_diabetes,
    load_digits,
    make_friedman1,
)
from sklearn.ensemble import (  # noqa: E402
    BaggingClassifier,
    BaggingRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingClassifier,
    StackingRegressor,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV  # noqa: E402
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor  # noqa: E402
from skmoe.datasets import (  # noqa: E402
    load_mcycle,
    load_npreg,
    load_tone,
    make_moe_classification,
    make_moe_regression,
)

# The mixtures of tree experts stop after a fixed 30 EM iterations (below):
# trees refit in discrete jumps, and EM with them settles within tens of
# iterations but rarely meets a tight tolerance. Only their warning is
# ignored; any other mixture that does not converge still warns.
warnings.filterwarnings(
    "ignore",
    message="EM did not converge in max_iter=30 ",
    category=ConvergenceWarning,
)

N_SYNTHETIC = 2000


def regression_data(quick):
    X, y = load_npreg(return_X_y=True)
    data = {
        "mcycle": load_mcycle(return_X_y=True),
        # Gated linear regimes with sharp boundaries (gate_sharpness 50): the
        # true model predicts with an RMSE of 0.69 against a noise sd of 0.5
        # (benchmarks/moe_regression_floor.py).
        "moe_reg, sharpness 50": make_moe_regression(
            n_samples=N_SYNTHETIC,
            n_features=4,
            n_experts=4,
            noise=0.5,
            gate_sharpness=50.0,
            random_state=0,
        ),
        "friedman1": make_friedman1(n_samples=N_SYNTHETIC, noise=1.0, random_state=0),
    }
    if not quick:
        data["tone"] = load_tone(return_X_y=True)
        data["NPreg"] = (np.hstack([X, X**2]), y)
        # The same regimes under the generator's default gate (sharpness 5):
        # they overlap and each sample's regime is drawn from the gate, so
        # even the true model predicts with an RMSE of 2.11.
        data["moe_reg, sharpness 5"] = make_moe_regression(
            n_samples=N_SYNTHETIC,
            n_features=4,
            n_experts=4,
            noise=0.5,
            gate_sharpness=5.0,
            random_state=0,
        )
        data["diabetes"] = load_diabetes(return_X_y=True)
    return data


def classification_data(quick):
    data = {
        "moe_classification": make_moe_classification(
            n_samples=N_SYNTHETIC,
            n_features=4,
            n_experts=3,
            expert_sharpness=6.0,
            random_state=0,
        ),
        "breast_cancer": load_breast_cancer(return_X_y=True),
    }
    if not quick:
        data["digits"] = load_digits(return_X_y=True)
    return data


def settings(quick):
    """One set of sizes per model family, the same on every data set."""
    return {
        "folds": 3 if quick else 5,
        "trees": 50 if quick else 100,  # bagging, forests, stacking's forest
        "stacking_cv": 2 if quick else 3,
        "n_init": 3,  # restarts of the mixtures of linear experts
        # Logistic experts cost about 30 ms per EM iteration at n = 2000 and
        # 5 s per fit on digits: one start.
        "n_init_logistic": 1,
        "tree_em_iter": 30,
    }


def regressors(quick=False):
    s = settings(quick)
    scaled = lambda model: make_pipeline(StandardScaler(), model)  # noqa: E731
    # max_iter above the default 100: on some folds EM needs a few hundred
    # iterations to meet tol.
    linear_moe = lambda k: MixtureOfExpertsRegressor(  # noqa: E731
        n_experts=k, n_init=s["n_init"], max_iter=500, random_state=0
    )
    return {
        "MoE, 4 linear experts": linear_moe(4),
        "MoE, 8 linear experts": linear_moe(8),
        # Tree experts refit in discrete jumps: EM settles within tens of
        # iterations but rarely meets a tight tolerance.
        "MoE, 4 tree experts": MixtureOfExpertsRegressor(
            DecisionTreeRegressor(max_depth=3),
            n_experts=4,
            max_iter=s["tree_em_iter"],
            random_state=0,
        ),
        "linear": LinearRegression(),
        "bagging (trees)": BaggingRegressor(n_estimators=s["trees"], random_state=0),
        "random forest": RandomForestRegressor(n_estimators=s["trees"], random_state=0),
        "gradient boosting": GradientBoostingRegressor(random_state=0),
        "hist gradient boosting": HistGradientBoostingRegressor(random_state=0),
        "stacking": StackingRegressor(
            [
                ("ridge", scaled(RidgeCV())),
                (
                    "forest",
                    RandomForestRegressor(n_estimators=s["trees"], random_state=0),
                ),
                ("hgb", HistGradientBoostingRegressor(random_state=0)),
            ],
            final_estimator=RidgeCV(),
            # Shuffled, as the outer folds are: mcycle is sorted by time, and
            # unshuffled inner folds would ask the base models to extrapolate.
            cv=KFold(s["stacking_cv"], shuffle=True, random_state=0),
        ),
    }


def classifiers(quick=False):
    s = settings(quick)
    scaled = lambda model: make_pipeline(StandardScaler(), model)  # noqa: E731
    return {
        "MoE, 3 logistic experts": scaled(
            MixtureOfExpertsClassifier(
                n_experts=3,
                n_init=s["n_init_logistic"],
                max_iter=500,
                random_state=0,
            )
        ),
        "MoE, 3 tree experts": MixtureOfExpertsClassifier(
            DecisionTreeClassifier(max_depth=3),
            n_experts=3,
            max_iter=s["tree_em_iter"],
            random_state=0,
        ),
        "logistic": scaled(LogisticRegression(max_iter=1000)),
        "bagging (trees)": BaggingClassifier(n_estimators=s["trees"], random_state=0),
        "random forest": RandomForestClassifier(
            n_estimators=s["trees"], random_state=0
        ),
        "gradient boosting": GradientBoostingClassifier(random_state=0),
        "hist gradient boosting": HistGradientBoostingClassifier(random_state=0),
        "stacking": StackingClassifier(
            [
                ("logistic", scaled(LogisticRegression(max_iter=1000))),
                (
                    "forest",
                    RandomForestClassifier(n_estimators=s["trees"], random_state=0),
                ),
                ("hgb", HistGradientBoostingClassifier(random_state=0)),
            ],
            final_estimator=LogisticRegression(max_iter=1000),
            cv=StratifiedKFold(s["stacking_cv"], shuffle=True, random_state=0),
        ),
    }


def compare(models, datasets, cv, scoring, label, n_jobs):
    results = {}
    for data_name, (X, y) in datasets.items():
        for model_name, model in models.items():
            scores = cross_validate(model, X, y, cv=cv, scoring=scoring, n_jobs=n_jobs)
            results[data_name, model_name] = (
                -scores["test_score"].mean()
                if scoring.startswith("neg_")
                else scores["test_score"].mean(),
                scores["fit_time"].mean(),
                scores["score_time"].mean(),
            )
    lower_is_better = scoring.startswith("neg_")
    pick = min if lower_is_better else max
    best = {d: pick(results[d, m][0] for m in models) for d in datasets}
    print(f"\n## {label}\n")
    print("| model | " + " | ".join(datasets) + " | mean fit s | mean predict s |")
    print("|---|" + "---|" * (len(datasets) + 2))
    for model_name in models:
        cells = [
            f"**{results[d, model_name][0]:.3g}**"
            if results[d, model_name][0] == best[d]
            else f"{results[d, model_name][0]:.3g}"
            for d in datasets
        ]
        fit = np.mean([results[d, model_name][1] for d in datasets])
        predict = np.mean([results[d, model_name][2] for d in datasets])
        print(
            f"| {model_name} | " + " | ".join(cells) + f" | {fit:.2f} | {predict:.3f} |"
        )
    return results


def limit_threads(n_threads):
    """One thread count for BLAS, OpenMP (HistGradientBoosting) and numba.

    Here through threadpoolctl and numba; in the cross-validation workers,
    which start later, through the environment they inherit.
    """
    for name in [
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
    ]:
        os.environ[name] = str(n_threads)
    threadpool_limits(n_threads)
    try:
        import numba
    except ImportError:
        return
    numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))


def main():
    parser = argparse.ArgumentParser(
        description="Mixtures of experts beside bagging, boosting and stacking"
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per model (default 1)"
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=2,
        help="cross-validation folds fitted at once (default 2)",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    limit_threads(args.threads)
    s = settings(args.quick)
    folds = s["folds"]
    print(
        f"{folds}-fold cross-validation, {args.n_jobs} fold(s) at once; "
        f"{args.threads} thread(s) per model; "
        f"{s['trees']} trees in bagging, forests and stacking's forest; "
        f"stacking: ridge / logistic + forest + hist gradient boosting, "
        f"{s['stacking_cv']} internal folds; boosting: scikit-learn defaults; "
        f"mixtures of linear experts: n_init={s['n_init']}, of logistic "
        f"experts: n_init={s['n_init_logistic']}; "
        f"mixtures of depth-3 trees: max_iter={s['tree_em_iter']}. "
        f"Synthetic data: n={N_SYNTHETIC}; moe_reg: 4 features, 4 regimes, "
        "noise sd 0.5; friedman1: noise sd 1."
    )
    reg_data = regression_data(args.quick)
    clf_data = classification_data(args.quick)
    reg = compare(
        regressors(args.quick),
        reg_data,
        KFold(folds, shuffle=True, random_state=0),
        "neg_root_mean_squared_error",
        "Regression: cross-validated RMSE (lower is better)",
        args.n_jobs,
    )
    clf = compare(
        classifiers(args.quick),
        clf_data,
        StratifiedKFold(folds, shuffle=True, random_state=0),
        "accuracy",
        "Classification: cross-validated accuracy (higher is better)",
        args.n_jobs,
    )
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    # Errors (RMSE, 1 - accuracy) relative to the best model on each data set.
    errors = [
        {key: value[0] for key, value in reg.items()},
        {key: 1 - value[0] for key, value in clf.items()},
    ]
    for ax, error, datasets, models, title in [
        (
            axes[0],
            errors[0],
            reg_data,
            regressors(args.quick),
            "RMSE relative to the best model",
        ),
        (
            axes[1],
            errors[1],
            clf_data,
            classifiers(args.quick),
            "error rate relative to the best",
        ),
    ]:
        width = 0.8 / len(models)
        for m, model_name in enumerate(models):
            values = [
                error[d, model_name]
                / max(min(error[d, name] for name in models), 1e-12)
                for d in datasets
            ]
            ax.bar(
                np.arange(len(datasets)) + m * width, values, width, label=model_name
            )
        ax.set_xticks(np.arange(len(datasets)) + 0.4 - width / 2)
        ax.set_xticklabels(list(datasets), rotation=20)
        ax.set_title(title)
        ax.axhline(1.0, color="black", linewidth=0.5)
        ax.legend(fontsize=7)
    fig.tight_layout()
    print(f"\n{time.perf_counter() - start:.0f} s")
    plt.show()


if __name__ == "__main__":
    main()
