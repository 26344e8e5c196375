r"""
Predictive bands and the predictive density
===========================================

A mixture of experts models the whole conditional distribution
:math:`p(y \mid x)`. ``predict(X, return_std=True)`` gives its mean and
standard deviation; ``predict_interval`` and ``predict_quantiles`` invert the
mixture's distribution function, and
:func:`~skmoe.plotting.plot_predictive` draws the interval over the
predictive density.

On the motorcycle data one expert dominates at each time, so mean +- 2
standard deviations is a fair band whose width follows the noise of each
phase. On the tone data two regimes overlap over the same x (most answers
near 2, others on the identity line): the density has two modes, the band
around the mean covers the gap between them, where no data lie, and the
quantile interval follows the modes instead.
"""

import matplotlib.pyplot as plt
import numpy as np

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import load_mcycle, load_tone
from skmoe.plotting import plot_predictive


def draw(ax_band, ax_quantiles, moe, X, y, xlabel, ylabel):
    """The mean +- 2 std band; the 90% interval over the predictive density."""
    grid_x = np.linspace(X.min(), X.max(), 200)
    mean, std = moe.predict(grid_x[:, None], return_std=True)
    ax_band.scatter(X[:, 0], y, s=8, color="black", zorder=3)
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
    plot_predictive(moe, X, y, coverage=0.9, ax=ax_quantiles)
    for ax in (ax_band, ax_quantiles):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)


X_mcycle, y_mcycle = load_mcycle(return_X_y=True)
mcycle = MixtureOfExpertsRegressor(n_experts=4, n_init=10, random_state=0)
mcycle.fit(X_mcycle, y_mcycle)
X_tone, y_tone = load_tone(return_X_y=True)
tone = MixtureOfExpertsRegressor(n_experts=2, n_init=5, random_state=0)
tone.fit(X_tone, y_tone)
for name, moe, X, y in [
    ("mcycle", mcycle, X_mcycle, y_mcycle),
    ("tone", tone, X_tone, y_tone),
]:
    interval = moe.predict_interval(X, coverage=0.9)
    covered = np.mean((interval[:, 0] <= y) & (y <= interval[:, 1]))
    print(f"{name}: 90% intervals hold {covered:.0%} of the training targets")
print(
    f"held-in log-likelihood per sample: mcycle "
    f"{mcycle.log_likelihood(X_mcycle, y_mcycle).mean():.3f}, "
    f"tone {tone.log_likelihood(X_tone, y_tone).mean():.3f}"
)

# %%
# Top: the motorcycle data; bottom: the tone data. Left, the mean +- 2 std
# band; right, the 90% interval and the median over the density
# :math:`p(y \mid x)`, scaled to its maximum at each x (darker is more
# probable).

fig, axes = plt.subplots(2, 2, figsize=(11, 8))
draw(*axes[0], mcycle, X_mcycle, y_mcycle, "time (ms)", "acceleration (g)")
draw(*axes[1], tone, X_tone, y_tone, "stretch ratio", "perceived tuning")
axes[0, 0].set_title("mean +- 2 standard deviations")
axes[0, 1].set_title("90% interval over the predictive density")
fig.tight_layout()
plt.show()
