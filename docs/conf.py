"""Sphinx configuration for the sparsemeta documentation.

Build (warnings are errors, notebooks are executed)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

Every page under ``notebooks/`` is a MyST Markdown notebook that myst-nb executes at build
time, so each number and figure in the documentation is produced by the code shown beside it.
"""

from __future__ import annotations

import os

import sparsemeta

project = "sparsemeta"
author = "sparsemeta developers"
copyright = "2026, sparsemeta developers"
version = release = sparsemeta.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax 3 shipped with the package and copied into the build: formulas render without
    # network access (sphinx.ext.mathjax alone loads MathJax from a CDN)
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
]

exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
html_static_path = ["_static"]

# --- MyST and notebook execution -------------------------------------------------------
myst_enable_extensions = ["amsmath", "colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
nb_execution_mode = os.environ.get("SPARSEMETA_DOCS_EXECUTE", "force")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# --- API reference -----------------------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


def _headings_as_paragraphs(app, what, name, obj, options, lines):
    """Render section headings inside docstrings as bold paragraphs.

    numpydoc turns the sections of function and class docstrings into rubrics, and module
    docstrings may hold plain section headings ("References" underlined with dashes). docutils
    0.22 names both, so the "References" of two modules on different pages are reported as a
    duplicate label (a warning that cannot be suppressed). A bold paragraph reads the same and
    names nothing. Runs after numpydoc (priority 900).
    """
    for i, line in enumerate(lines):
        if line.startswith(".. rubric:: "):
            lines[i] = f"**{line.removeprefix('.. rubric:: ')}**"
        elif (
            what == "module"
            and 0 < i < len(lines) - 1
            and line.strip()
            and not lines[i - 1].strip()
            and len(set(lines[i + 1])) == 1
            and lines[i + 1][0] in "-=~^"
            and len(lines[i + 1]) >= len(line.strip())
        ):
            lines[i], lines[i + 1] = f"**{line.strip()}**", ""


def setup(app):
    """Sphinx extension hook of this configuration."""
    app.connect("autodoc-process-docstring", _headings_as_paragraphs, priority=900)


# --- HTML --------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sparsemeta {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
