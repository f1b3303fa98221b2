"""Time the whole ``sparsemeta reproduce`` run on the bundled PIP plan: cold, warm and hot.

Usage::

    python benchmarks/bench_reproduce.py [--no-mcmc] [--hot-runs N]

* **cold**: ``sparsemeta reproduce --json --out DIR`` in a fresh Python process with empty
  PyTensor and numba compile caches (temporary folders), so every model is compiled;
  the wall time of the process, imports included.
* **warm**: the same command in another fresh process, with the caches the cold run left
  on disk (what a user's second run costs): PyTensor's and numba's compile caches and
  sparsemeta's cache of finished MCMC fits (:func:`sparsemeta.bayes.sample.cache_dir`).
* **hot**: the command with ``--no-cache`` run again inside one process
  (``sparsemeta.cli.main``) after a first run, so compiled models are reused from the
  per-process cache of :mod:`sparsemeta.bayes.sample` and every fit is sampled; the best of ``N`` runs, split into the computation
  (:func:`sparsemeta.review.reproduce.reproduce`) and the report (:func:`sparsemeta.present.report.write_report`).

Wall and CPU seconds are printed (CPU counts every thread; on a busy machine the CPU time
is the steadier figure). Targets on two cores: cold ≤ 60 s, warm ≤ 20 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLD_TARGET, WARM_TARGET = 60.0, 20.0


def in_fresh_process(extra: list[str], caches: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one run in a fresh process with compile caches in ``caches``."""
    env = dict(os.environ)
    env["PYTENSOR_FLAGS"] = f"compiledir={caches / 'pytensor'}"
    env["NUMBA_CACHE_DIR"] = str(caches / "numba")
    env["SPARSEMETA_CACHE_DIR"] = str(caches / "sparsemeta")
    with tempfile.TemporaryDirectory() as out:
        cmd = [
            sys.executable, "-c", "import sys; from sparsemeta.cli import main; "
            "sys.exit(main(sys.argv[1:]))", "reproduce", "--json", "--out",
            str(Path(out) / "report"), *extra,
        ]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"run failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def hot(extra: list[str], runs: int) -> tuple[float, float, float, float]:
    """Best (total, CPU, compute, report) seconds of ``runs`` runs after a first one."""
    from sparsemeta.cli import main
    from sparsemeta.cli import reproduce as cli
    from sparsemeta.present import report

    phases: dict[str, float] = {}
    compute, write = cli.reproduce, report.write_report

    def timed_compute(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return compute(*args, **kwargs)
        finally:
            phases["compute"] = time.perf_counter() - t0

    def timed_write(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return write(*args, **kwargs)
        finally:
            phases["report"] = time.perf_counter() - t0

    cli.reproduce, report.write_report = timed_compute, timed_write
    best = (float("inf"), 0.0, 0.0, 0.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            argv = ["reproduce", "--json", "--no-cache", "--out", str(Path(tmp) / "report")]
            argv += extra
            for i in range(runs + 1):
                t0, c0 = time.perf_counter(), time.process_time()
                with contextlib.redirect_stdout(io.StringIO()):
                    main(argv)
                total, cpu = time.perf_counter() - t0, time.process_time() - c0
                if i and total < best[0]:  # the first run warms the caches
                    best = (total, cpu, phases["compute"], phases["report"])
    finally:
        cli.reproduce, report.write_report = compute, write
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-mcmc", action="store_true", help="exact posteriors only")
    parser.add_argument("--hot-runs", type=int, default=1)
    args = parser.parse_args()
    extra = ["--no-mcmc"] if args.no_mcmc else []
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{'exact only' if args.no_mcmc else 'exact + MCMC'}"
    )
    with tempfile.TemporaryDirectory() as caches:
        for name, target in (("cold", COLD_TARGET), ("warm", WARM_TARGET)):
            wall, cpu = in_fresh_process(extra, Path(caches))
            verdict = "ok" if wall <= target else "SLOW"
            print(
                f"{name}  {wall:6.1f} s wall, {cpu:6.1f} s CPU  (target {target:.0f} s) {verdict}",
                flush=True,
            )
    wall, cpu, compute, write = hot(extra, args.hot_runs)
    print(
        f"hot   {wall:6.1f} s wall, {cpu:6.1f} s CPU  (same process, models compiled): "
        f"compute {compute:.1f} s, report {write:.1f} s"
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
