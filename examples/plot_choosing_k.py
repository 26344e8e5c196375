"""
Choosing the number of experts: BIC, AIC and cross-validation
=============================================================

For K = 1 to 6 linear experts on the motorcycle data,
:func:`~skmoe.select_n_experts` fits one mixture per K and computes BIC and
AIC on the training data (lower is better; flexmix's ``stepFlexmix``), and
:class:`~sklearn.model_selection.GridSearchCV` scores each K by its held-out
log-likelihood per sample (5 folds; higher is better). BIC needs one fit
per K, cross-validation one per K and fold, but also works for experts
whose parameters BIC cannot count. ``examples/select_n_experts.py`` prints
the same comparison as tables, on mcycle and NPreg.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, KFold

from skmoe import MixtureOfExpertsRegressor, select_n_experts
from skmoe.datasets import load_mcycle

N_EXPERTS = [1, 2, 3, 4, 5, 6]


def held_out_log_likelihood(estimator, X, y):
    """Mean log p(y | x) on held-out data (higher is better)."""
    return estimator.log_likelihood(X, y).mean()


X, y = load_mcycle(return_X_y=True)
# max_iter above the default: with 5 or 6 experts on 133 samples some runs
# need a few hundred iterations to converge.
mixture = MixtureOfExpertsRegressor(n_init=3, max_iter=500, random_state=0)
best, results = select_n_experts(mixture, X, y, N_EXPERTS, criterion="bic")
search = GridSearchCV(
    mixture,
    {"n_experts": N_EXPERTS},
    scoring=held_out_log_likelihood,
    cv=KFold(5, shuffle=True, random_state=0),
).fit(X, y)
cv_log_lik = search.cv_results_["mean_test_score"]
print(results[["log_likelihood", "n_parameters", "bic", "aic"]].round(1))
print(
    f"chosen: BIC {results['bic'].idxmin()}, AIC {results['aic'].idxmin()}, "
    f"cross-validated log-likelihood {N_EXPERTS[int(np.argmax(cv_log_lik))]}"
)

# %%
# Left, the information criteria; right, the held-out log-likelihood. The
# markers show each criterion's choice.

fig, (ax_ic, ax_cv) = plt.subplots(1, 2, figsize=(11, 4.5))
for name in ("bic", "aic"):
    ax_ic.plot(N_EXPERTS, results[name], marker="o", label=name.upper())
    best_k = results[name].idxmin()
    ax_ic.plot(best_k, results[name][best_k], "k*", markersize=14)
ax_ic.set_xlabel("number of experts K")
ax_ic.set_ylabel("criterion (lower is better)")
ax_ic.legend()
ax_cv.plot(N_EXPERTS, cv_log_lik, marker="o", color="tab:green")
best_k = int(np.argmax(cv_log_lik))
ax_cv.plot(N_EXPERTS[best_k], cv_log_lik[best_k], "k*", markersize=14)
ax_cv.set_xlabel("number of experts K")
ax_cv.set_ylabel("held-out log-likelihood per sample")
fig.suptitle("Choosing K on the motorcycle data")
fig.tight_layout()
plt.show()
