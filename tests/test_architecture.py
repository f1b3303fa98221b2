"""The package's shape: no import cycles, and the presentation layer computes nothing.

Read statically from the source with ``ast``: every ``import``/``from ... import`` in a
module (at any depth, lazy imports in functions included) except those under
``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import sparsemeta

SRC = Path(sparsemeta.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for child in node.body for n in ast.walk(child)}
    return skip


def _imports(name: str) -> set[str]:
    """The package modules that module ``name`` imports (outside TYPE_CHECKING blocks)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    # the top-level façade only re-exports lazily; it is not a dependency of anything
    return {m for m in found if m in MODULES and m not in (name, "sparsemeta")}


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan 1972)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_package_module_imports_another_in_a_cycle():
    assert _cycles(GRAPH) == []


ESTIMATORS = (
    "sparsemeta.frequentist",
    "sparsemeta.bayes.exact",
    "sparsemeta.bayes.sample",
    "sparsemeta.bayes.models",
    "sparsemeta.bayes.sensitivity",
    "sparsemeta.bayes.regression",
    "sparsemeta.bayes.leave_one_out",
    "sparsemeta.bayes.averaging",
    "sparsemeta.simulate",
    "sparsemeta.review.reproduce",
)


@pytest.mark.parametrize("module", ["sparsemeta.present.report", "sparsemeta.present.format"])
def test_the_report_imports_no_estimator(module):
    wrong = [m for m in GRAPH[module] if m.startswith(ESTIMATORS)]
    assert wrong == []


def test_no_computing_module_loads_the_plotting_module():
    """Formatting lives in present.format, so importing a computing module never loads
    present.plots (a result's ``plot()`` method imports it when called: that is its job)."""
    code = (
        "import sys, sparsemeta.frequentist, sparsemeta.bayes.sensitivity, "
        "sparsemeta.bayes.sample, sparsemeta.review.reproduce, sparsemeta.review.batch, "
        "sparsemeta.simulate; print('sparsemeta.present.plots' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_report_renders_a_reproduction_without_computing(tmp_path, monkeypatch):
    from sparsemeta.bayes import exact, sample, sensitivity
    from sparsemeta.errors import SingleStudyWarning
    from sparsemeta.frequentist import analysis
    from sparsemeta.present import report
    from sparsemeta.review import plan as plan_mod
    from sparsemeta.review.reproduce import reproduce

    full = plan_mod.load(plan_mod.packaged("pip_barlow2015"))
    small = dataclasses.replace(full, analyses=full.analyses[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingleStudyWarning)
        result = reproduce(small, mcmc=False)

    def computes(*args: object, **kwargs: object) -> None:
        raise AssertionError("the report computed an estimate")

    for mod, name in (
        (exact, "posterior"),
        (sensitivity, "compare_priors"),
        (analysis, "meta_analysis"),
        (sample, "sample"),
    ):
        monkeypatch.setattr(mod, name, computes)
    out = report.write_report(result, tmp_path / "r")
    assert (out / "report.md").is_file() and (out / "prior_comparison.csv").is_file()


def test_exact_engines_run_without_pymc():
    """The exact engines and the prior comparison built on them never load PyMC or PyTensor
    (importing them costs seconds: ``reproduce --no-mcmc`` and ``fit --engine exact``)."""
    code = (
        "import sys\n"
        "from sparsemeta.bayes import exact, exact_binomial, exact_binomial_rr, sensitivity\n"
        "counts = ([3, 0], [30, 25], [0, 0], [28, 26])\n"
        "exact_binomial.posterior(*counts, 'halfnormal(0.5)').summary()\n"
        "exact_binomial_rr.posterior(*counts, 'halfnormal(0.5)').summary()\n"
        "exact.posterior([0.1, 0.5], [0.2, 0.3], 'halfnormal(0.5)', None).summary()\n"
        "print(sorted(m for m in ('pymc', 'pytensor', 'nutpie') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
