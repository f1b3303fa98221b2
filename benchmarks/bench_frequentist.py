"""Time the RevMan recomputation of every outcome in the RevMan fixture files (.rm5, RevMan 5
CSV exports and Cochrane data packages, .zip), and the leave-one-out, influence,
meta-regression and ``sparsemeta pool`` timings on dat.bcg.

Usage::

    python benchmarks/bench_frequentist.py [FOLDER] [--repeat N] [--only-bcg]

FOLDER defaults to ``$SPARSEMETA_FIXTURES/revman`` or ``../shared/fixtures/revman``. For
each file: the time to read it, and the time of ``frequentist.revman`` for every analysis
(best of N repeats per analysis, so that one-off costs such as imports do not count), and of
the full ``check.revman_check`` (recompute + compare). Target: ≤ 1 ms per analysis.

Second section (dat.bcg, k = 13, and its first 5 trials): best-of-N times of
``frequentist.leave_one_out`` (random effects, REML; IV on ``study, yi, vi`` and on the
arm-level table; Mantel-Haenszel fixed effect), ``frequentist.influence`` and
``frequentist.meta_regression`` (REML, one covariate), and the wall time of the
``sparsemeta pool`` command (a fresh process, so imports count) with and without
``--leave-one-out --covariate ablat``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sparsemeta import datasets, effects, frequentist
from sparsemeta.io import read_revman
from sparsemeta.review.check import revman_check, revman_settings

ROOT = Path(__file__).resolve().parents[1]


def _default_folder() -> Path:
    base = os.environ.get("SPARSEMETA_FIXTURES")
    return (Path(base) if base else ROOT.parent / "shared" / "fixtures") / "revman"


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _best_cpu(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=_default_folder())
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only-bcg", action="store_true", help="skip the RevMan section")
    args = parser.parse_args()
    if not args.only_bcg:
        _revman(args)
    _bcg(args.repeat)


def _revman(args: argparse.Namespace) -> None:
    files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".rm5", ".csv", ".zip"))
    if not files:
        raise SystemExit(f"no .rm5, .csv or .zip files in {args.folder}")
    per_analysis: list[float] = []
    total_recompute = total_check = total_read = 0.0
    print(
        f"{'file':<40} {'read s':>7} {'n':>4} {'recompute ms':>13} {'check ms':>9} "
        f"{'median ms/analysis':>19} {'max ms':>7}"
    )
    for path in files:
        t0 = time.perf_counter()
        review = read_revman(path)
        read_s = time.perf_counter() - t0
        times = []
        for analysis in review.analyses:
            if analysis.unsupported is not None:
                continue
            settings = revman_settings(analysis)
            studies = analysis.studies
            times.append(_best(lambda s=studies, c=settings: frequentist.revman(s, c), args.repeat))
        check_s = _best(lambda r=review: revman_check(r), max(3, args.repeat // 5))
        per_analysis += times
        total_recompute += sum(times)
        total_check += check_s
        total_read += read_s
        print(
            f"{path.name:<40} {read_s:7.3f} {len(times):4d} {1e3 * sum(times):13.2f} "
            f"{1e3 * check_s:9.2f} {1e3 * statistics.median(times):19.3f} {1e3 * max(times):7.3f}"
        )
    print(
        f"all files: {len(per_analysis)} analyses; recompute {1e3 * total_recompute:.1f} ms "
        f"(mean {1e3 * statistics.mean(per_analysis):.3f} ms, median "
        f"{1e3 * statistics.median(per_analysis):.3f} ms, max {1e3 * max(per_analysis):.3f} ms "
        f"per analysis); full check {1e3 * total_check:.1f} ms; reading {total_read:.2f} s"
    )


def _bcg(repeat: int) -> None:
    """Leave-one-out, influence, meta-regression and the pool command on dat.bcg."""
    table = datasets.bcg_colditz1994()
    fx = effects.effect_sizes(table, "RR")
    yv = fx[["study", "yi", "vi"]]
    X, names = frequentist.design_matrix(table, ["ablat"])
    y, v = fx["yi"].to_numpy(), fx["vi"].to_numpy()
    reml = {"tau2_method": "REML"}
    items = [
        (
            "leave_one_out, k = 13, IV REML, yi/vi table",
            lambda: frequentist.leave_one_out(yv, "RR", **reml),
        ),
        (
            "leave_one_out, k = 13, IV REML, arm-level table",
            lambda: frequentist.leave_one_out(table, "RR", **reml),
        ),
        (
            "leave_one_out, k = 5, IV REML, yi/vi table",
            lambda: frequentist.leave_one_out(yv.iloc[:5], "RR", **reml),
        ),
        (
            "leave_one_out, k = 13, MH fixed",
            lambda: frequentist.leave_one_out(table, "RR", method="MH", random=False),
        ),
        ("influence, k = 13, REML, intercept only", lambda: frequentist.influence(y=y, v=v)),
        (
            "influence, k = 13, REML, ~ ablat",
            lambda: frequentist.influence(y=y, v=v, X=X, names=names),
        ),
        (
            "meta_regression, k = 13, REML, ~ ablat",
            lambda: frequentist.meta_regression(y, v, X, names=names),
        ),
    ]
    print(f"\ndat.bcg (best of {repeat}; wall and CPU time of this process):")
    for label, fn in items:
        cpu = _best_cpu(fn, repeat)
        print(f"  {label:<50} {1e3 * _best(fn, repeat):8.2f} ms wall {1e3 * cpu:8.2f} ms CPU")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "bcg.csv"
        table.drop(columns=["provenance"]).to_csv(csv, index=False)
        entry = [
            sys.executable,
            "-c",
            "import sys; from sparsemeta.cli import main; sys.exit(main())",
        ]
        command = [shutil.which("sparsemeta")] if shutil.which("sparsemeta") else entry
        base = [*command, "pool", str(csv), "--measure", "RR", "--tau2", "REML", "--json"]
        print(f"  machine load average: {os.getloadavg()[0]:.1f}")
        for label, extra in (
            ("", []),
            (" --leave-one-out --covariate ablat", ["--leave-one-out", "--covariate", "ablat"]),
        ):
            walls = []
            for _ in range(3):
                t0 = time.perf_counter()
                subprocess.run([*base, *extra], check=True, capture_output=True)
                walls.append(time.perf_counter() - t0)
            print(f"  sparsemeta pool{label}: {min(walls):.2f} s wall (best of 3, fresh process)")


if __name__ == "__main__":
    main()
