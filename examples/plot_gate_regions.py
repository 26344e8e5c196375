"""Gate regions of a mixture of logistic experts on 2-D classification data.

Three regimes, each with its own linear decision boundary, are chosen by a
gate over the plane. The mixture recovers the regimes; ``plot_gate`` shows
where each expert is trusted. Saves ``gate_regions.png``.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from skmoe import MixtureOfExpertsClassifier  # noqa: E402
from skmoe.datasets import make_moe_classification  # noqa: E402
from skmoe.plotting import plot_gate  # noqa: E402

X, y = make_moe_classification(
    n_samples=2000,
    n_experts=3,
    expert_sharpness=8.0,
    random_state=0,
)
clf = MixtureOfExpertsClassifier(n_experts=3, n_init=5, random_state=0).fit(X, y)
single = LogisticRegression().fit(X, y)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
plot_gate(clf, X, ax=axes[0])
axes[0].set_title("Gate: the most trusted expert (shade: confidence)")
axes[1].scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=8)
axes[1].set_title(
    f"Labels; accuracy: mixture {clf.score(X, y):.3f}, "
    f"single logistic {single.score(X, y):.3f}"
)
fig.tight_layout()
fig.savefig("gate_regions.png", dpi=100)
print(
    f"accuracy {clf.score(X, y):.3f} (single logistic {single.score(X, y):.3f}); "
    f"saved gate_regions.png"
)
