"""
What sparse routing saves
=========================

Eight k-nearest-neighbour experts (costly to evaluate: each prediction
searches the expert's training samples) on data with 8 gated regimes.

At prediction time, ``top_k=k`` sends each sample to its k most trusted
experts only; the others never see it (``set_params(top_k=...)`` after
fitting). The mixture is trained with ``routing="hard"``, which trains each
expert only on the samples it is most responsible for (classification EM),
as ``benchmarks/bench_routing.py`` does.

Times are the best of three runs on the machine that built this page;
``benchmarks/bench_routing.py`` is the larger benchmark (20,000 rows).
"""

import timeit

import matplotlib.pyplot as plt
from sklearn.metrics import root_mean_squared_error
from sklearn.neighbors import KNeighborsRegressor

from skmoe import MixtureOfExpertsRegressor
from skmoe.datasets import make_moe_regression

n, K = 5000, 8
X, y = make_moe_regression(n_samples=2 * n, n_features=10, n_experts=K, random_state=0)
X_train, y_train, X_test, y_test = X[:n], y[:n], X[n:], y[n:]


def best_of(function, repeat=3):
    """Fastest of ``repeat`` runs, in seconds."""
    return min(timeit.repeat(function, number=1, repeat=repeat))


# Neighbour experts refit in discrete jumps, so EM meets a loose tolerance
# (1e-3 on the mean log-likelihood) but not the default 1e-5.
moe = MixtureOfExpertsRegressor(
    KNeighborsRegressor(n_neighbors=10),
    n_experts=K,
    routing="hard",
    tol=1e-3,
    random_state=0,
).fit(X_train, y_train)
print(f"fitted in {moe.n_iter_} EM iterations")

predict_seconds, rmse = {}, {}
for top_k in (None, 2, 1):
    moe.set_params(top_k=top_k)
    predict_seconds[top_k] = best_of(lambda: moe.predict(X_test))
    rmse[top_k] = root_mean_squared_error(y_test, moe.predict(X_test))
    print(
        f"top_k={top_k}: predict {predict_seconds[top_k]:.3f} s, "
        f"{predict_seconds[None] / predict_seconds[top_k]:.1f}x faster than soft, "
        f"test RMSE {rmse[top_k]:.3f}"
    )

# %%
# Prediction time by ``top_k``, with the test RMSE on each bar: what the
# saving costs in accuracy.

fig, ax = plt.subplots(figsize=(7, 4.5))
labels = ["soft (all 8)", "top_k=2", "top_k=1"]
bars = ax.bar(labels, [predict_seconds[k] for k in (None, 2, 1)])
for bar, k in zip(bars, (None, 2, 1)):
    ax.annotate(
        f"RMSE {rmse[k]:.2f}",
        (bar.get_x() + bar.get_width() / 2, bar.get_height()),
        ha="center",
        va="bottom",
    )
ax.set_ylabel(f"seconds to predict {n:,} rows")
ax.set_title("8 nearest-neighbour experts: prediction time by top_k")
fig.tight_layout()
plt.show()
