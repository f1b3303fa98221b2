"""Calibration studies: coverage, width and bias of interval methods for few-study designs,
locally or on a Dask cluster."""

from sparsemeta.simulate.calibration import (
    Calibration,
    Design,
    Interval,
    Method,
    Replicates,
    draw,
    evaluate,
    method,
    parse_floats,
    parse_se,
    plot,
    simulate,
    summarise,
)

__all__ = [
    "Calibration",
    "Design",
    "Interval",
    "Method",
    "Replicates",
    "draw",
    "evaluate",
    "method",
    "parse_floats",
    "parse_se",
    "plot",
    "simulate",
    "summarise",
]
