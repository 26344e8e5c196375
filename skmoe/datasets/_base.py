"""Loaders for the data sets shipped with skmoe (nothing is downloaded)."""

from importlib import resources

import pandas as pd
from sklearn.utils import Bunch

_DESCR = {
    "mcycle": (
        "Motorcycle crash data (Silverman, 1985): head acceleration (accel, in g) "
        "against time after a simulated impact (times, in ms); 133 samples. "
        "Also in R's MASS package as `mcycle`."
    ),
    "tone": (
        "Tone perception data (Cohen, 1984): the tuning a musician perceived "
        "(tuned) against the stretch ratio of the played tone (stretchratio); "
        "150 samples. Also in R's fpc package as `tonedata`."
    ),
    "patent": (
        "Patents and R&D spending of 70 pharmaceutical and biomedical companies "
        "in 1976 (Wang, Cockburn & Puterman, 1998): number of patents "
        "(Patents), log of R&D spending (lgRD) and R&D spending per sale "
        "(RDS); the company's name is `Company` in the frame. Also in R's "
        "flexmix package as `patent`, where it illustrates Poisson mixtures "
        "of regressions with concomitant variables."
    ),
    "nodata": (
        "Ethanol fuel data (Brinkman, 1981): the equivalence ratio of the "
        "mixture burnt (Equivalence) and the nitrogen oxide concentration in "
        "the exhaust (NO); 88 samples. Also in R's mixtools package as "
        "`NOdata`, where it illustrates mixtures of linear regressions "
        "(regmixEM)."
    ),
    "npreg": (
        "Artificial data from R's flexmix package (`NPreg`): two latent "
        "classes, a linear (class 1) and a quadratic (class 2) regression of yn "
        "on x; 200 samples. The true class is in `regime`."
    ),
}


def _load(filename, feature_names, target_name, descr_key, return_X_y, as_frame):
    path = resources.files("skmoe.datasets") / "data" / filename
    with resources.as_file(path) as csv:
        frame = pd.read_csv(csv)
    data = frame[feature_names]
    target = frame[target_name]
    extra = {}
    if "class" in frame:
        extra["regime"] = frame["class"].to_numpy()
    if not as_frame:
        data = data.to_numpy(dtype=float)
        target = target.to_numpy(dtype=float)
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        frame=frame[feature_names + [target_name]] if as_frame else None,
        feature_names=list(feature_names),
        target_names=[target_name],
        DESCR=_DESCR[descr_key],
        **extra,
    )


def load_mcycle(*, return_X_y=False, as_frame=False):
    """Load the motorcycle crash data (regression, 133 samples, 1 feature).

    Head acceleration after a simulated motorcycle crash, against time: a
    flat phase, a sharp dip, a rebound and a noisy tail, the classic data set
    for experts that each take one phase (Silverman, 1985).

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, data is a pandas DataFrame and target a Series.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        ``data`` (column ``times``), ``target`` (``accel``), ``feature_names``,
        ``DESCR``.

    See Also
    --------
    load_tone : Two regimes that overlap in x.
    load_npreg : Two regimes, a line and a parabola.

    Examples
    --------
    >>> from skmoe.datasets import load_mcycle
    >>> X, y = load_mcycle(return_X_y=True)
    >>> X.shape
    (133, 1)
    """
    return _load("mcycle.csv", ["times"], "accel", "mcycle", return_X_y, as_frame)


def load_tone(*, return_X_y=False, as_frame=False):
    """Load the tone perception data (regression, 150 samples, 1 feature).

    A musician's perceived tuning against the stretch ratio of the tone
    played: most answers stay near 2, others follow the identity line, so two
    regimes overlap over the same x (Cohen, 1984).

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, data is a pandas DataFrame and target a Series.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        ``data`` (column ``stretchratio``), ``target`` (``tuned``).

    See Also
    --------
    load_mcycle : Regimes that switch along x.
    load_npreg : Two regimes, a line and a parabola.

    Examples
    --------
    >>> from skmoe.datasets import load_tone
    >>> X, y = load_tone(return_X_y=True)
    >>> X.shape
    (150, 1)
    """
    return _load(
        "tonedata.csv", ["stretchratio"], "tuned", "tone", return_X_y, as_frame
    )


def load_npreg(*, return_X_y=False, as_frame=False):
    """Load flexmix's NPreg data (regression, 200 samples, 1 feature).

    The two latent classes are a line and a parabola in ``x``; fit experts on
    ``[x, x**2]`` to recover them. The true class is ``regime`` in the Bunch.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, data is a pandas DataFrame and target a Series.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        ``data`` (column ``x``), ``target`` (``yn``), ``regime`` (1 or 2).

    See Also
    --------
    load_mcycle : Regimes that switch along x.
    load_tone : Two regimes that overlap in x.

    Examples
    --------
    >>> from skmoe.datasets import load_npreg
    >>> X, y = load_npreg(return_X_y=True)
    >>> X.shape
    (200, 1)
    """
    return _load("NPreg.csv", ["x"], "yn", "npreg", return_X_y, as_frame)


def load_patent(*, return_X_y=False, as_frame=False):
    """Load flexmix's patent data (count regression, 70 samples, 2 features).

    The features are ``lgRD`` (log R&D spending) and ``RDS`` (R&D spending
    per sale); the target is the number of ``Patents``. flexmix's model has
    Poisson experts on ``lgRD`` and a gate on ``RDS``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, data is a pandas DataFrame and target a Series.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        ``data`` (columns ``lgRD``, ``RDS``), ``target`` (``Patents``).

    See Also
    --------
    load_nodata : A mixture of regressions with constant mixing weights.

    Examples
    --------
    >>> from skmoe.datasets import load_patent
    >>> X, y = load_patent(return_X_y=True)
    >>> X.shape
    (70, 2)
    """
    return _load(
        "patent.csv", ["lgRD", "RDS"], "Patents", "patent", return_X_y, as_frame
    )


def load_nodata(*, return_X_y=False, as_frame=False):
    """Load mixtools' NOdata (regression, 88 samples, 1 feature).

    The feature is the equivalence ratio ``Equivalence``, the target the
    nitrogen oxide concentration ``NO``, as in ``regmixEM(NO, Equivalence)``.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, data is a pandas DataFrame and target a Series.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch` or tuple
        ``data`` (column ``Equivalence``), ``target`` (``NO``).

    See Also
    --------
    load_patent : Counts, with Poisson experts and a gate on another column.

    Examples
    --------
    >>> from skmoe.datasets import load_nodata
    >>> X, y = load_nodata(return_X_y=True)
    >>> X.shape
    (88, 1)
    """
    return _load("NOdata.csv", ["Equivalence"], "NO", "nodata", return_X_y, as_frame)
