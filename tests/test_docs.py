"""The documentation: it builds without a warning, and covers the public API.

The build runs Sphinx with ``-W`` on a copy of ``docs/`` and ``examples/`` in a
temporary directory, offline (no intersphinx inventory is fetched) and with
the fast subset of the gallery (``SKMOE_DOCS_GALLERY=fast``); the full gallery
runs in the documentation build itself. See ``docs/conf.py``.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import skmoe
import skmoe.datasets
import skmoe.model_selection
import skmoe.plotting

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"


def documented_names():
    """Names listed in autosummary tables of api.rst, with their module."""
    names, module = set(), None
    for line in (DOCS / "api.rst").read_text().splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            module = match.group(1)
        elif re.match(r"   [A-Za-z_]\w*$", line):
            names.add(f"{module}.{line.strip()}")
    return names


def test_api_reference_lists_every_public_name():
    documented = documented_names()
    expected = {f"skmoe.{name}" for name in skmoe.__all__ if name != "__version__"}
    for module in (skmoe.datasets, skmoe.plotting):
        expected |= {f"{module.__name__}.{name}" for name in module.__all__}
    # model_selection's functions are documented where skmoe exports them.
    for name in skmoe.model_selection.__all__:
        assert getattr(skmoe, name) is getattr(skmoe.model_selection, name)
        expected.add(f"skmoe.{name}")
    assert expected <= documented, f"missing from api.rst: {expected - documented}"
    assert documented <= expected, f"not public: {documented - expected}"


def example_docstrings():
    for path in sorted(EXAMPLES.glob("*.py")):
        yield pytest.param(path, id=path.name)


@pytest.mark.parametrize("path", example_docstrings())
def test_example_has_a_title(path):
    docstring = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    assert docstring is not None, f"{path.name} has no docstring"
    lines = docstring.strip().splitlines()
    assert len(lines) >= 2 and re.fullmatch(r"=+", lines[1]), (
        f"{path.name}: the docstring must start with a title underlined by '='"
    )
    assert len(lines[1]) >= len(lines[0])


def test_gallery_draws_at_least_eight_figures():
    sys.path.insert(0, str(DOCS))
    try:
        import conf  # noqa: F401  (the gallery lists of docs/conf.py)
    finally:
        sys.path.remove(str(DOCS))
        sys.modules.pop("conf", None)
    assert len(conf.FULL_GALLERY) >= 8
    assert set(conf.FAST_GALLERY) <= set(conf.FULL_GALLERY)
    for name in conf.FULL_GALLERY:
        source = (EXAMPLES / f"{name}.py").read_text()
        assert "plt.show()" in source, f"{name}.py draws no figure"


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory):
    """Build a copy of docs/ offline with the fast gallery; the output dir."""
    pytest.importorskip("sphinx")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("numpydoc")
    pytest.importorskip("pydata_sphinx_theme")
    pytest.importorskip("matplotlib")
    work = tmp_path_factory.mktemp("docs")
    ignore = shutil.ignore_patterns("_build", "auto_examples", "generated")
    shutil.copytree(DOCS, work / "docs", ignore=ignore)
    shutil.copytree(EXAMPLES, work / "examples")
    env = {
        **os.environ,
        "SKMOE_DOCS_OFFLINE": "1",
        "SKMOE_DOCS_GALLERY": "fast",
        "MPLBACKEND": "Agg",
        # This checkout's skmoe, whatever is installed.
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    html = work / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q"]
    command += ["-b", "html", "-d", str(work / "doctrees"), str(work / "docs")]
    result = subprocess.run(
        [*command, str(html)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return html


def test_docs_build_has_user_guide_api_and_gallery(built_docs):
    for page in [
        "index.html",
        "api.html",
        "user_guide/model_and_em.html",
        "user_guide/coming_from_r.html",
        "generated/skmoe.MixtureOfExpertsRegressor.html",
        "generated/skmoe.datasets.load_mcycle.html",
        "generated/skmoe.plotting.plot_gate.html",
        "auto_examples/index.html",
    ]:
        assert (built_docs / page).is_file(), page
    images = list((built_docs / "_images").glob("sphx_glr_plot_*_001.png"))
    assert len(images) >= 3


def test_docs_pages_fetch_nothing_at_build_time(built_docs):
    # No intersphinx inventory in the offline build: links to other projects'
    # documentation are absent, never broken.
    page = (built_docs / "generated" / "skmoe.datasets.load_mcycle.html").read_text()
    assert "scikit-learn.org" not in page
