"""
Experts on the motorcycle data: who handles which phase
=======================================================

Head acceleration after a simulated motorcycle crash, against time: a flat
phase, a sharp dip, a rebound and a noisy tail. A mixture of four linear
experts gives each phase to one expert. The figure shows each expert's line
(thicker where the gate trusts it, :func:`~skmoe.plotting.plot_experts`),
the mixture's predictive band (mean +- 2 standard deviations from
``predict(return_std=True)``), the gate along time
(:func:`~skmoe.plotting.plot_gate`) and the log-likelihood at each EM
iteration (:func:`~skmoe.plotting.plot_convergence`).
"""

import matplotlib.pyplot as plt
import numpy as np

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import load_mcycle
from skmoe.plotting import plot_convergence, plot_experts, plot_gate

X, y = load_mcycle(return_X_y=True)
moe = MixtureOfExpertsRegressor(n_experts=4, n_init=10, random_state=0).fit(X, y)
print(
    f"log-likelihood {moe.log_likelihood_:.2f} after {moe.n_iter_} iterations; "
    f"experts' shares {np.round(moe.expert_weights_, 2)}; "
    f"noise sd {np.round(np.sqrt(moe.noise_variance_), 1)}"
)

# %%
# The flat phase before the impact is almost noiseless: its expert has a
# noise standard deviation near 1 g, the others about 20 g.

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
plt.show()
