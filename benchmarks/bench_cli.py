"""Time what a new user meets first: command start-up, an exact fit, a RevMan check, MCMC
start-up in new processes and ``sparsemeta reproduce`` with and without the fit cache.

Usage::

    python benchmarks/bench_cli.py [--runs N] [--mcmc-runs M] [--skip-mcmc] [--skip-reproduce]

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
* ``sparsemeta reproduce`` of the bundled PIP plan with an empty fit cache (target <= 15 s)
  and again with the fit cache the first run filled (target <= 5 s).

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


def reproduce(runs: int, tmp: Path) -> None:
    print(f"-- item 2: sparsemeta reproduce, bundled PIP plan ({load()})")
    empty, cached = [], []
    for i in range(runs):
        root = tmp / f"reproduce-{i}"
        root.mkdir()
        env = fresh_env(root)
        argv = [*SPARSEMETA, "reproduce", "--json", "--out", str(root / "report")]
        empty.append(run(argv, env)[0])
        cached.append(run(argv, env)[0])
    report("reproduce, empty fit cache (empty compile caches)", empty, 15.0)
    report("reproduce, fit cache filled by the run before", cached, 5.0)
    print(f"   ({load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each quick command (7)")
    parser.add_argument("--mcmc-runs", type=int, default=3, help="runs of the MCMC figures (3)")
    parser.add_argument("--skip-mcmc", action="store_true")
    parser.add_argument("--skip-reproduce", action="store_true")
    args = parser.parse_args()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {load()}"
    )
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        startup(args.runs, tmp)
        if not args.skip_mcmc:
            mcmc(args.mcmc_runs, tmp)
        if not args.skip_reproduce:
            reproduce(args.mcmc_runs, tmp)


if __name__ == "__main__":
    main()
