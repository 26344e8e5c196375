"""Array helpers: namespace, device, moves between host and device.

The bottom of the package's import graph: this module imports nothing from
skmoe. numpy arrays (and what numpy takes: lists, sparse matrices) are
"on the host"; arrays of any other array-API library (CuPy, PyTorch,
array-api-strict) are on their device.
"""

from sklearn.externals import array_api_compat
from sklearn.utils._array_api import _convert_to_numpy


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
