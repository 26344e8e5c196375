"""Parameter documentation shared by both estimators, written once.

Each class docstring holds ``{name}`` fields filled from ``PARAMETERS`` by
:func:`fill_doc` (imbalanced-learn's ``Substitution``, in small).
"""

import textwrap

PARAMETERS = {
    "n_experts": """\
n_experts : int, default=3
    Number of experts K.""",
    "gate": """\
gate : classifier, default=None
    None: the built-in softmax gate with a weak L2 penalty
    (``1 / (2 * 1000) * ||W||^2`` on the standardised features).
    ``LogisticRegression(C=...)``: the built-in gate with that penalty in
    LogisticRegression's units (``C=np.inf``: none). Any other classifier
    with ``predict_proba`` and a ``sample_weight`` in its ``fit`` is fitted
    on the responsibilities as soft targets (each sample once per expert,
    weighted by its responsibility). :class:`~skmoe.SplineGate` (additive
    splines of the features) and :class:`~skmoe.MLPGate` (a neural
    network) draw curved boundaries; they are trained on the
    responsibilities directly.""",
    "gate_features": """\
gate_features : list of int or str, array-like of bool, callable or None, \
default=None
    The columns of X the gate sees: None, all of them; a list of column
    indices, of column names (DataFrame input), a boolean mask, or a
    callable returning one of those from X (such as
    ``sklearn.compose.make_column_selector``). Resolved at fit and applied
    at every later method. ``[]``: a gate with an intercept only, that is
    constant mixing weights (a mixture of regressions, as mixtools'
    ``regmixEM``); the gate's standardisation and ``coef_`` are on its own
    columns.""",
    "expert_features": """\
expert_features : list of int or str, array-like of bool, callable or \
None, default=None
    The columns of X the experts see, as ``gate_features``; the experts'
    ``coef_`` and ``n_features_in_`` are on those columns (flexmix's
    ``Patents ~ lgRD`` with ``concomitant = FLXPmultinom(~ RDS)`` is
    ``expert_features=["lgRD"], gate_features=["RDS"]``).""",
    "init": """\
init : {"tree", "kmeans", "random", "spline"} or array-like of shape \
(n_samples, n_experts), default="tree"
    Initial responsibilities. "tree": the leaves of a greedy least-squares
    model tree with ``n_experts`` leaves (each split is where one linear fit
    per side, instead of one for both, lowers the squared error the most),
    grown on the standardised features and targets (at most 10,000 rows;
    a classifier's labels one-hot encoded); it finds regimes that switch
    along the features, where k-means on ``[X, y]`` and random partitions
    leave EM stuck (``benchmarks/bench_init.py``). With more than 32
    features the tree's linear fits cost more than EM, and "tree" starts as
    "kmeans" does. "kmeans": k-means on the standardised ``[X, y]``.
    "random": each sample to the nearest of K random samples. "spline":
    the gate probabilities of two quick mixtures whose softmax gate reads
    additive cubic splines of the features (at most 5,000 rows, 20
    iterations each): constant experts, then additive experts (linear in
    the same splines) from their gate; meant for flexible experts
    (networks, boosting), which can fit any split of the data and so keep
    whichever one EM starts from: these experts cannot, and their gate
    finds where the targets, then the way they depend on the features,
    change, along oblique or curved boundaries too
    (``benchmarks/bench_flexible.py``); "tree" starts instead for sparse
    input. An array: given. Restarts after the first (``n_init``) start
    from random partitions, and never twice from one partition.""",
    "continuation": """\
Experts that can continue training take partial M-steps (generalized
    EM): each M-step continues their previous fit by a slice of their own
    training budget instead of refitting them from scratch.
    ``MLPRegressor`` / ``MLPClassifier`` (solver "adam" or "sgd",
    ``early_stopping=False``): slices of their ``max_iter`` epochs, a
    quarter first, a twentieth after; a network whose last slice lowered
    its loss by less than its ``tol`` is held. ``HistGradientBoosting*``
    (``early_stopping`` "auto" or False, no categorical features) and
    ``GradientBoosting*`` (``n_iter_no_change=None``): two slices of their
    ``max_iter`` / ``n_estimators`` trees (a fifth, then the rest), grown
    on the new weights; histogram boosting is fitted on features binned once, by
    unweighted quantiles, so that its bins stay put while the
    responsibilities move. An expert whose budget is spent is held, and EM
    goes on with the gate. The experts returned keep the user's parameter
    values (a network's ``n_iter_`` counts its last slice; ``loss_curve_``
    every epoch). Every other expert is refitted at each M-step.
    ``init="spline"`` suits these flexible experts.""",
    "n_init": """\
n_init : int, default=1
    Number of EM runs; the one with the best log-likelihood is kept.
    With experts that continue training (see ``estimator``), the runs are
    compared early, and only the best goes on: networks after their first
    M-step and one iteration (a restart costs about a third of a run),
    boosting after its first M-step (a fifth of its trees).""",
    "max_iter": """\
max_iter : int, default=100
    EM iterations per run.""",
    "tol": """\
tol : float, default=1e-5
    Convergence threshold on the change of the mean (per unit of sample
    weight) log-likelihood.""",
    "top_k": """\
top_k : int, default=None
    None: predict with the full soft mixture. k: each sample goes to its
    k most trusted experts only (gate renormalised over them); other
    experts are not evaluated on it.""",
    "routing": """\
routing : {"soft", "hard"} or int, default="soft"
    Responsibilities the experts and the gate are trained on. "soft": the
    posterior probabilities (EM proper; the log-likelihood never
    decreases). "hard": each sample trains only its most responsible expert
    (classification EM): experts see disjoint subsets, which makes costly
    experts (trees, neighbours, networks) much cheaper to fit and regimes
    crisper, at the price of a biased fit where regimes overlap. k: each
    sample trains its k most responsible experts, with renormalised
    weights; the training-time counterpart of ``top_k``.""",
    "min_expert_weight": """\
min_expert_weight : float in [0, 1), default=1e-3
    An expert whose share of the (weighted) training data, the mean of its
    responsibilities, falls below this value during EM is removed (with its
    gate column), and EM goes on with the others: ``n_experts_`` says how
    many remain. Such an expert is collapsing: its fit rests on less than a
    thousandth of the data, its parameters run to their limits. The default
    is small enough never to remove a real regime of a few samples in
    hundreds; 0 never removes. R's flexmix has the same rule
    (``minprior``, default 0.05).""",
    "backend": """\
backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
    Array backend of the EM kernels: "auto" is numba when installed;
    "cupy" copies numpy input to the GPU once, trains there and brings the
    model back. Array-API input (CuPy, PyTorch...) under
    ``sklearn.config_context(array_api_dispatch=True)`` computes in its
    own namespace and on its own device whatever this says.""",
    "n_jobs": """\
n_jobs : int, default=None
    Parallel fits of experts that are fitted one by one, through joblib.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the starts and the experts' own random states.""",
    "warm_start": """\
warm_start : bool, default=False
    Continue from the previous fit (one run) instead of initialising.""",
    "verbose": """\
verbose : int, default=0
    Print the log-likelihood at every iteration.""",
}

FITTED = {
    "n_experts_": """\
n_experts_ : int
    Experts in the fitted model: ``n_experts`` minus those removed (see
    ``min_expert_weight``). Every per-expert attribute has this length.""",
    "gate_": """\
gate_ : SoftmaxGate, ClassifierGate, SplineGate or MLPGate
    The fitted gate. It reads the ``gate_features`` columns of X as a numpy
    array: ``gate_.predict_proba`` of those columns equals
    ``gate_proba(X)``.""",
    "expert_weights_": """\
expert_weights_ : ndarray of shape (`n_experts_`,)
    Share of the (weighted) training data each expert is responsible for.""",
    "log_likelihood_": """\
log_likelihood_ : float
    Training log-likelihood (natural log, total) of the kept run: the number
    R's flexmix reports as logLik.""",
    "log_likelihood_path_": """\
log_likelihood_path_ : ndarray of shape (`n_iter_`,)
    The log-likelihood after each iteration of the kept run.""",
    "n_iter_": """\
n_iter_ : int
    EM iterations of the kept run.""",
    "converged_": """\
converged_ : bool
    Whether the kept run met ``tol``.""",
    "estimator_": """\
estimator_ : estimator
    The base expert that was cloned (``estimator`` or the default).""",
    "n_features_in_": """\
n_features_in_ : int
    Number of features seen during fit.""",
    "feature_names_in_": """\
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of the features seen during fit, when they are all strings.""",
}


def fill_doc(cls):
    """Fill a class docstring's ``{name}`` fields from ``PARAMETERS``/``FITTED``."""
    fields = {
        name: textwrap.indent(text, " " * 4).lstrip()
        for name, text in {**PARAMETERS, **FITTED}.items()
    }
    cls.__doc__ = cls.__doc__.format(**fields)
    return cls
