"""
Gates for a curved regime boundary
==================================

Two linear regimes split by a disc, :math:`x_0^2 + x_1^2 < 1`: inside,
:math:`y = 2 x_0 + 1`; outside, :math:`y = -x_1 - 1` (noise sd 0.2). The
built-in softmax gate can only draw straight boundaries, so it cannot
separate the regimes. :class:`skmoe.SplineGate`, a softmax of additive
splines of the features, draws the disc (it is additive in
:math:`x_0^2` and :math:`x_1^2`), and so does :class:`skmoe.MLPGate`, a
small neural network trained on the responsibilities.
"""

import matplotlib.pyplot as plt
import numpy as np

from skmoe import MixtureOfExpertsRegressor, MLPGate, SplineGate
from skmoe.plotting import plot_gate

rng = np.random.RandomState(0)
X = rng.uniform(-2, 2, size=(2000, 2))
inside = (X**2).sum(axis=1) < 1
y = np.where(inside, 2 * X[:, 0] + 1, -X[:, 1] - 1) + 0.2 * rng.randn(2000)

models = {
    "built-in softmax gate": MixtureOfExpertsRegressor(n_experts=2, random_state=0),
    "SplineGate()": MixtureOfExpertsRegressor(
        n_experts=2, gate=SplineGate(), random_state=0
    ),
    "MLPGate(hidden_layer_sizes=(16,))": MixtureOfExpertsRegressor(
        n_experts=2,
        gate=MLPGate(hidden_layer_sizes=(16,), random_state=0),
        random_state=0,
    ),
}
for name, model in models.items():
    model.fit(X, y)
    print(
        f"{name}: log-likelihood {model.log_likelihood_:.1f}, "
        f"R^2 {model.score(X, y):.2f}, {model.n_iter_} EM iterations"
    )

# %%
# The gate of each model over the plane (colour: the most trusted expert),
# with the true disc drawn in black.

fig, axes = plt.subplots(1, 3, figsize=(15, 5))
angle = np.linspace(0, 2 * np.pi, 200)
for ax, (name, model) in zip(axes, models.items()):
    plot_gate(model, X, features=(0, 1), ax=ax)
    ax.plot(np.cos(angle), np.sin(angle), color="black")
    ax.set_title(name)
fig.tight_layout()
plt.show()
