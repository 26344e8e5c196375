"""Predictive distributions of a mixture, one mixture per sample.

Sample ``i`` has the predictive distribution

    F_i(y) = sum_k weights[i, k] * F_ik(y),

where ``F_ik`` is component ``k`` of a frozen :mod:`scipy.stats` distribution
whose parameters broadcast to ``(n_samples, n_components)``, for example
``scipy.stats.norm(loc=means, scale=np.sqrt(noise_variance)[None, :])``.
Weights may hold exact zeros (top-k routing); such components are ignored,
even where their parameters are invalid.

The functions here take arrays and return arrays; the estimators build the
frozen distribution from their fitted experts and pass it in.
"""

import numbers

import numpy as np
from scipy import stats
from sklearn.utils import check_random_state

# Probability tolerance of the continuous inversion: well inside the 1e-6
# promised to callers, so rounding in scipy's cdf cannot break the promise;
# in the far tails it is also relative (1e-4 of min(q, 1 - q)).
_PROBABILITY_TOL = 1e-10
_RELATIVE_TAIL_TOL = 1e-4
_MAX_ITER = 200


def _check_weights(weights):
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2 or weights.shape[0] == 0 or weights.shape[1] == 0:
        raise ValueError(
            "weights must be a non-empty 2-D array of shape (n_samples, "
            f"n_components); got shape {weights.shape}."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("weights must be finite and non-negative.")
    if not np.allclose(weights.sum(axis=1), 1.0, rtol=0, atol=1e-6):
        raise ValueError("each row of weights must sum to 1.")
    return weights


def _component_parameters(components, shape):
    """The distribution object and its parameters, each broadcast to ``shape``."""
    dist = getattr(components, "dist", None)
    if not isinstance(dist, (stats.rv_continuous, stats.rv_discrete)) or not (
        hasattr(components, "args") and hasattr(components, "kwds")
    ):
        raise TypeError(
            "components must be a frozen scipy.stats distribution, such as "
            "scipy.stats.norm(loc=means, scale=scales); got "
            f"{type(components).__name__}."
        )
    try:
        args = [
            np.broadcast_to(np.asarray(a, dtype=float), shape) for a in components.args
        ]
        kwds = {
            name: np.broadcast_to(np.asarray(value, dtype=float), shape)
            for name, value in components.kwds.items()
        }
    except ValueError as error:
        raise ValueError(
            "the parameters of components must broadcast to the shape of "
            f"weights {shape}."
        ) from error
    return dist, args, kwds


def _select(args, kwds, index):
    """Apply the same indexing to every parameter array."""
    return [a[index] for a in args], {name: v[index] for name, v in kwds.items()}


def check_probabilities(values, name, ndim_max=1):
    """``values`` as a 1-D float array of probabilities in (0, 1), or a
    ValueError naming ``name``."""
    values = np.asarray(values, dtype=float)
    if values.ndim > ndim_max:
        raise ValueError(
            f"{name} must be a scalar or a 1-D array; got shape {values.shape}."
        )
    values = np.atleast_1d(values)
    if values.size == 0:
        raise ValueError(f"{name} must not be empty.")
    if not np.all(np.isfinite(values)) or np.any((values <= 0) | (values >= 1)):
        raise ValueError(
            f"{name} must be finite and strictly between 0 and 1; got {values}."
        )
    return values


def _mixture_cdf_at(points, rows, weights, dist, args, kwds):
    """Mixture CDF at ``points`` (any shape); ``rows`` gives each point's sample."""
    flat_points = points.reshape(-1)
    flat_rows = rows.reshape(-1)
    row_args, row_kwds = _select(args, kwds, flat_rows)
    row_weights = weights[flat_rows]
    component_cdf = dist.cdf(flat_points[:, None], *row_args, **row_kwds)
    # Zero-weight components may carry invalid parameters (nan cdf): mask them.
    values = np.sum(np.where(row_weights > 0, row_weights * component_cdf, 0.0), axis=1)
    return np.clip(values, 0.0, 1.0).reshape(points.shape)


def mixture_cdf(y, weights, components):
    """Cumulative distribution function of each sample's mixture.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_points)
        Where to evaluate; row ``i`` is evaluated under sample ``i``'s mixture.
    weights : array-like of shape (n_samples, n_components)
        Mixture weights, non-negative, rows summing to 1.
    components : frozen scipy.stats distribution
        Component distributions whose parameters broadcast to
        ``(n_samples, n_components)``.

    Returns
    -------
    cdf : ndarray of shape (n_samples,) or (n_samples, n_points)
        ``sum_k weights[i, k] * components.cdf(y[i, ...])[i, k]``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> weights = np.array([[0.5, 0.5]])
    >>> components = stats.norm(loc=np.array([[-1.0, 1.0]]), scale=1.0)
    >>> float(mixture_cdf(np.array([0.0]), weights, components)[0])
    0.5
    """
    weights = _check_weights(weights)
    dist, args, kwds = _component_parameters(components, weights.shape)
    y = np.asarray(y, dtype=float)
    n_samples = weights.shape[0]
    if y.ndim not in (1, 2) or y.shape[0] != n_samples:
        raise ValueError(
            f"y must have shape ({n_samples},) or ({n_samples}, n_points); "
            f"got {y.shape}."
        )
    if np.any(np.isnan(y)):
        raise ValueError("y must not contain NaN.")
    rows = np.broadcast_to(
        np.arange(n_samples).reshape((n_samples,) + (1,) * (y.ndim - 1)), y.shape
    )
    return _mixture_cdf_at(y, rows, weights, dist, args, kwds)


def _component_ppf_bracket(weights, dist, args, kwds, quantiles):
    """Min and max over positive-weight components of their ppf at each q."""
    row_args, row_kwds = _select(args, kwds, (slice(None), None, slice(None)))
    component_ppf = dist.ppf(quantiles[None, :, None], *row_args, **row_kwds)
    positive = (weights > 0)[:, None, :]
    lower = np.min(np.where(positive, component_ppf, np.inf), axis=2)
    upper = np.max(np.where(positive, component_ppf, -np.inf), axis=2)
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise ValueError(
            "the components' ppf is not finite at the requested quantiles; "
            "check the parameters of components."
        )
    return lower, upper


def _invert_continuous(target, rows, lower, upper, cdf):
    """Vectorised Illinois iteration on brackets with F(lower) <= q <= F(upper).

    A step that does not halve the bracket is followed by a bisection step, so
    the bracket shrinks geometrically whatever the shape of the CDF.
    """
    low, high = lower.copy(), upper.copy()
    tol = np.minimum(
        _PROBABILITY_TOL, _RELATIVE_TAIL_TOL * np.minimum(target, 1.0 - target)
    )
    f_low = cdf(low, rows) - target
    f_high = cdf(high, rows) - target
    estimate = np.where(np.abs(f_low) <= np.abs(f_high), low, high)
    active = (np.minimum(np.abs(f_low), np.abs(f_high)) > tol) & (high > low)
    bisect = np.zeros_like(active)
    last_side = np.zeros(low.shape, dtype=np.int8)
    for _ in range(_MAX_ITER):
        if not np.any(active):
            break
        idx = np.flatnonzero(active)
        a, b, fa, fb = low[idx], high[idx], f_low[idx], f_high[idx]
        width = b - a
        with np.errstate(divide="ignore", invalid="ignore"):
            secant = b - fb * width / (fb - fa)
        midpoint = a + 0.5 * width
        inside = np.isfinite(secant) & (secant > a) & (secant < b)
        x = np.where(bisect[idx] | ~inside, midpoint, secant)
        fx = cdf(x, rows[idx]) - target[idx]
        estimate[idx] = x
        go_high = fx >= 0
        # Illinois: halve the kept end's residual when the same end is kept twice.
        same = last_side[idx] == np.where(go_high, 1, -1)
        fa = np.where(~go_high, fx, np.where(same, 0.5 * fa, fa))
        fb = np.where(go_high, fx, np.where(same, 0.5 * fb, fb))
        a = np.where(go_high, a, x)
        b = np.where(go_high, x, b)
        low[idx], high[idx], f_low[idx], f_high[idx] = a, b, fa, fb
        last_side[idx] = np.where(go_high, 1, -1)
        bisect[idx] = (b - a) > 0.5 * width
        collapsed = (b - a) <= 4 * np.finfo(float).eps * np.maximum(
            np.abs(a), np.abs(b)
        )
        active[idx] = (np.abs(fx) > tol[idx]) & ~collapsed & (b > a)
    return estimate


def _invert_discrete(target, rows, lower, upper, cdf):
    """Smallest integer x with F(x) >= q, by vectorised integer bisection."""
    low, high = np.floor(lower), np.ceil(upper)
    # Guard the ppf bracket against rounding in scipy: F(high) >= q and
    # F(low - 1) < q must hold before bisecting.
    for _ in range(64):
        short = cdf(high, rows) < target
        if not np.any(short):
            break
        high = np.where(short, high + np.maximum(1.0, high - low), high)
    for _ in range(64):
        long = cdf(low - 1, rows) >= target
        if not np.any(long):
            break
        low = np.where(long, low - np.maximum(1.0, high - low), low)
    while np.any(low < high):
        middle = np.floor(0.5 * (low + high))
        reached = cdf(middle, rows) >= target
        open_ = low < high
        high = np.where(open_ & reached, middle, high)
        low = np.where(open_ & ~reached, middle + 1, low)
    return high


def mixture_quantiles(weights, components, quantiles):
    """Quantiles of each sample's mixture, by inverting its CDF.

    The mixture quantile at ``q`` lies between the smallest and the largest
    component quantile at ``q`` (over components of positive weight); from
    that bracket a vectorised Illinois / bisection iteration (no loop over
    samples) finds ``x`` with ``|F(x) - q| <= min(1e-10, 1e-4 min(q, 1 - q))``,
    or a bracket that has
    collapsed to machine precision. For discrete components (``components.dist``
    an ``rv_discrete`` on the integers), the result is the smallest integer
    ``x`` with ``F(x) >= q``, found exactly by integer bisection.

    Parameters
    ----------
    weights : array-like of shape (n_samples, n_components)
        Mixture weights, non-negative, rows summing to 1.
    components : frozen scipy.stats distribution
        Component distributions whose parameters broadcast to
        ``(n_samples, n_components)``.
    quantiles : float or array-like of shape (n_quantiles,)
        Probabilities, each strictly between 0 and 1.

    Returns
    -------
    values : ndarray of shape (n_samples, n_quantiles)
        ``values[i, j]`` is quantile ``quantiles[j]`` of sample ``i``'s mixture.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> weights = np.array([[0.5, 0.5]])
    >>> components = stats.norm(loc=np.array([[-1.0, 1.0]]), scale=1.0)
    >>> np.round(mixture_quantiles(weights, components, [0.5]), 6)
    array([[0.]])
    """
    weights = _check_weights(weights)
    quantiles = check_probabilities(quantiles, "quantiles")
    dist, args, kwds = _component_parameters(components, weights.shape)
    lower, upper = _component_ppf_bracket(weights, dist, args, kwds, quantiles)
    shape = lower.shape
    rows = np.broadcast_to(np.arange(shape[0])[:, None], shape).ravel()
    target = np.broadcast_to(quantiles[None, :], shape).ravel()
    lower, upper = lower.ravel(), upper.ravel()

    def cdf(points, point_rows):
        return _mixture_cdf_at(points, point_rows, weights, dist, args, kwds)

    if isinstance(dist, stats.rv_discrete):
        values = _invert_discrete(target, rows, lower, upper, cdf)
    else:
        values = _invert_continuous(target, rows, lower, upper, cdf)
    return values.reshape(shape)


def check_coverage(coverage):
    """``coverage`` as a float in (0, 1), or a TypeError / ValueError."""
    if isinstance(coverage, bool) or not isinstance(coverage, numbers.Real):
        raise TypeError(f"coverage must be a real number; got {coverage!r}.")
    return float(check_probabilities(coverage, "coverage", ndim_max=0)[0])


def mixture_interval(weights, components, coverage=0.95):
    """Central prediction interval of each sample's mixture.

    Parameters
    ----------
    weights : array-like of shape (n_samples, n_components)
        Mixture weights, non-negative, rows summing to 1.
    components : frozen scipy.stats distribution
        Component distributions whose parameters broadcast to
        ``(n_samples, n_components)``.
    coverage : float, default=0.95
        Probability inside the interval, strictly between 0 and 1.

    Returns
    -------
    interval : ndarray of shape (n_samples, 2)
        The mixture quantiles at ``(1 - coverage) / 2`` and
        ``(1 + coverage) / 2``.
    """
    coverage = check_coverage(coverage)
    tail = 0.5 * (1.0 - coverage)
    return mixture_quantiles(weights, components, [tail, 1.0 - tail])


def mixture_sample(weights, components, n_samples=1, random_state=None):
    """Draw from each sample's mixture.

    Each draw picks a component with probability ``weights[i, k]`` (never one
    of zero weight), then inverts that component's CDF at a uniform draw.

    Parameters
    ----------
    weights : array-like of shape (n_rows, n_components)
        Mixture weights, non-negative, rows summing to 1.
    components : frozen scipy.stats distribution
        Component distributions whose parameters broadcast to
        ``(n_rows, n_components)``.
    n_samples : int, default=1
        Number of draws per row.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws.

    Returns
    -------
    draws : ndarray of shape (n_rows, n_samples)
        Independent draws; row ``i`` from row ``i``'s mixture.
    """
    weights = _check_weights(weights)
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
        raise TypeError(f"n_samples must be an integer; got {n_samples!r}.")
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1; got {n_samples}.")
    dist, args, kwds = _component_parameters(components, weights.shape)
    rng = check_random_state(random_state)
    n_rows, n_components = weights.shape
    cumulative = np.cumsum(weights, axis=1)
    cumulative /= cumulative[:, -1:]
    # From the last positive component on, the cumulative weight is exactly 1,
    # so trailing zero-weight components are never chosen through rounding.
    last_positive = n_components - 1 - np.argmax(weights[:, ::-1] > 0, axis=1)
    cumulative[np.arange(n_components)[None, :] >= last_positive[:, None]] = 1.0
    # Uniforms in (0, 1]: a zero-weight first component (cumulative 0) is never
    # picked by argmax(cumulative >= u).
    pick = 1.0 - rng.random_sample((n_rows, n_samples))
    chosen = np.argmax(cumulative[:, None, :] >= pick[:, :, None], axis=2)
    rows = np.broadcast_to(np.arange(n_rows)[:, None], chosen.shape)
    chosen_args, chosen_kwds = _select(args, kwds, (rows, chosen))
    uniform = rng.random_sample((n_rows, n_samples))
    uniform = np.clip(uniform, np.finfo(float).tiny, None)
    return dist.ppf(uniform, *chosen_args, **chosen_kwds)


def mixture_mean_variance(weights, components):
    """Mean and variance of each sample's mixture (law of total variance).

    Parameters
    ----------
    weights : array-like of shape (n_samples, n_components)
        Mixture weights, non-negative, rows summing to 1.
    components : frozen scipy.stats distribution
        Component distributions whose parameters broadcast to
        ``(n_samples, n_components)``.

    Returns
    -------
    mean : ndarray of shape (n_samples,)
        ``sum_k w_k m_k`` with ``m_k`` the component means.
    variance : ndarray of shape (n_samples,)
        ``sum_k w_k (v_k + (m_k - mean)^2)`` with ``v_k`` the component
        variances; infinite when a component of positive weight has infinite
        variance.
    """
    weights = _check_weights(weights)
    dist, args, kwds = _component_parameters(components, weights.shape)
    positive = weights > 0
    component_mean = np.where(positive, dist.mean(*args, **kwds), 0.0)
    component_variance = np.where(positive, dist.var(*args, **kwds), 0.0)
    mean = np.sum(weights * component_mean, axis=1)
    spread = np.where(positive, (component_mean - mean[:, None]) ** 2, 0.0)
    variance = np.sum(
        np.where(positive, weights * (component_variance + spread), 0.0), axis=1
    )
    return mean, variance
