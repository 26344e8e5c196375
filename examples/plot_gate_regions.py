"""
Gate regions of a mixture of logistic experts
=============================================

Three regimes over the plane, each with its own linear decision boundary,
are chosen by a gate. A mixture of three logistic experts recovers the
regimes: :func:`~skmoe.plotting.plot_gate` shades the region where each
expert is the most trusted (darker where the gate is more confident), and
colours the samples by :meth:`~skmoe.MixtureOfExpertsClassifier.apply`.
One logistic regression, with a single boundary, cannot follow the labels.
"""

import matplotlib.pyplot as plt
from sklearn.linear_model import LogisticRegression

from skmoe import MixtureOfExpertsClassifier
from skmoe.datasets import make_moe_classification
from skmoe.plotting import plot_gate

X, y = make_moe_classification(
    n_samples=2000,
    n_experts=3,
    expert_sharpness=8.0,
    random_state=0,
)
# The gate sharpens slowly on these clean labels: EM converges after about
# 150 iterations, so max_iter is raised above the default 100.
clf = MixtureOfExpertsClassifier(
    n_experts=3, n_init=5, max_iter=300, random_state=0
).fit(X, y)
single = LogisticRegression().fit(X, y)
print(
    f"training accuracy: mixture {clf.score(X, y):.3f}, "
    f"single logistic {single.score(X, y):.3f}; "
    f"EM converged after {clf.n_iter_} iterations"
)

# %%
# Left, the gate; right, the labels.

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
plot_gate(clf, X, ax=axes[0])
axes[0].set_title("Gate: the most trusted expert (shade: confidence)")
axes[1].scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=8)
axes[1].set_title(
    f"Labels; accuracy: mixture {clf.score(X, y):.3f}, "
    f"single logistic {single.score(X, y):.3f}"
)
axes[1].set_xlabel("feature 0")
axes[1].set_ylabel("feature 1")
fig.tight_layout()
plt.show()
