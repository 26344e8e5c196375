"""Choosing the compute backend of the EM kernels, and moving arrays.

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

from sklearn.externals import array_api_compat
from sklearn.utils._array_api import _convert_to_numpy

#: The backend name of fits that run the array-API kernels on a device.
ARRAY_API = "array_api"


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


def get_kernels(backend):
    """The kernel module of a resolved backend (all share one interface)."""
    if backend == "numba":
        from ._kernels import _numba

        return _numba
    from ._kernels import _xp

    return _xp


def namespace(*arrays):
    """The array-API namespace of arrays, whatever scikit-learn's dispatch setting.

    numpy arrays get the numpy compatibility namespace.
    """
    return array_api_compat.array_namespace(*arrays)


def is_numpy(array):
    """True for numpy arrays, and for what numpy takes (lists, sparse matrices).

    Arrays of any other array library (CuPy, PyTorch...) are not.
    """
    return array_api_compat.is_numpy_array(array) or not (
        array_api_compat.is_array_api_obj(array)
    )


def device(array):
    """The device of an array ("cpu" for numpy, whatever its version)."""
    return array_api_compat.device(array)


def to_host(array):
    """A numpy copy of an array of any namespace (no copy for numpy)."""
    if array is None or is_numpy(array):
        return array
    return _convert_to_numpy(array, namespace(array))


def to_device(array, like):
    """``array`` (numpy, or of ``like``'s namespace) where ``like`` lives."""
    if is_numpy(like):
        return to_host(array)
    if not is_numpy(array) and device(array) == device(like):
        return array
    return namespace(like).asarray(to_host(array), device=device(like))


# Below this many rows a parallel kernel launch costs more than it saves.
PARALLEL_MIN_ROWS = 20_000


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
