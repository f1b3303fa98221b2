"""Time the RevMan recomputation of every outcome in the RevMan fixture files (.rm5, RevMan 5
CSV exports and Cochrane data packages, .zip).

Usage::

    python benchmarks/bench_frequentist.py [FOLDER] [--repeat N]

FOLDER defaults to ``$SPARSEMETA_FIXTURES/revman`` or ``../shared/fixtures/revman``. For
each file: the time to read it, and the time of ``frequentist.revman`` for every analysis
(best of N repeats per analysis, so that one-off costs such as imports do not count), and of
the full ``check.revman_check`` (recompute + compare). Target: ≤ 1 ms per analysis.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from sparsemeta import frequentist
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=_default_folder())
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    files = sorted(
        p for p in args.folder.iterdir() if p.suffix.lower() in (".rm5", ".csv", ".zip")
    )
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


if __name__ == "__main__":
    main()
