"""Choosing the compute backend of the EM kernels."""

import importlib.util


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
