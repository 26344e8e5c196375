"""The additive spline gate: a softmax of additive cubic splines of the features.

``SplineGate`` is the built-in softmax gate (:class:`skmoe._gate.SoftmaxGate`,
Newton steps with a line search, warm-started) on a B-spline basis of each
feature (:class:`~sklearn.preprocessing.SplineTransformer`): each expert's
logit is a sum of smooth functions of one feature each, a generalised
additive model. It draws curved regime boundaries (a disc is additive in its
two features) at about the cost of the linear gate.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import SplineTransformer
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)

from ._engines import standardised_design, weighted_scaling
from ._gate import SoftmaxGate
from ._gate_common import (
    GateProbaMixin,
    check_gate_size,
    check_keep,
    check_soft_targets,
    initialize_for_fit,
)
from ._kernels import _xp


class SplineGate(GateProbaMixin, BaseEstimator):
    """Additive spline gate of a mixture of experts: softmax of splines.

    Each expert's logit is a sum of cubic splines, one of each feature:
    ``g(x) = softmax(sum_j f_j(x_j))``, a generalised additive model. It is
    the built-in softmax gate on a B-spline basis of every feature, so it
    fits by the same warm-started Newton steps, one per EM iteration, at
    about the same cost; unlike it, it draws curved regime boundaries (a
    disc, a band, anything additive in the features), and unlike
    :class:`MLPGate` it needs no iterative optimiser of its own. Boundaries
    that hinge on interactions of features (a checkerboard) need
    :class:`MLPGate`.

    Parameters
    ----------
    n_knots : int, default=5
        Knots per feature, uniformly spaced over the training range (see
        :class:`~sklearn.preprocessing.SplineTransformer`).
    degree : int, default=3
        Polynomial degree of the splines.
    C : float, default=1000.0
        Inverse strength of the L2 penalty ``1 / (2 C) * ||W||^2`` on the
        weights of the standardised splines (as the built-in gate's);
        ``np.inf``: none.

    Attributes
    ----------
    splines_ : SplineTransformer
        The fitted basis; its output columns are the gate's inputs.
    coef_ : ndarray of shape (n_splines, n_experts)
        Weights of the splines ``splines_.transform(X)``.
    intercept_ : ndarray of shape (n_experts,)
        Intercepts.
    n_experts_ : int
        Number of outputs (experts).
    n_features_in_ : int
        Number of features.
    feature_names_in_ : ndarray of str
        Names of the features, when :meth:`fit` saw them in a DataFrame.

    See Also
    --------
    MLPGate : A neural gate, for boundaries that are not additive.
    sklearn.preprocessing.SplineTransformer : The basis.

    Notes
    -----
    The protocol of the EM loop: :meth:`initialize` once per run, then
    :meth:`m_step` and :meth:`log_proba` at each iteration on the raw
    features (``uses_design = False``), :meth:`keep_experts` when experts
    die, and :attr:`n_parameters` for the information criteria. The basis
    and its standardisation are fixed at the first M-step after
    :meth:`initialize`.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe import SplineGate
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-2, 2, size=(400, 2))
    >>> inside = (X**2).sum(axis=1) < 1
    >>> responsibilities = np.column_stack([inside, ~inside]).astype(float)
    >>> gate = SplineGate().fit(X, responsibilities)
    >>> gate.predict_proba([[0.0, 0.0], [1.5, 1.5]]).round(2)
    array([[1., 0.],
           [0., 1.]])
    """

    #: The gate takes the raw features, not the EM loop's design matrix.
    uses_design = False

    _parameter_constraints: dict = {
        "n_knots": [Interval(Integral, 2, None, closed="left")],
        "degree": [Interval(Integral, 1, None, closed="left")],
        "C": [Interval(Real, 0, np.inf, closed="right")],
    }

    def __init__(self, n_knots=5, degree=3, C=1000.0):
        self.n_knots = n_knots
        self.degree = degree
        self.C = C

    @_fit_context(prefer_skip_nested_validation=True)
    def initialize(self, n_experts, n_features, random_state=None):
        """Start a new run: no basis and no weights yet.

        Parameters
        ----------
        n_experts : int
            Number of outputs.
        n_features : int
            Number of features of X.
        random_state : None
            Ignored: the gate starts at zero weights, whatever the seed
            (accepted for the EM loop, which passes one to every gate).

        Returns
        -------
        self : SplineGate
            The gate itself.
        """
        check_gate_size(n_experts, n_features)
        self.__dict__.pop("feature_names_in_", None)
        self.n_experts_ = int(n_experts)
        self.n_features_in_ = int(n_features)
        self.splines_ = None
        self._softmax = None
        self._cache = None
        return self

    def _check_initialized(self):
        if not hasattr(self, "n_experts_"):
            raise NotFittedError(
                "This SplineGate is not initialised: call initialize(n_experts, "
                "n_features) or fit(X, responsibilities) first."
            )

    def _design(self, X, keep=False):
        """Standardised splines of X and a ones column.

        EM asks for the same training rows at every iteration, so the M-step
        keeps its design (``keep``): it is reused for the same array object
        with the same contents (a fingerprint of its values, one cheap
        pass), until :meth:`clear_cache` (which the estimators call when a
        fit ends). Predictions read it, never keep theirs.
        """
        fingerprint = _fingerprint(X)
        cache = self._cache
        if cache is not None and cache[0] is X and cache[1] == fingerprint:
            return cache[2]
        softmax = self._softmax
        design = standardised_design(
            self.splines_.transform(X), softmax.feature_mean, softmax.feature_scale
        )
        if keep:
            self._cache = (X, fingerprint, design)
        return design

    def clear_cache(self):
        """Forget the design kept from the last training matrix.

        Returns
        -------
        self : SplineGate
            The gate itself.
        """
        self._cache = None
        return self

    def m_step(self, X, responsibilities, sample_weight=None, kernels=_xp, full=False):
        """One Newton step of the gate's objective, from the current weights.

        The first call after :meth:`initialize` fits the spline basis on the
        rows of positive weight and its weighted standardisation.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
            Raw features.
        responsibilities : array-like of shape (n, n_experts)
            Soft targets, non-negative.
        sample_weight : array-like of shape (n,), default=None
            Non-negative weights; None: ones.
        kernels : module, default=skmoe._kernels._xp
            Kernel module of the solver (numpy or numba).
        full : bool, default=False
            Newton steps to convergence instead of one: EM asks for it at the
            first M-step of a run.

        Returns
        -------
        self : SplineGate
            The gate itself.
        """
        self._check_initialized()
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._m_step(X, responsibilities, sample_weight, kernels, full)

    def _m_step(self, X, responsibilities, sample_weight, kernels, full):
        responsibilities, sample_weight = check_soft_targets(
            X, responsibilities, sample_weight, self.n_experts_
        )
        if self.splines_ is None:
            rows = sample_weight > 0
            self.splines_ = SplineTransformer(
                n_knots=self.n_knots, degree=self.degree, include_bias=False
            ).fit(X[rows])
            mean, scale = weighted_scaling(
                self.splines_.transform(X[rows]), sample_weight[rows]
            )
            self._softmax = SoftmaxGate(self.n_experts_, mean, scale, C=self.C)
        totals = responsibilities.sum(axis=1, keepdims=True)
        targets = responsibilities / np.where(totals > 0, totals, 1.0)
        design = self._design(X, keep=True)
        self._softmax.m_step(design, targets, sample_weight, kernels, full)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, responsibilities, sample_weight=None):
        """Fit the gate alone on soft targets, to convergence.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
            Raw features.
        responsibilities : array-like of shape (n, n_experts)
            Soft targets, non-negative.
        sample_weight : array-like of shape (n,), default=None
            Non-negative weights; None: ones.

        Returns
        -------
        self : SplineGate
            The gate itself.
        """
        X = initialize_for_fit(self, X, responsibilities)
        self._m_step(X, responsibilities, sample_weight, _xp, full=True)
        return self.clear_cache()

    def log_proba(self, X, kernels=_xp):
        """Log gate probabilities on raw features, shape (n, n_experts).

        Parameters
        ----------
        X : array-like of shape (n, n_features)
            Raw features.
        kernels : module, default=skmoe._kernels._xp
            Kernel module (numpy or numba).

        Returns
        -------
        log_proba : ndarray of shape (n, n_experts)
            Rows logsumexp to 0.
        """
        softmax = self._trained()
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return softmax.log_proba(self._design(X), kernels)

    def keep_experts(self, keep):
        """Drop the output columns of removed experts.

        Parameters
        ----------
        keep : array-like of bool of shape (`n_experts_`,)
            True for the experts that stay.

        Returns
        -------
        self : SplineGate
            The gate itself.
        """
        self._check_initialized()
        keep = check_keep(keep, self.n_experts_)
        if self._softmax is not None:
            self._softmax.keep_experts(keep)
        self.n_experts_ = int(keep.sum())
        return self

    @property
    def n_parameters(self):
        """Free parameters, for BIC and AIC: (K - 1) * (splines + 1)."""
        return self._trained().n_parameters

    def _trained(self):
        check_is_fitted(self, "splines_")
        if self.splines_ is None:
            raise NotFittedError(
                "This SplineGate has not been trained: call m_step or fit first."
            )
        return self._softmax

    @property
    def coef_(self):
        """Weights of the splines ``splines_.transform(X)``, (n_splines, K)."""
        return self._trained().coef_

    @property
    def intercept_(self):
        """Intercepts, shape (n_experts,)."""
        return self._trained().intercept_

    def __getstate__(self):
        # The cached design of the training rows is not part of the model.
        return {**super().__getstate__(), "_cache": None}


def _fingerprint(X):
    """A checksum of X's values in their places: equal for an unchanged
    array, different (but for a coincidence) once any value changes."""
    rows, columns = X.shape
    row_weights = np.cos(np.arange(rows) * 0.7071067811865476)
    column_weights = np.cos(np.arange(1, columns + 1) * 1.4142135623730951)
    with np.errstate(all="ignore"):
        return float(row_weights @ (X @ column_weights))
