"""Sphinx configuration of the skmoe documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html``.

Environment variables:

``SKMOE_DOCS_OFFLINE=1``
    Link to no external documentation (no intersphinx inventory is fetched).
    Without it, each inventory's host is probed once, and the unreachable
    ones are dropped, so that a build without network does not fail on a
    fetch warning under ``-W``. The test suite always builds offline.
``SKMOE_DOCS_GALLERY``
    ``"full"`` (default): run every example that draws a figure.
    ``"fast"``: run only the fast subset (the test suite's build).
    ``"none"``: run no example (the pages show the code only).
"""

import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

DOCS = Path(__file__).resolve().parent
# Document this checkout, whatever skmoe is installed.
sys.path.insert(0, str(DOCS.parent))
sys.path.insert(0, str(DOCS / "_sphinxext"))

import skmoe  # noqa: E402

project = "skmoe"
author = "skmoe developers"
copyright = "skmoe developers"
version = release = skmoe.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "sg_execution_times.rst"]
root_doc = "index"
default_role = "literal"

# API pages: one generated page per public name (api.rst lists them).
autosummary_generate = True
autodoc_default_options = {"members": False, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()  # tests/test_docstrings.py validates

# -- Links to other projects' documentation -----------------------------------
INVENTORIES = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "scipy": "https://docs.scipy.org/doc/scipy",
    "sklearn": "https://scikit-learn.org/stable",
    "dask": "https://docs.dask.org/en/stable",
    "matplotlib": "https://matplotlib.org/stable",
    "pandas": "https://pandas.pydata.org/docs",
}


def _reachable(url, timeout=2.0):
    """Whether a TCP connection to the URL's host opens within ``timeout``."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 443), timeout).close()
    except OSError:
        return False
    return True


# intersphinx turns an unreachable inventory into a warning, which -W makes an
# error; so only hosts that answer are linked. Unresolved links to those
# projects then render as plain text (nitpicky is off), never as a warning.
if os.environ.get("SKMOE_DOCS_OFFLINE", "0") not in ("", "0"):
    intersphinx_mapping = {}
else:
    intersphinx_mapping = {
        name: (url, None) for name, url in INVENTORIES.items() if _reachable(url)
    }
intersphinx_timeout = 10

# -- Gallery -------------------------------------------------------------------
GALLERY = os.environ.get("SKMOE_DOCS_GALLERY", "full")
# Examples that draw a figure and run in the docs build (each under a minute).
FULL_GALLERY = [
    "plot_gate_regions",
    "plot_mcycle",
    "plot_predictive_bands",
    "plot_convergence",
    "plot_choosing_k",
    "plot_routing",
    "plot_speed",
    "plot_neural_gate",
    "compare_ensembles",
]
# The test suite's subset: a few seconds each.
FAST_GALLERY = ["plot_gate_regions", "plot_mcycle", "plot_predictive_bands"]
if GALLERY not in ("full", "fast", "none"):
    raise ValueError(f"SKMOE_DOCS_GALLERY must be full, fast or none; got {GALLERY}")
executed = {"full": FULL_GALLERY, "fast": FAST_GALLERY, "none": []}[GALLERY]

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/(" + "|".join(executed or ["(?!)"]) + r")\.py$",
    "ignore_pattern": r"__init__\.py",
    "reset_argv": "gallery_hooks.reset_argv",
    "reset_modules": ("matplotlib", "gallery_hooks.reset_warnings"),
    "download_all_examples": False,
    "show_memory": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skmoe",),
    "backreferences_dir": None,
    "matplotlib_animations": False,
    "plot_gallery": "True",
    "abort_on_example_error": True,
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skmoe {release}"
html_theme_options = {
    # Nothing fetched at build time or by the reader's browser for the theme:
    # no icon links, no version switcher, no analytics.
    "icon_links": [],
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path = []
html_show_sourcelink = False
