"""Mixtures of experts beside bagging, boosting and stacking.

Cross-validated scores and fit / predict times on data with regimes (mcycle,
tone, NPreg, make_moe_regression, make_moe_classification) and on
scikit-learn's bundled data sets (diabetes, breast cancer, digits). Prints
one markdown table per task type and saves ``compare_ensembles.png``.

Run ``python examples/compare_ensembles.py`` (``--quick``: fewer data sets,
3 folds).
"""

import argparse
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: E402
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

from skmoe import MixtureOfExpertsClassifier, MixtureOfExpertsRegressor  # noqa: E402
from skmoe.datasets import (  # noqa: E402
    load_mcycle,
    load_npreg,
    load_tone,
    make_moe_classification,
    make_moe_regression,
)

warnings.simplefilter("ignore", ConvergenceWarning)


def regression_data(quick):
    X, y = load_npreg(return_X_y=True)
    data = {
        "mcycle": load_mcycle(return_X_y=True),
        "tone": load_tone(return_X_y=True),
        "NPreg": (np.hstack([X, X**2]), y),
        "moe_regression": make_moe_regression(
            n_samples=2000, n_features=4, n_experts=4, noise=0.5, random_state=0
        ),
    }
    if not quick:
        data["diabetes"] = load_diabetes(return_X_y=True)
    return data


def classification_data(quick):
    data = {
        "moe_classification": make_moe_classification(
            n_samples=2000,
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


def regressors(quick=False):
    scaled = lambda model: make_pipeline(StandardScaler(), model)  # noqa: E731
    return {
        "MoE, 4 linear experts": MixtureOfExpertsRegressor(
            n_experts=4, n_init=3 if quick else 5, random_state=0
        ),
        # Tree experts refit in discrete jumps: EM settles within tens of
        # iterations but rarely meets a tight tolerance.
        "MoE, 4 tree experts": MixtureOfExpertsRegressor(
            DecisionTreeRegressor(max_depth=3), n_experts=4, max_iter=30, random_state=0
        ),
        "linear": LinearRegression(),
        "bagging (trees)": BaggingRegressor(n_estimators=50, random_state=0),
        "random forest": RandomForestRegressor(n_estimators=100, random_state=0),
        "gradient boosting": GradientBoostingRegressor(random_state=0),
        "hist gradient boosting": HistGradientBoostingRegressor(random_state=0),
        "stacking": StackingRegressor(
            [
                ("ridge", scaled(RidgeCV())),
                ("forest", RandomForestRegressor(n_estimators=100, random_state=0)),
                ("hgb", HistGradientBoostingRegressor(random_state=0)),
            ],
            final_estimator=RidgeCV(),
        ),
    }


def classifiers(quick=False):
    scaled = lambda model: make_pipeline(StandardScaler(), model)  # noqa: E731
    return {
        "MoE, 3 logistic experts": scaled(
            MixtureOfExpertsClassifier(
                n_experts=3, n_init=1 if quick else 2, random_state=0
            )
        ),
        "MoE, 3 tree experts": MixtureOfExpertsClassifier(
            DecisionTreeClassifier(max_depth=3),
            n_experts=3,
            max_iter=30,
            random_state=0,
        ),
        "logistic": scaled(LogisticRegression(max_iter=1000)),
        "bagging (trees)": BaggingClassifier(n_estimators=50, random_state=0),
        "random forest": RandomForestClassifier(n_estimators=100, random_state=0),
        "gradient boosting": GradientBoostingClassifier(random_state=0),
        "hist gradient boosting": HistGradientBoostingClassifier(random_state=0),
        "stacking": StackingClassifier(
            [
                ("logistic", scaled(LogisticRegression(max_iter=1000))),
                ("forest", RandomForestClassifier(n_estimators=100, random_state=0)),
                ("hgb", HistGradientBoostingClassifier(random_state=0)),
            ],
            final_estimator=LogisticRegression(max_iter=1000),
        ),
    }


def compare(models, datasets, cv, scoring, label):
    results = {}
    for data_name, (X, y) in datasets.items():
        for model_name, model in models.items():
            scores = cross_validate(model, X, y, cv=cv, scoring=scoring)
            results[data_name, model_name] = (
                -scores["test_score"].mean()
                if scoring.startswith("neg_")
                else scores["test_score"].mean(),
                scores["fit_time"].mean(),
                scores["score_time"].mean(),
            )
    print(f"\n## {label}\n")
    names = list(models)
    print("| model | " + " | ".join(datasets) + " | mean fit s | mean predict s |")
    print("|---|" + "---|" * (len(datasets) + 2))
    for model_name in names:
        cells = [f"{results[d, model_name][0]:.3g}" for d in datasets]
        fit = np.mean([results[d, model_name][1] for d in datasets])
        predict = np.mean([results[d, model_name][2] for d in datasets])
        print(
            f"| {model_name} | " + " | ".join(cells) + f" | {fit:.2f} | {predict:.3f} |"
        )
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    folds = 3 if args.quick else 5
    reg_data = regression_data(args.quick)
    clf_data = classification_data(args.quick)
    reg = compare(
        regressors(args.quick),
        reg_data,
        KFold(folds, shuffle=True, random_state=0),
        "neg_root_mean_squared_error",
        "Regression: cross-validated RMSE (lower is better)",
    )
    clf = compare(
        classifiers(args.quick),
        clf_data,
        StratifiedKFold(folds, shuffle=True, random_state=0),
        "accuracy",
        "Classification: cross-validated accuracy (higher is better)",
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
            classifiers(),
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
    fig.savefig("compare_ensembles.png", dpi=100)
    print("\nsaved compare_ensembles.png")


if __name__ == "__main__":
    main()
