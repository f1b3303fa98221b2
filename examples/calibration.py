"""Calibration of few-study intervals: the figure and table of ``docs/calibration.md``.

Simulates meta-analyses from the normal-normal model with k = 2, 3, 5 studies, true
τ ∈ {0, 0.25, 0.5, 1}, μ = 0 and within-study standard errors drawn from U(0.3, 0.8)
(log odds ratio scale: trials of roughly 60-400 patients), 4,000 replicates per cell, and
compares the 95% intervals of DerSimonian-Laird (z), Hartung-Knapp-Sidik-Jonkman, modified
Knapp-Hartung and Bayesian normal-normal analyses with half-normal τ priors of scale 0.5
and 1.0 (exact posteriors).

Run from the repository root (about a minute on two cores)::

    python examples/calibration.py [--workers 2] [--reps 4000]

Writes ``docs/_static/calibration.png`` and ``docs/_static/calibration.csv`` and prints the
table in Markdown. ``$SPARSEMETA_OUTPUT`` writes them to that folder instead, and
``SPARSEMETA_QUICK=1`` runs 100 replicates per cell (the example tests use both, so a
test run never overwrites the documentation's figures).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sparsemeta import simulate as sim
from sparsemeta.io.output import atomic_path

METHODS = ("dl", "hksj", "mkh", "halfnormal(0.5)", "halfnormal(1.0)")
LABELS = {
    "dl": "DL-z",
    "hksj": "HKSJ",
    "mkh": "mKH",
    "halfnormal(0.5)": "Bayes HN(0.5)",
    "halfnormal(1.0)": "Bayes HN(1.0)",
}
QUICK = os.environ.get("SPARSEMETA_QUICK") == "1"
OUT = Path(
    os.environ.get("SPARSEMETA_OUTPUT") or Path(__file__).resolve().parents[1] / "docs" / "_static"
)


def markdown(table) -> str:
    """Coverage (MC SE) and median width per method, one row per k × τ."""
    head = "| k | τ | " + " | ".join(LABELS[m] for m in METHODS) + " |"
    rule = "|---|---|" + "---|" * len(METHODS)
    lines = [head, rule]
    for (k, tau), cell in table.groupby(["k", "tau"], sort=True):
        by = cell.set_index("method")
        parts = [
            f"{by.loc[m, 'coverage']:.3f} ({by.loc[m, 'coverage_se']:.3f}); "
            f"{by.loc[m, 'width_median']:.2f}"
            for m in METHODS
        ]
        lines.append(f"| {k} | {tau:g} | " + " | ".join(parts) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="calibration figure for the docs")
    parser.add_argument("--reps", type=int, default=100 if QUICK else 4000)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()
    design = sim.Design(
        k=(2, 3, 5),
        taus=(0.0, 0.25, 0.5, 1.0),
        reps=args.reps,
        se_range=(0.3, 0.8),
        seed=args.seed,
    )
    result = sim.simulate(design, METHODS, workers=args.workers, progress=True)
    table = result.table
    OUT.mkdir(parents=True, exist_ok=True)
    with atomic_path(OUT / "calibration.csv") as tmp:
        table.drop(columns=["seconds", "cpu_seconds"]).to_csv(tmp, index=False)
    labelled = table.assign(method=table["method"].map(LABELS))
    sim.plot(labelled, OUT / "calibration.png")
    print(markdown(table))
    print(f"\n{result.fits} fits in {result.seconds:.1f} s")


if __name__ == "__main__":
    main()
