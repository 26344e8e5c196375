r"""
Predictive bands and the predictive density
===========================================

A mixture of experts models the whole conditional distribution
:math:`p(y \mid x)`. ``predict(X, return_std=True)`` gives its mean and
standard deviation; :meth:`~skmoe.MixtureOfExpertsRegressor.log_likelihood`
evaluated on a grid of :math:`(x, y)` draws the density itself.

On the motorcycle data one expert dominates at each time, so mean +- 2
standard deviations is a fair band whose width follows the noise of each
phase. On the tone data two regimes overlap over the same x (most answers
near 2, others on the identity line): the density has two modes, and the band
around the mean covers the gap between them, where no data lie.
"""

import matplotlib.pyplot as plt
import numpy as np

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import load_mcycle, load_tone


def draw(ax_band, ax_density, moe, X, y, xlabel, ylabel):
    """The mean +- 2 std band, and the predictive density on a grid."""
    grid_x = np.linspace(X.min(), X.max(), 200)
    mean, std = moe.predict(grid_x[:, None], return_std=True)
    for ax in (ax_band, ax_density):
        ax.scatter(X[:, 0], y, s=8, color="black", zorder=3)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    ax_band.plot(grid_x, mean, color="tab:red", label="mean")
    ax_band.fill_between(
        grid_x,
        mean - 2 * std,
        mean + 2 * std,
        color="tab:red",
        alpha=0.2,
        label="mean +- 2 std",
    )
    ax_band.legend(loc="lower right")

    span = y.max() - y.min()
    grid_y = np.linspace(y.min() - 0.1 * span, y.max() + 0.1 * span, 200)
    xx, yy = np.meshgrid(grid_x, grid_y)
    density = np.exp(moe.log_likelihood(xx.reshape(-1, 1), yy.ravel()))
    density = density.reshape(xx.shape)
    # Scaled to its maximum at each x: the near-noiseless phases would
    # otherwise outshine the rest.
    density /= density.max(axis=0, keepdims=True)
    ax_density.pcolormesh(xx, yy, density, cmap="Blues", shading="auto")


X_mcycle, y_mcycle = load_mcycle(return_X_y=True)
mcycle = MixtureOfExpertsRegressor(n_experts=4, n_init=10, random_state=0)
mcycle.fit(X_mcycle, y_mcycle)
X_tone, y_tone = load_tone(return_X_y=True)
tone = MixtureOfExpertsRegressor(n_experts=2, n_init=5, random_state=0)
tone.fit(X_tone, y_tone)
print(
    f"held-in log-likelihood per sample: mcycle "
    f"{mcycle.log_likelihood(X_mcycle, y_mcycle).mean():.3f}, "
    f"tone {tone.log_likelihood(X_tone, y_tone).mean():.3f}"
)

# %%
# Top: the motorcycle data; bottom: the tone data. Left, the band; right,
# the density :math:`p(y \mid x)`, scaled to its maximum at each x (darker
# is more probable).

fig, axes = plt.subplots(2, 2, figsize=(11, 8))
draw(*axes[0], mcycle, X_mcycle, y_mcycle, "time (ms)", "acceleration (g)")
draw(*axes[1], tone, X_tone, y_tone, "stretch ratio", "perceived tuning")
axes[0, 0].set_title("mean +- 2 standard deviations")
axes[0, 1].set_title("predictive density")
fig.tight_layout()
plt.show()
