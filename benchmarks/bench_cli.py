"""Time what a new user meets first: command start-up, an exact fit, a RevMan check, MCMC
start-up in new processes and ``sparsemeta reproduce`` with and without the fit cache.

Usage::

    python benchmarks/bench_cli.py [--runs N] [--mcmc-runs M] [--skip-mcmc] [--skip-reproduce]
    python benchmarks/bench_cli.py --section mcmc [--mcmc-runs M] [--family F] [--with-pymc]

Every figure is the wall time of a whole ``sparsemeta ...`` process (start-up, imports and
output included), the median of N (or M) runs after one unreported warm-up run, with the
min and max beside it. Figures of item 1 of the issue:

* ``sparsemeta --help`` (target <= 0.25 s on a quiet machine);
* ``sparsemeta fit`` exact engine, two studies (target <= 0.8 s);
* ``sparsemeta revman-check`` of a 41-outcome RevMan file, ``CD007868.rm5`` from
  ``../shared/fixtures/revman`` or ``$SPARSEMETA_FIXTURES/revman`` (target <= 1.5 s).

Figures of item 2, each run in a fresh process with its own caches in a temporary folder:

* first MCMC fit of a model family on a machine: empty PyTensor/numba compile caches and an
  empty fit cache (target <= 10 s);
* a later process fitting *other* data with the same family: the compile caches the first
  fit left on disk, no identical fit in the fit cache (target <= 2 s to the first draw); the
  wall time and the time before sampling starts (wall minus the sampler's own seconds, from
  ``--json``) are printed;
* ``sparsemeta reproduce`` of the bundled PIP plan with an empty fit cache (target <= 15 s),
  first with empty compile caches, then with the compiled models the first run left on disk,
  and again with the fit cache filled (target <= 5 s); wall and CPU seconds, and how many
  MCMC fits were sampled, compiled and loaded from the fit cache (``--section reproduce``
  runs only these).

``--section mcmc`` times the MCMC start-up of the Python API instead (``sample.sample`` on a
builder's model), each figure in fresh processes with their own PyTensor, Numba and
sparsemeta cache folders: import time apart from the time to the first draw (model built and
compiled, or loaded from sparsemeta's disk cache of compiled models), for the first fit on a
machine (all folders empty), a later process with other data, a later process without the
compiled-model cache (the state before it existed) and, with ``--with-pymc``, PyMC's NUTS.

Run it on a quiet machine for the targets; the load average (``os.getloadavg``) is printed
before and after each group, since on a shared machine the wall times follow the load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("SPARSEMETA_FIXTURES", REPO.parent / "shared" / "fixtures"))
TWO_STUDIES = "study,events_t,n_t,events_c,n_c\nAlpha 2010,8,20,1,20\nBeta 2021,5,15,0,15\n"
OTHER_TWO = "study,events_t,n_t,events_c,n_c\nGamma 2015,12,30,4,31\nDelta 2019,3,25,0,24\n"
SPARSEMETA = [sys.executable, "-m", "sparsemeta.cli"]


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall seconds of one process and its standard output."""
    t0 = time.perf_counter()
    done = subprocess.run(
        argv, env=env or dict(os.environ), capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def report(name: str, times: list[float], target: float | None, extra: str = "") -> None:
    med = statistics.median(times)
    verdict = "" if target is None else f"  target <= {target:g} s: {med / target:.2f} x target"
    print(
        f"{name:<58} median {med:7.2f} s  (min {min(times):.2f}, max {max(times):.2f}, "
        f"n = {len(times)}){verdict}{extra}"
    )


def repeat(make: Callable[[], float], runs: int, warmup: bool = True) -> list[float]:
    if warmup:
        make()
    return [make() for _ in range(runs)]


def startup(runs: int, tmp: Path) -> None:
    print(f"-- item 1: start-up and quick commands ({load()})")
    data = tmp / "two.csv"
    data.write_text(TWO_STUDIES)
    report("sparsemeta --help", repeat(lambda: run([*SPARSEMETA, "--help"])[0], runs), 0.25)
    fit = [*SPARSEMETA, "fit", str(data), "--measure", "RR", "--tau-prior", "halfnormal(0.5)"]
    report("sparsemeta fit (exact, two studies)", repeat(lambda: run(fit)[0], runs), 0.8)
    rm5 = FIXTURES / "revman" / "CD007868.rm5"
    if rm5.is_file():
        check = [*SPARSEMETA, "revman-check", str(rm5)]
        report("sparsemeta revman-check CD007868.rm5 (41 outcomes)", repeat(lambda: run(check)[0], runs), 1.5)  # fmt: skip
    else:
        print(f"revman-check: skipped ({rm5} not found)")


def fresh_env(root: Path) -> dict[str, str]:
    """Environment whose compile caches and fit cache live under ``root``."""
    env = dict(os.environ)
    env["PYTENSOR_FLAGS"] = f"compiledir={root / 'pytensor'}"
    env["NUMBA_CACHE_DIR"] = str(root / "numba")
    env["SPARSEMETA_CACHE_DIR"] = str(root / "fits")
    return env


def mcmc(runs: int, tmp: Path) -> None:
    print(f"-- item 2: MCMC start-up, binomial-rr model, 4 chains x 1000 draws ({load()})")
    first, later, before_draw = [], [], []
    a, b = tmp / "a.csv", tmp / "b.csv"
    a.write_text(TWO_STUDIES)
    b.write_text(OTHER_TWO)

    def fit(path: Path, env: dict[str, str]) -> tuple[float, dict]:
        argv = [*SPARSEMETA, "fit", str(path), "--measure", "RR", "--model", "binomial-rr"]
        seconds, out = run([*argv, "--tau-prior", "halfnormal(0.5)", "--json"], env)
        return seconds, json.loads(out)

    for i in range(runs):
        root = tmp / f"caches-{i}"
        env = fresh_env(root)
        seconds, _ = fit(a, env)
        first.append(seconds)
        seconds, record = fit(b, env)
        later.append(seconds)
        before_draw.append(seconds - record["sampler"]["sampling_seconds"])
    report("first fit of the family (empty caches)", first, 10.0)
    report("later process, other data (compile caches on disk)", later, None)
    report("  of which before the first draw", before_draw, 2.0)
    print(f"   ({load()})")


def _cpu_of_children() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def reproduce(runs: int, tmp: Path) -> None:
    """``sparsemeta reproduce`` three ways per run, in one cache folder: all caches empty
    (first run on a machine), the fit cache emptied but the compiled models kept (the
    usual first run of a new plan or new data), and the fit cache filled by the run
    before. Wall and CPU seconds (the process and its children) of each."""
    print(f"-- item 2: sparsemeta reproduce, bundled PIP plan ({load()})")
    cases = {"empty": ([], []), "compiled": ([], []), "cached": ([], [])}
    loads = []
    for i in range(runs):
        root = tmp / f"reproduce-{i}"
        root.mkdir()
        env = fresh_env(root)
        argv = [*SPARSEMETA, "reproduce", "--json", "--out", str(root / "report")]
        for case in ("empty", "compiled", "cached"):
            if case == "compiled":  # keep sparsemeta's compiled models, drop the fits
                for entry in (root / "fits").glob("*.fit"):
                    entry.unlink()
            cpu = _cpu_of_children()
            loads.append(os.getloadavg()[0])
            wall, out = run(argv, env)
            cases[case][0].append(wall)
            cases[case][1].append(_cpu_of_children() - cpu)
            fits = [d for a in json.loads(out)["analyses"] for d in a["diagnostics"].values()]
            compiled = sum(not d["from_disk"] and d["compile_seconds"] > 0 for d in fits)
            sampled = sum(not d["from_disk"] for d in fits)
            print(
                f"   run {i + 1}, {case}: {wall:.1f} s wall, {cases[case][1][-1]:.1f} s CPU; "
                f"{len(fits)} MCMC fits: {sampled} sampled, {compiled} compiled or loaded "
                f"compiled, {len(fits) - sampled} from the fit cache (load {loads[-1]:.1f})"
            )
    names = {
        "empty": ("reproduce, empty fit cache, empty compile caches", 15.0),
        "compiled": ("reproduce, empty fit cache, compiled models on disk", 15.0),
        "cached": ("reproduce, fit cache filled by the run before", 5.0),
    }
    for case, (name, target) in names.items():
        walls, cpus = cases[case]
        report(name, walls, target, f"; CPU median {statistics.median(cpus):.1f} s")
    print(f"   ({load()})")


# ----------------------------------------------------------------------------- --section mcmc
# MCMC start-up of the Python API (item 2): import time and time to the first draw apart.

#: child process: imports, builds a model, fits it; prints seconds as JSON. The sampler's
#: entry (nutpie.sample or pymc.sample) is timed: from there the first draw is immediate.
_MCMC_CHILD = """
import json, sys, time, warnings
t0 = time.perf_counter()
import numpy as np
import nutpie, pymc
from sparsemeta.bayes import models, sample
from sparsemeta.bayes.priors import parse
t1 = time.perf_counter()
family, engine, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
entry = []
for mod, name in ((nutpie, "sample"), (pymc, "sample")):
    real = getattr(mod, name)
    def timed(*a, _real=real, **kw):
        entry.append(time.perf_counter())
        return _real(*a, **kw)
    setattr(mod, name, timed)
rng = np.random.default_rng(k)
labels = [f"S{i}" for i in range(k)]
prior = parse("halfnormal(0.5)")
if family == "normal-normal":
    model = models.normal_normal(rng.normal(0, 0.5, k), rng.uniform(0.2, 0.6, k), labels, prior, None)
else:
    n = rng.integers(20, 60, k)
    model = models.binomial_rr(rng.integers(0, 8, k), n, rng.integers(0, 8, k), n, labels, prior, None)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fit = sample.sample(model, engine=engine, seed=1)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first_draw": entry[0] - t1, "fit": t2 - t1,
                  "sampling": fit.sampling_seconds, "disk": fit.compiled_from_disk,
                  "engine": fit.engine}))
"""


def _mcmc_child(
    family: str, engine: str, k: int, caches: Path, fits: Path | None = None
) -> dict[str, object]:
    """One fresh process: PyTensor's compile folder (its C modules and Numba cache), Numba's
    cache and sparsemeta's caches (compiled models, fits) under ``caches`` (sparsemeta's
    under ``fits`` instead when given)."""
    env = dict(os.environ)
    env["PYTENSOR_FLAGS"] = f"base_compiledir={caches / 'pytensor'}"
    env["NUMBA_CACHE_DIR"] = str(caches / "numba")
    env["SPARSEMETA_CACHE_DIR"] = str(fits or caches / "sparsemeta")
    load_before = os.getloadavg()[0]
    _, out = run([sys.executable, "-c", _MCMC_CHILD, family, engine, str(k)], env)
    record = json.loads(out.strip().splitlines()[-1])
    record["load"] = (load_before + os.getloadavg()[0]) / 2
    return record


def _mcmc_report(
    name: str, records: list[dict[str, object]], target: float | None, inside: bool = False
) -> None:
    """One figure; ``inside``: the sampler compiles inside its own call (PyMC), so the
    first draw cannot be timed apart and the sampler call includes compilation."""

    def med(field: str) -> str:
        values = [float(r[field]) for r in records]  # type: ignore[arg-type]
        return f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"

    first = statistics.median(float(r["first_draw"]) for r in records)  # type: ignore[arg-type]
    verdict = "" if target is None else f"  target <= {target:g} s: {first / target:.2f} x"
    loads = [float(r["load"]) for r in records]  # type: ignore[arg-type]
    disk = sum(bool(r["disk"]) for r in records)
    ready = "not separable" if inside else f"{med('first_draw')} s"
    run_name = "sampler call incl. compilation" if inside else "sampling"
    print(
        f"{name}\n    import {med('import')} s | to first draw {ready} | "
        f"{run_name} {med('sampling')} s | n = {len(records)}, compiled model from disk "
        f"{disk}/{len(records)}, load {min(loads):.1f}-{max(loads):.1f}{verdict}"
    )


def mcmc_start(runs: int, tmp: Path, family: str, with_pymc: bool) -> None:
    """First fit on a machine, later processes, and the options compared (see main)."""
    print(
        f"-- item 2: MCMC start-up, Python API, {family} model, HN(0.5) tau prior, 4 chains x "
        f"(1000 + 1000) draws, seed 1 ({load()})\n"
        "   import = importing nutpie, pymc and sparsemeta.bayes; to first draw = from "
        "there to the sampler's start (model built, compiled or loaded); medians (min-max) "
        "of fresh processes"
    )
    first, later, recompiled = [], [], []
    for i in range(runs):
        caches = tmp / f"mcmc-{family}-{i}"
        first.append(_mcmc_child(family, "nutpie", 2, caches))
        later.append(_mcmc_child(family, "nutpie", 5 if family == "normal-normal" else 2, caches))
        # the compile caches of PyTensor and Numba warm, no compiled model of sparsemeta's:
        # what every process paid before compiled models persisted
        recompiled.append(_mcmc_child(family, "nutpie", 2, caches, tmp / f"none-{family}-{i}"))
    _mcmc_report("first fit on a machine (all cache folders empty)", first, 10.0)
    _mcmc_report("later process, other data (caches as the first fit left them)", later, 2.0)
    _mcmc_report("later process without sparsemeta's compiled-model cache", recompiled, None)
    if with_pymc:
        pymc_first, pymc_later = [], []
        for i in range(runs):
            caches = tmp / f"pymc-{family}-{i}"
            pymc_first.append(_mcmc_child(family, "pymc", 2, caches))
            pymc_later.append(_mcmc_child(family, "pymc", 2, caches))
        _mcmc_report(
            "option: PyMC's NUTS (C backend), first fit on a machine", pymc_first, None, True
        )
        _mcmc_report("option: PyMC's NUTS (C backend), later process", pymc_later, None, True)
    print(f"   ({load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each quick command (7)")
    parser.add_argument("--mcmc-runs", type=int, default=3, help="runs of the MCMC figures (3)")
    parser.add_argument("--skip-mcmc", action="store_true")
    parser.add_argument("--skip-reproduce", action="store_true")
    parser.add_argument(
        "--section",
        choices=["mcmc", "reproduce"],
        help="only this section: mcmc = MCMC start-up of the Python API (--mcmc-runs runs; "
        "--family, --with-pymc); reproduce = sparsemeta reproduce (--mcmc-runs runs)",
    )
    parser.add_argument(
        "--family", default="normal-normal", choices=["normal-normal", "binomial-rr"]
    )
    parser.add_argument("--with-pymc", action="store_true", help="also time PyMC's NUTS")
    args = parser.parse_args()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {load()}"
    )
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if args.section == "mcmc":
            mcmc_start(args.mcmc_runs, tmp, args.family, args.with_pymc)
            return
        if args.section == "reproduce":
            reproduce(args.mcmc_runs, tmp)
            return
        startup(args.runs, tmp)
        if not args.skip_mcmc:
            mcmc(args.mcmc_runs, tmp)
        if not args.skip_reproduce:
            reproduce(args.mcmc_runs, tmp)


if __name__ == "__main__":
    main()
