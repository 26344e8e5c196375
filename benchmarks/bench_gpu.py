"""EM on the GPU (CuPy) beside the CPU kernels, timed in the same run.

Run ``python benchmarks/bench_gpu.py`` on a machine with a CUDA GPU and
``pip install "skmoe[gpu]"``. Without one it prints a skip line and exits.
``--strict`` runs the same table on array-api-strict's simulated device (on
the CPU), which checks that the script and the array-API path work; its
timings say nothing about a GPU.

The table is the CPU benchmark's first section (d = 10, K = 8, linear
experts): seconds per EM iteration at growing n for

- ``backend="numba"`` on numpy input (the CPU baseline);
- ``backend="cupy"`` on numpy input: the data is copied to the GPU once, the
  fitted model comes back to the host;
- device input under ``sklearn.config_context(array_api_dispatch=True)``: the
  data and the model stay on the GPU;

and the ratio of each to the CPU baseline.
"""

import argparse
import os
import timeit
import warnings

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from skmoe import MixtureOfExpertsRegressor, _backend  # noqa: E402
from skmoe.datasets import make_moe_regression  # noqa: E402

warnings.simplefilter("ignore", ConvergenceWarning)


def gpu_namespace(strict):
    """(namespace, device, synchronise) of the device to benchmark, or None."""
    if strict:
        import array_api_strict as xps

        device = xps.Device("device1")
        _backend.device_namespace = lambda: (xps, device)
        return xps, device, lambda: None
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() == 0:
            return None
    except Exception:  # no CuPy, no driver, no device
        return None
    xp, device = _backend.device_namespace()
    return xp, device, cupy.cuda.Device().synchronize


def seconds_per_iteration(fit, n_iter):
    """Difference between fits of n_iter + 2 and 2 iterations (best of two)."""

    def fit_time(max_iter):
        return min(timeit.repeat(lambda: fit(max_iter), number=1, repeat=2))

    return (fit_time(n_iter + 2) - fit_time(2)) / n_iter


def time_row(n, xp, device, synchronise, n_iter):
    """One line of the table: the three ways of fitting n rows."""
    X, y = make_moe_regression(
        n_samples=n, n_features=10, n_experts=8, noise=0.5, random_state=0
    )
    X_device, y_device = xp.asarray(X, device=device), xp.asarray(y, device=device)

    def fit(max_iter, backend, data):
        moe = MixtureOfExpertsRegressor(
            n_experts=8, max_iter=max_iter, tol=0, random_state=0, backend=backend
        )
        with sklearn.config_context(array_api_dispatch=True):
            moe.fit(*data)
        synchronise()

    base = seconds_per_iteration(lambda m: fit(m, "numba", (X, y)), n_iter)
    backend = seconds_per_iteration(lambda m: fit(m, "cupy", (X, y)), n_iter)
    native = seconds_per_iteration(
        lambda m: fit(m, "auto", (X_device, y_device)), n_iter
    )
    return (
        f"| {n:,} | {base:.4f} | {backend:.4f} ({base / backend:.2f}x) "
        f"| {native:.4f} ({base / native:.2f}x) |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n up to 10^5 only")
    parser.add_argument(
        "--strict", action="store_true", help="array-api-strict instead of a GPU"
    )
    args = parser.parse_args()
    found = gpu_namespace(args.strict)
    if found is None:
        print(
            "bench_gpu: skipped: no GPU (needs CuPy and a CUDA device; "
            'pip install "skmoe[gpu]"). Use --strict to exercise the path on the CPU.'
        )
        return
    xp, device, synchronise = found
    sizes = (
        [10_000, 100_000]
        if (args.quick or args.strict)
        else [10_000, 100_000, 1_000_000]
    )
    if args.strict:
        sizes = [2_000, 10_000]
    n_iter = 5 if args.strict else 10
    print(f"device: {device}; d = 10, K = 8, linear experts, {n_iter} iterations\n")
    print("| n | numba s/iter | cupy backend s/iter | device input s/iter |")
    print("|---|---|---|---|")
    for n in sizes:
        print(time_row(n, xp, device, synchronise, n_iter))


if __name__ == "__main__":
    main()
