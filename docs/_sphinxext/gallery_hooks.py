"""sphinx-gallery hooks of the skmoe docs build (named by string in conf.py,
so that the configuration stays picklable)."""

import warnings

# Examples run with a fast mode in the docs build: argv per example file.
QUICK = {"compare_ensembles.py": ["--quick"], "plot_speed.py": ["--quick"]}


def reset_argv(gallery_conf, script_vars):
    """Command-line arguments of one example in the docs build."""
    name = script_vars["src_file"].replace("\\", "/").rsplit("/", 1)[-1]
    return list(QUICK.get(name, []))


def reset_warnings(gallery_conf, fname, when=None):
    """Make a warning from skmoe or scikit-learn fail the example.

    The examples must run without warnings: set the estimators' parameters so
    that EM converges, rather than silencing ConvergenceWarning.
    """
    from sklearn.exceptions import ConvergenceWarning

    warnings.resetwarnings()
    warnings.simplefilter("default")
    warnings.filterwarnings("error", category=ConvergenceWarning)
    warnings.filterwarnings("error", category=RuntimeWarning)
    warnings.filterwarnings("error", module="skmoe")
    warnings.filterwarnings("error", module="sklearn")
    # Examples that ignore a warning on purpose say so in their code.
