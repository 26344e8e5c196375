"""The neural gate: a softmax network trained on the responsibilities of EM.

``MLPGate`` raises the penalised soft-target log-likelihood ``sum_i w_i
sum_k R_ik log g_k(x_i) - alpha / 2 * ||weights||^2`` directly: the
responsibilities are targets, not labels, so the data are never stacked once
per expert. Each M-step continues L-BFGS from the weights of the previous
one (the EM warm start) and keeps them if it found nothing better, so the
gate's M-step never lowers its objective.
"""

import importlib.util
import types
from numbers import Integral, Real

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)

from ._backend import kernel_threads
from ._gate_common import (
    GateProbaMixin,
    check_gate_size,
    check_keep,
    check_soft_targets,
    initialize_for_fit,
)
from ._kernels import _mlp_xp


def mlp_kernels(kernels):
    """The kernel module of the neural gate for a backend choice.

    Parameters
    ----------
    kernels : {"auto", "numpy", "numba"} or module
        A backend name ("auto": numba when it is installed), or one of
        skmoe's kernel modules (``skmoe._kernels._numba``, ``_xp``), as the
        EM loop holds them: the gate's kernels of the same kind.

    Returns
    -------
    module
        ``skmoe._kernels._mlp_numba`` or ``skmoe._kernels._mlp_xp``.
    """
    if isinstance(kernels, types.ModuleType):
        kernels = "numba" if kernels.__name__.endswith("_numba") else "numpy"
    if kernels == "auto":
        kernels = "numba" if importlib.util.find_spec("numba") is not None else "numpy"
    if kernels == "numba":
        from ._kernels import _mlp_numba

        return _mlp_numba
    if kernels == "numpy":
        return _mlp_xp
    raise ValueError(
        f'kernels must be "auto", "numpy", "numba" or a kernel module; got {kernels!r}.'
    )


def _kernel_threads(module, n_samples):
    """One thread for small data (see ``skmoe._backend.kernel_threads``)."""
    return kernel_threads("numpy" if module is _mlp_xp else "numba", n_samples)


class MLPGate(GateProbaMixin, BaseEstimator):
    """Neural gate of a mixture of experts: a softmax network fitted by EM.

    A multilayer perceptron whose softmax output gives, for each sample, the
    probability of each expert. It is trained on the responsibilities of the
    E-step as soft targets, maximising the penalised weighted log-likelihood
    ``sum_i w_i sum_k R_ik log g_k(x_i) - alpha / 2 * ||weights||^2`` with
    L-BFGS, warm-started from one EM iteration to the next; an M-step never
    lowers this objective. It draws regime boundaries a linear softmax gate
    cannot (a disc, a band, a checkerboard).

    The network sees the features standardised by their weighted mean and
    standard deviation at the first M-step after :meth:`initialize`.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int or int, default=(16,)
        Units of each hidden layer; ``()`` gives a linear softmax gate.
    alpha : float, default=1e-4
        L2 penalty on the weights (not the intercepts), on the scale of the
        summed, not averaged, log-likelihood: its effect fades as data grow.
    max_iter : int, default=50
        Largest number of L-BFGS iterations per M-step. EM calls the M-step
        at every iteration from the previous weights, so a few tens suffice.
    tol : float, default=1e-6
        An M-step stops when an L-BFGS iteration raises the objective per
        unit of sample weight by less than ``tol`` (relatively) or its largest
        gradient component falls below it.
    activation : {"relu", "tanh"}, default="relu"
        Activation of the hidden layers.
    backend : {"auto", "numpy", "numba"}, default="auto"
        Kernels used when a method is not told which: numba (parallel) or
        numpy. "auto": numba when it is installed.
    random_state : int, RandomState instance or None, default=None
        Seed of the initial weights when :meth:`initialize` is given none.

    Attributes
    ----------
    coefs_ : list of ndarray
        Weights of each layer, shapes ``(fan_in, fan_out)``; the first acts on
        the standardised features ``(X - feature_mean_) / feature_scale_``.
    intercepts_ : list of ndarray
        Intercepts of each layer, shapes ``(fan_out,)``.
    n_experts_ : int
        Number of outputs (experts).
    n_features_in_ : int
        Number of features.
    feature_names_in_ : ndarray of str
        Names of the features, when :meth:`fit` saw them in a DataFrame.
    feature_mean_, feature_scale_ : ndarray of shape (`n_features_in_`,) or None
        Standardisation of the features; None until the first M-step.
    objective_ : float or None
        Penalised objective after the last M-step, on its targets.
    n_iter_ : int
        L-BFGS iterations of the last M-step.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The same network on hard labels.

    Notes
    -----
    The protocol of the EM loop: :meth:`initialize` once per run, then
    :meth:`m_step` and :meth:`log_proba` at each iteration on the raw
    features (``uses_design = False``), :meth:`keep_experts` when experts
    die, and :attr:`n_parameters` for the information criteria.

    Examples
    --------
    >>> import numpy as np
    >>> from skmoe._mlp_gate import MLPGate
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-2, 2, size=(400, 2))
    >>> inside = (X**2).sum(axis=1) < 1
    >>> responsibilities = np.column_stack([inside, ~inside]).astype(float)
    >>> gate = MLPGate(hidden_layer_sizes=(8,), random_state=0)
    >>> gate = gate.initialize(n_experts=2, n_features=2)
    >>> for _ in range(5):  # as EM would, here always on the same targets
    ...     gate = gate.m_step(X, responsibilities, sample_weight=None)
    >>> gate.predict_proba([[0.0, 0.0], [1.5, 1.5]]).round(2)
    array([[1., 0.],
           [0., 1.]])
    """

    #: The gate takes the raw features, not the EM loop's design matrix.
    uses_design = False

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "activation": [StrOptions(set(_mlp_xp.ACTIVATIONS))],
        "backend": [StrOptions({"auto", "numpy", "numba"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(16,),
        alpha=1e-4,
        max_iter=50,
        tol=1e-6,
        activation="relu",
        backend="auto",
        random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.activation = activation
        self.backend = backend
        self.random_state = random_state

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not all(isinstance(size, Integral) and size >= 1 for size in sizes):
            raise ValueError(
                "hidden_layer_sizes must hold positive integers; got "
                f"{self.hidden_layer_sizes!r}."
            )
        return [int(size) for size in sizes]

    @property
    def _layer_sizes(self):
        return (self.n_features_in_, *self._hidden_sizes(), self.n_experts_)

    @_fit_context(prefer_skip_nested_validation=True)
    def initialize(self, n_experts, n_features, random_state=None):
        """Draw the initial weights; called once per EM run.

        Glorot-uniform weights and intercepts, as scikit-learn's
        ``MLPClassifier`` draws them. Forgets any previous fit, including the
        standardisation of the features.

        Parameters
        ----------
        n_experts : int
            Number of outputs.
        n_features : int
            Number of features of X.
        random_state : int, RandomState instance or None, default=None
            Seed of the draw; the EM loop passes its own so that restarts
            differ. None: the gate's ``random_state``.

        Returns
        -------
        self : MLPGate
            The gate itself.
        """
        check_gate_size(n_experts, n_features)
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        self.__dict__.pop("feature_names_in_", None)
        self.n_experts_ = int(n_experts)
        self.n_features_in_ = int(n_features)
        self.coefs_, self.intercepts_ = [], []
        sizes = self._layer_sizes
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            self.coefs_.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
            self.intercepts_.append(rng.uniform(-bound, bound, fan_out))
        self.feature_mean_ = None
        self.feature_scale_ = None
        self.objective_ = None
        self.n_iter_ = 0
        return self

    def _check_initialized(self):
        if not hasattr(self, "coefs_"):
            raise NotFittedError(
                "This MLPGate has no weights yet: call initialize(n_experts, "
                "n_features) or fit(X, responsibilities) first."
            )

    def _validate_targets(self, X, responsibilities, sample_weight):
        return check_soft_targets(X, responsibilities, sample_weight, self.n_experts_)

    def m_step(self, X, responsibilities, sample_weight=None, kernels=None, full=False):
        """Raise the gate's objective on the responsibilities, from the current weights.

        At most ``max_iter`` L-BFGS iterations; the weights change only if
        they raise ``sum_i w_i sum_k R_ik log g_k(x_i) - alpha / 2 *
        ||weights||^2``. The first call after :meth:`initialize` also fixes
        the standardisation of the features.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
            Raw features.
        responsibilities : array-like of shape (n, n_experts)
            Soft targets, non-negative (rows usually sum to one).
        sample_weight : array-like of shape (n,), default=None
            Non-negative weights; None: ones.
        kernels : {"auto", "numpy", "numba"}, module or None, default=None
            Kernels to run (see :func:`mlp_kernels`); None: ``backend``.
        full : bool, default=False
            Accepted for the EM protocol (EM passes True at the first M-step
            of a run); every M-step already runs L-BFGS up to ``max_iter``.

        Returns
        -------
        self : MLPGate
            The gate itself.
        """
        self._check_initialized()
        X = validate_data(self, X, reset=False, dtype=np.float64)
        responsibilities, sample_weight = self._validate_targets(
            X, responsibilities, sample_weight
        )
        return self._m_step(X, responsibilities, sample_weight, kernels)

    def _m_step(self, X, responsibilities, sample_weight, kernels):
        module = mlp_kernels(self.backend if kernels is None else kernels)
        if self.feature_mean_ is None:
            self.feature_mean_, self.feature_scale_ = _mlp_xp.weighted_standardisation(
                X, sample_weight
            )
        layer_sizes = self._layer_sizes
        total_weight = float(sample_weight.sum())

        def objective(params):
            return module.mlp_objective(
                X,
                self.feature_mean_,
                self.feature_scale_,
                params,
                layer_sizes,
                self.activation,
                responsibilities,
                sample_weight,
                self.alpha,
            )

        def loss(params):
            # Minimised per unit of weight, so that tol means the same at any n.
            nonlocal best_params, best
            result = cached.pop(params.tobytes(), None)
            if result is None:
                result = objective(params)
            if result.value > best.value:
                best_params, best = params.copy(), result
            return -result.value / total_weight, -result.gradient / total_weight

        start = _mlp_xp.pack(self.coefs_, self.intercepts_)
        with _kernel_threads(module, X.shape[0]):
            # The start is evaluated first and kept unless beaten: an M-step
            # never lowers the objective, whatever the optimiser ends with.
            best_params, best = start, objective(start)
            cached = {start.tobytes(): best}
            solution = minimize(
                loss,
                start,
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": self.max_iter, "ftol": self.tol, "gtol": self.tol},
            )
        layers = _mlp_xp.unpack(best_params, layer_sizes)
        self.coefs_ = [coef.copy() for coef, _ in layers]
        self.intercepts_ = [intercept.copy() for _, intercept in layers]
        self.objective_ = best.value
        self.n_iter_ = int(solution.nit)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, responsibilities, sample_weight=None):
        """Fit the gate alone on soft targets: :meth:`initialize`, then one M-step.

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
        self : MLPGate
            The gate itself.
        """
        X = initialize_for_fit(self, X, responsibilities)
        responsibilities, sample_weight = self._validate_targets(
            X, responsibilities, sample_weight
        )
        return self._m_step(X, responsibilities, sample_weight, None)

    def log_proba(self, X, kernels=None):
        """Log gate probabilities on raw features, shape (n, n_experts).

        Parameters
        ----------
        X : array-like of shape (n, n_features)
            Raw features.
        kernels : {"auto", "numpy", "numba"}, module or None, default=None
            Kernels to run (see :func:`mlp_kernels`); None: ``backend``.

        Returns
        -------
        log_proba : ndarray of shape (n, n_experts)
            Rows logsumexp to 0.
        """
        check_is_fitted(self, "feature_mean_")
        if self.feature_mean_ is None:
            raise NotFittedError(
                "This MLPGate has not been trained: call m_step or fit first."
            )
        X = validate_data(self, X, reset=False, dtype=np.float64)
        module = mlp_kernels(self.backend if kernels is None else kernels)
        with _kernel_threads(module, X.shape[0]):
            return module.mlp_log_softmax(
                X,
                self.feature_mean_,
                self.feature_scale_,
                _mlp_xp.pack(self.coefs_, self.intercepts_),
                self._layer_sizes,
                self.activation,
            )

    def keep_experts(self, keep):
        """Drop the output units of removed experts.

        The other weights stay as they are: the warm start of the next M-step.

        Parameters
        ----------
        keep : array-like of bool of shape (`n_experts_`,)
            True for the experts that stay.

        Returns
        -------
        self : MLPGate
            The gate itself.
        """
        self._check_initialized()
        keep = check_keep(keep, self.n_experts_)
        self.coefs_[-1] = self.coefs_[-1][:, keep]
        self.intercepts_[-1] = self.intercepts_[-1][keep]
        self.n_experts_ = int(keep.sum())
        self.objective_ = None
        return self

    @property
    def n_parameters(self):
        """Free parameters, for BIC and AIC.

        All weights and intercepts but one output unit's: adding the same
        vector to every output unit leaves the softmax unchanged. A gate of
        one expert is constant: 0.
        """
        self._check_initialized()
        if self.n_experts_ == 1:
            return 0
        sizes = self._layer_sizes
        return _mlp_xp.n_params(sizes) - (sizes[-2] + 1)
