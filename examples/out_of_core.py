"""
Out-of-core training: a mixture of SGD experts fitted on a stream of chunks
===========================================================================

The data arrive in chunks (here: slices of a large array; in practice, files
or a database cursor). ``partial_fit`` runs one step of online EM per chunk:
the experts take one ``partial_fit`` step on the chunk's responsibilities,
and the gate and noise variances move towards the chunk's estimates. The
held-out log-likelihood approaches that of a batch fit on all the data.
"""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_regression

warnings.simplefilter("ignore", ConvergenceWarning)

X, y = make_moe_regression(n_samples=220_000, n_experts=3, noise=0.3, random_state=0)
X_test, y_test = X[200_000:], y[200_000:]

online = MixtureOfExpertsRegressor(
    SGDRegressor(random_state=0), n_experts=3, random_state=0
)
for epoch in range(2):
    for start in range(0, 200_000, 10_000):
        online.partial_fit(X[start : start + 10_000], y[start : start + 10_000])
    held_out = online.log_likelihood(X_test, y_test).mean()
    print(f"epoch {epoch + 1}: held-out log-likelihood per sample {held_out:.4f}")

batch = MixtureOfExpertsRegressor(
    SGDRegressor(random_state=0), n_experts=3, max_iter=30, random_state=0
).fit(X[:200_000], y[:200_000])
print(f"batch fit on all the data: {batch.log_likelihood(X_test, y_test).mean():.4f}")
print(
    f"R^2 on held-out data: online {online.score(X_test, y_test):.4f}, "
    f"batch {batch.score(X_test, y_test):.4f}"
)
