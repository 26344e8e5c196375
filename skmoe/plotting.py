"""Pictures of a fitted mixture of experts: gate regions, experts, convergence.

matplotlib is imported inside the functions (install it with
``pip install "skmoe[plot]"``); each function draws on ``ax`` (a new figure
when None) and returns it.
"""

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = ["plot_convergence", "plot_experts", "plot_gate", "plot_predictive"]


def _prepare(moe, X, ax):
    """Checked data, the axes to draw on (new if None), one colour per expert."""
    import matplotlib.pyplot as plt

    check_is_fitted(moe)
    X = None if X is None else check_array(X)
    if ax is None:
        _, ax = plt.subplots()
    return X, ax, plt.get_cmap("tab10")(np.arange(moe.n_experts_) % 10)


def _grid(X, features, resolution):
    """Rows that vary ``features`` over their range, the rest at the median."""
    base = np.median(X, axis=0)
    axes = [np.linspace(X[:, j].min(), X[:, j].max(), resolution) for j in features]
    mesh = np.meshgrid(*axes)
    grid = np.tile(base, (mesh[0].size, 1))
    for j, values in zip(features, mesh):
        grid[:, j] = values.ravel()
    return grid, mesh


def _check_features(features, n_features):
    if features is None:
        features = (0,) if n_features == 1 else (0, 1)
    features = tuple(int(j) for j in np.atleast_1d(features))
    if not 1 <= len(features) <= 2 or not all(0 <= j < n_features for j in features):
        raise ValueError(
            f"features must name one or two of the {n_features} feature columns; "
            f"got {features}."
        )
    return features


def plot_gate(moe, X, *, features=None, resolution=200, ax=None):
    """Where each expert is trusted: the gate over one or two features.

    The gate is evaluated on a grid spanning the range of ``X`` along the
    chosen features; every other feature is held at its median.

    Parameters
    ----------
    moe : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        A fitted mixture.
    X : array-like of shape (n_samples, n_features)
        Data whose range is drawn (other features are held at their median).
    features : int or pair of ints, default=None
        One feature: the gate probabilities of every expert along it. Two:
        the regions where each expert is the most trusted, shaded by the
        gate's confidence, with the samples coloured by ``apply``. None: the
        first feature, or the first two when ``X`` has more than one.
    resolution : int, default=200
        Number of grid points along each drawn feature.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.

    See Also
    --------
    plot_experts : Each expert's fit on one-feature data.
    skmoe.MixtureOfExpertsRegressor.gate_proba : The probabilities drawn here.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmoe import MixtureOfExpertsClassifier
    >>> from skmoe.datasets import make_moe_classification
    >>> from skmoe.plotting import plot_gate
    >>> X, y = make_moe_classification(n_samples=300, random_state=0)
    >>> clf = MixtureOfExpertsClassifier(n_experts=2, random_state=0).fit(X, y)
    >>> ax = plot_gate(clf, X)
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('feature 0', 'feature 1')
    """
    X, ax, colors = _prepare(moe, X, ax)
    features = _check_features(features, X.shape[1])
    grid, mesh = _grid(X, features, resolution)
    gate = moe.gate_proba(grid)
    if len(features) == 1:
        x = grid[:, features[0]]
        for k in range(moe.n_experts_):
            ax.plot(x, gate[:, k], color=colors[k], label=f"expert {k}")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"feature {features[0]}")
        ax.set_ylabel("gate probability")
        ax.legend()
        return ax
    image = colors[gate.argmax(axis=1)].copy()
    image[:, 3] = 0.15 + 0.45 * gate.max(axis=1)
    shape = mesh[0].shape
    ax.imshow(
        image.reshape(shape + (4,)),
        origin="lower",
        aspect="auto",
        extent=(mesh[0].min(), mesh[0].max(), mesh[1].min(), mesh[1].max()),
    )
    ax.scatter(
        X[:, features[0]],
        X[:, features[1]],
        c=colors[moe.apply(X)],
        s=8,
        edgecolors="none",
    )
    ax.set_xlabel(f"feature {features[0]}")
    ax.set_ylabel(f"feature {features[1]}")
    return ax


def plot_experts(moe, X, y, *, resolution=300, ax=None):
    """Each expert's fit on one-feature data, drawn thicker where trusted.

    The samples are coloured by their most trusted expert; each expert's
    prediction (regressor) or probability of the last class (classifier) is
    a line whose width follows the gate, drawn where the gate gives it more
    than 2%.

    Parameters
    ----------
    moe : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        A mixture fitted on a single feature.
    X : array-like of shape (n_samples, 1)
        The samples to draw, and the range of the experts' curves.
    y : array-like of shape (n_samples,)
        Their targets (classifier: labels, drawn as 1 for the last class).
    resolution : int, default=300
        Number of points along each expert's curve.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.

    See Also
    --------
    plot_gate : The gate probabilities along the feature.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import load_mcycle
    >>> from skmoe.plotting import plot_experts
    >>> X, y = load_mcycle(return_X_y=True)
    >>> moe = MixtureOfExpertsRegressor(n_experts=3, random_state=0).fit(X, y)
    >>> ax = plot_experts(moe, X, y)
    >>> len(ax.collections)  # the samples and one line per expert
    4
    """
    from matplotlib.collections import LineCollection

    X, ax, colors = _prepare(moe, X, ax)
    if X.shape[1] != 1:
        raise ValueError(
            f"plot_experts draws one-feature data; X has {X.shape[1]} features."
        )
    classifier = is_classifier(moe)
    target = np.asarray(y)
    if classifier:
        target = (target == moe.classes_[-1]).astype(float)
    ax.scatter(X[:, 0], target, c=colors[moe.apply(X)], s=10, edgecolors="none")
    grid = np.linspace(X[:, 0].min(), X[:, 0].max(), resolution)[:, None]
    gate = moe.gate_proba(grid)
    for k, expert in enumerate(moe.experts_):
        if classifier:
            # The expert's probability of the last class (0 if it never saw it).
            seen = list(expert.classes_)
            last = moe.classes_[-1]
            curve = (
                expert.predict_proba(grid)[:, seen.index(last)]
                if last in seen
                else np.zeros(len(grid))
            )
        else:
            curve = expert.predict(grid)
        points = np.column_stack([grid[:, 0], curve]).reshape(-1, 1, 2)
        # Drawn only where the expert has a say, so that far-off
        # extrapolations do not set the scale.
        shown = gate[:-1, k] > 0.02
        segments = np.concatenate([points[:-1], points[1:]], axis=1)[shown]
        widths = 0.5 + 4.0 * gate[:-1, k][shown]
        ax.add_collection(
            LineCollection(
                segments, linewidths=widths, colors=[colors[k]], label=f"expert {k}"
            )
        )
    ax.set_xlabel("x")
    ax.set_ylabel(f"P(y = {moe.classes_[-1]})" if classifier else "y")
    ax.legend()
    return ax


def plot_convergence(moe, *, ax=None):
    """The training log-likelihood at each EM iteration of the kept run.

    Draws ``log_likelihood_path_``; the title says how many iterations ran
    and whether EM converged.

    Parameters
    ----------
    moe : MixtureOfExpertsRegressor or MixtureOfExpertsClassifier
        A fitted mixture.
    ax : matplotlib.axes.Axes, default=None
        Axes to draw on; None creates a new figure.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes drawn on.

    See Also
    --------
    plot_experts : Each expert's fit on one-feature data.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import load_mcycle
    >>> from skmoe.plotting import plot_convergence
    >>> X, y = load_mcycle(return_X_y=True)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> ax = plot_convergence(moe)
    >>> len(ax.lines[0].get_xdata()) == moe.n_iter_
    True
    """
    _, ax, _ = _prepare(moe, None, ax)
    path = moe.log_likelihood_path_
    ax.plot(np.arange(1, len(path) + 1), path, marker="o", markersize=3)
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("log-likelihood")
    state = "converged" if moe.converged_ else "not converged"
    ax.set_title(f"{len(path)} iterations, {state}")
    return ax


def plot_predictive(moe, X, y, *, coverage=0.9, density=True, resolution=200, ax=None):
    """Draw the predictive distribution of a regressor on one-feature data.

    The central ``coverage`` interval of the mixture's predictive
    distribution (:meth:`~skmoe.MixtureOfExpertsRegressor.predict_interval`)
    as a band, its median as a line and, with ``density``, the predictive
    density :math:`p(y \\mid x)` as a heat map (scaled to its maximum at each
    x, so that low-noise regions do not outshine the rest). Unlike mean +- 2
    standard deviations, the band follows the modes: where two experts
    share a sample it can hold both and skip the gap between them.

    Parameters
    ----------
    moe : MixtureOfExpertsRegressor
        A fitted regressor on one feature.
    X : array-like of shape (n_samples, 1)
        The samples drawn, and the range of the grid.
    y : array-like of shape (n_samples,)
        Their targets.
    coverage : float, default=0.9
        Probability of the band, in (0, 1).
    density : bool, default=True
        Also draw the predictive density.
    resolution : int, default=200
        Grid points along x (and along y for the density).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    See Also
    --------
    skmoe.MixtureOfExpertsRegressor.predict_interval : The band's interval.
    plot_experts : Each expert's fit on one-feature data.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmoe import MixtureOfExpertsRegressor
    >>> from skmoe.datasets import load_tone
    >>> from skmoe.plotting import plot_predictive
    >>> X, y = load_tone(return_X_y=True)
    >>> moe = MixtureOfExpertsRegressor(n_experts=2, random_state=0).fit(X, y)
    >>> ax = plot_predictive(moe, X, y)
    >>> len(ax.collections) >= 2
    True
    """
    if is_classifier(moe):
        raise TypeError("plot_predictive draws a regressor's predictive distribution.")
    X, ax, _ = _prepare(moe, X, ax)
    if X.shape[1] != 1:
        raise ValueError(
            f"plot_predictive draws one-feature data; X has {X.shape[1]} features."
        )
    y = np.asarray(y, dtype=float)
    grid_x = np.linspace(X[:, 0].min(), X[:, 0].max(), resolution)
    if density:
        span = y.max() - y.min()
        grid_y = np.linspace(y.min() - 0.1 * span, y.max() + 0.1 * span, resolution)
        xx, yy = np.meshgrid(grid_x, grid_y)
        values = np.exp(moe.log_likelihood(xx.reshape(-1, 1), yy.ravel()))
        values = values.reshape(xx.shape)
        values /= values.max(axis=0, keepdims=True)
        ax.pcolormesh(xx, yy, values, cmap="Blues", shading="auto")
    low, high = (1 - coverage) / 2, (1 + coverage) / 2
    quantiles = moe.predict_quantiles(grid_x[:, None], [low, 0.5, high])
    ax.fill_between(
        grid_x,
        quantiles[:, 0],
        quantiles[:, 2],
        color="tab:orange",
        alpha=0.25,
        label=f"{coverage:.0%} interval",
    )
    ax.plot(grid_x, quantiles[:, 1], color="tab:orange", label="median")
    ax.scatter(X[:, 0], y, s=8, color="black", zorder=3)
    ax.legend(loc="best")
    return ax
