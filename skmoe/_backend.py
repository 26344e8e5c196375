"""Where a fit computes: the backend of the EM kernels, and the fit's arrays.

Three kinds of fit:

- numpy input, ``backend`` "numpy" or "numba": the kernels of that name;
- array-API input (CuPy, PyTorch, array-api-strict...) under
  ``sklearn.config_context(array_api_dispatch=True)``: the array-API kernels
  (``_kernels._xp``), in the input's namespace and on its device, and the
  fitted model lives there (scikit-learn's convention);
- numpy input with ``backend="cupy"``: the data is copied to the GPU once,
  EM runs there with the same array-API kernels, and the fitted model is
  brought back to the host, so that it predicts on numpy input like any
  other estimator.

The gate's and the linear experts' small ``(p, p)`` systems are solved on the
host whatever the backend; experts that only take numpy get host copies.
"""

import importlib.util
from contextlib import contextmanager

from scipy import sparse

from ._array_utils import is_numpy, to_device

#: The backend name of fits that run the array-API kernels on a device.
ARRAY_API = "array_api"

# Below this many rows a parallel kernel launch costs more than it saves.
PARALLEL_MIN_ROWS = 20_000


def resolve_backend(backend):
    """The concrete backend for the ``backend`` parameter.

    "auto" picks numba when it is installed, else numpy. "cupy" needs CuPy.
    """
    if backend == "cupy":
        if importlib.util.find_spec("cupy") is None:
            device_namespace()  # the ImportError that says how to install it
        return "cupy"
    if backend == "auto":
        return "numba" if importlib.util.find_spec("numba") is not None else "numpy"
    return backend


def device_namespace():
    """The namespace and device ``backend="cupy"`` computes on."""
    if importlib.util.find_spec("cupy") is None:
        raise ImportError(
            'backend="cupy" needs CuPy, which is not installed. Install it '
            'with: pip install "skmoe[gpu]"'
        )
    import cupy
    from sklearn.externals.array_api_compat import cupy as xp

    return xp, cupy.cuda.Device()


def compute_arrays(X, sample_weight, backend):
    """The fit's arrays where EM runs, and the backend that runs there.

    Array-API input (under ``array_api_dispatch``) stays in its namespace
    and on its device; with ``backend="cupy"`` numpy input is copied to the
    GPU once (densified if sparse). Both run the array-API kernels.
    """
    backend = resolve_backend(backend)
    if not is_numpy(X):
        return X, sample_weight, ARRAY_API
    if backend != "cupy":
        return X, sample_weight, backend
    xp, gpu = device_namespace()
    X = xp.asarray(X.toarray() if sparse.issparse(X) else X, device=gpu)
    return X, to_device(sample_weight, X), ARRAY_API


def get_kernels(backend):
    """The kernel module of a resolved backend (all share one interface)."""
    if backend == "numba":
        from ._kernels import _numba

        return _numba
    from ._kernels import _xp

    return _xp


@contextmanager
def kernel_threads(backend, n_samples):
    """Run numba kernels on one thread for small data; restore on exit."""
    if backend != "numba" or n_samples >= PARALLEL_MIN_ROWS:
        yield
        return
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
