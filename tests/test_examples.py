"""Run every script in ``examples/`` and build the API reference, so that neither can rot.

Each script runs in its own interpreter with ``SPARSEMETA_QUICK=1`` (scripts then use short
MCMC runs and small simulation grids) and must exit with status 0 without printing a
traceback. The output folder is a temporary directory (``SPARSEMETA_OUTPUT``), so running
the tests never writes into the working tree.

The documentation is built with warnings as errors and the notebooks not executed
(``SPARSEMETA_DOCS_EXECUTE=off``): that checks every docstring, cross-reference and page
quickly; the full build (``sphinx-build -W --keep-going -b html docs docs/_build/html``) also
executes the notebooks. Skipped when the ``docs`` extra is not installed.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.py"))


def _static_files() -> dict[str, tuple[int, int]]:
    """Modification time and inode of the documentation's generated files (figures,
    tables), which examples could write; a rewrite with identical bytes still changes them."""
    files = sorted((REPO / "docs" / "_static").rglob("*.*"))
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_ino) for p in files}


def test_examples_folder_is_not_empty():
    assert EXAMPLES, "no scripts found in examples/"


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path):
    env = {
        **os.environ,
        "SPARSEMETA_QUICK": "1",
        "SPARSEMETA_OUTPUT": str(tmp_path),
        "MPLBACKEND": "Agg",
    }
    before = _static_files()
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, (
        f"{script.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    # the output goes to SPARSEMETA_OUTPUT: the documentation's own files are untouched
    # (calibration.py once overwrote docs/_static/calibration.csv and .png on every run)
    changed = [p for p, stamp in _static_files().items() if before.get(p) != stamp]
    assert not changed, f"{script.name} wrote into the working tree: {changed}"


@pytest.mark.slow
def test_documentation_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    pytest.importorskip("numpydoc")
    pytest.importorskip("pydata_sphinx_theme")
    pytest.importorskip("sphinx-mathjax-offline")
    env = {**os.environ, "SPARSEMETA_DOCS_EXECUTE": "off"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(REPO / "docs"),
            str(tmp_path / "html"),
            "-d",
            str(tmp_path / "doctrees"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    # offline: no page loads a script or a style sheet from the network
    for page in (tmp_path / "html").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|link)[^>]*(?:src|href)="(?:https?:)?//[^"]*"', text)
        assert not remote, (page.name, remote[:3])


def test_documentation_renders_math_without_network():
    # checked statically, so it runs without the docs extra: conf.py loads MathJax from the
    # files sphinx-mathjax-offline ships (the extension sets mathjax_path to a local copy),
    # the extra installs it, and neither conf.py nor a template names a remote URL
    conf = (REPO / "docs" / "conf.py").read_text(encoding="utf-8")
    tree = ast.parse(conf)
    assigned = {
        t.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    extensions = ast.literal_eval(assigned["extensions"])
    assert "sphinx.ext.mathjax" in extensions and "sphinx-mathjax-offline" in extensions
    assert "mathjax_path" not in assigned
    assert not re.search(r"https?://", conf)
    templates = REPO / "docs" / "_templates"
    for path in templates.rglob("*") if templates.is_dir() else ():
        assert not re.search(r"https?://", path.read_text(encoding="utf-8")), path
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    docs_extra = pyproject.split("docs = [", 1)[1].split("]", 1)[0]
    assert "sphinx-mathjax-offline" in docs_extra
