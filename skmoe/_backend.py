"""Choosing the compute backend of the EM kernels."""

import importlib.util
from contextlib import contextmanager


def resolve_backend(backend):
    """The concrete backend for the ``backend`` parameter.

    "auto" picks numba when it is installed, else numpy. "cupy" needs CuPy.
    """
    if backend == "cupy":
        if importlib.util.find_spec("cupy") is None:
            raise ImportError(
                'backend="cupy" needs CuPy, which is not installed. Install it '
                'with: pip install "skmoe[gpu]"'
            )
        return "cupy"
    if backend == "auto":
        return "numba" if importlib.util.find_spec("numba") is not None else "numpy"
    return backend


def get_kernels(backend):
    """The kernel module of a resolved backend (both share one interface)."""
    if backend == "numba":
        from ._kernels import _numba

        return _numba
    from ._kernels import _xp

    return _xp


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
