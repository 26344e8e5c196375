"""The motorcycle data with four linear experts: who handles which phase.

Fits MixtureOfExpertsRegressor on the motorcycle crash data and saves
``mcycle_experts.png``: each expert's line (thicker where the gate trusts it),
the gate along time, the mixture's predictive band (mean +- 2 standard
deviations from ``predict(return_std=True)``) and the convergence curve.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skmoe import MixtureOfExpertsRegressor  # noqa: E402
from skmoe.datasets import load_mcycle  # noqa: E402
from skmoe.plotting import plot_convergence, plot_experts, plot_gate  # noqa: E402

X, y = load_mcycle(return_X_y=True)
moe = MixtureOfExpertsRegressor(n_experts=4, n_init=10, random_state=0).fit(X, y)

fig, axes = plt.subplots(2, 2, figsize=(11, 8))
plot_experts(moe, X, y, ax=axes[0, 0])
axes[0, 0].set_title("Experts (line width: gate probability)")

grid = np.linspace(X.min(), X.max(), 400)[:, None]
mean, std = moe.predict(grid, return_std=True)
ax = axes[0, 1]
ax.scatter(X[:, 0], y, s=10, color="black")
ax.plot(grid[:, 0], mean, color="tab:red", label="mixture mean")
ax.fill_between(
    grid[:, 0],
    mean - 2 * std,
    mean + 2 * std,
    color="tab:red",
    alpha=0.2,
    label="mean +- 2 std",
)
ax.set_title("Predictive distribution")
ax.set_xlabel("time after impact (ms)")
ax.set_ylabel("head acceleration (g)")
ax.legend()

plot_gate(moe, X, ax=axes[1, 0])
axes[1, 0].set_title("Gate along time")
plot_convergence(moe, ax=axes[1, 1])

fig.tight_layout()
fig.savefig("mcycle_experts.png", dpi=100)
print(
    f"log-likelihood {moe.log_likelihood_:.2f}, experts' shares "
    f"{np.round(moe.expert_weights_, 2)}; saved mcycle_experts.png"
)
