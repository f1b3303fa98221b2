"""The result protocol: what every sparsemeta result offers, and the helpers that give it.

Every result (frequentist :class:`~sparsemeta.frequentist.MetaResult` and
:class:`~sparsemeta.frequentist.RevManResult`, the exact
:class:`~sparsemeta.bayes.exact.ExactPosterior`, the MCMC
:class:`~sparsemeta.bayes.sample.FitResult`, the prior comparison
:class:`~sparsemeta.bayes.sensitivity.PriorComparison`, the RevMan check
:class:`~sparsemeta.review.check.CheckReport`, the reproduction
:class:`~sparsemeta.review.reproduce.ReproduceResult`, the calibration
:class:`~sparsemeta.simulate.Calibration` and the batch
:class:`~sparsemeta.review.batch.BatchResult`) has

* ``summary() -> pandas.DataFrame``. Results that estimate parameters use the columns
  :data:`SUMMARY_COLUMNS`: ``param`` (``mu``, ``tau``, ``tau2``, ``theta_new``, ``theta``),
  ``study`` (the study label of a per-study ``theta`` row, else ``None``), ``mean``, ``sd``,
  ``median``, ``lower``, ``upper`` (the interval) and ``level`` (its probability, stated
  on every row), then any columns of their own. Estimates are on the analysis scale (log
  for ratio measures). Results that are not estimates (checks, reproductions, calibration,
  batches) return their own table;
* ``to_frame()`` where there are studies: one row per study;
* ``to_dict()``: a JSON-safe record (:func:`json_safe`);
* ``__str__``: a readable text;
* ``plot()`` where a picture makes sense;
* ``prob(param, op, value)`` where the result is a posterior: the one name for a posterior
  probability such as P(μ < 0) = ``prob("mu", "<", 0)``.

JSON convention: non-finite numbers are written explicitly as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (:data:`NAN`, :data:`INF`, :data:`NEG_INF`), never as
``null`` (``null`` means "not applicable"), so ``json.dumps(result.to_dict(),
allow_nan=False)`` always works and :func:`from_json_safe` reads the numbers back.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import PurePath
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from sparsemeta.errors import DataError

__all__ = [
    "INF",
    "NAN",
    "NEG_INF",
    "SUMMARY_COLUMNS",
    "Op",
    "Result",
    "check_op",
    "from_json_safe",
    "json_safe",
    "prob_from_cdf",
    "prob_from_draws",
    "summary_frame",
]

#: the columns of ``summary()`` for results that estimate parameters, in order
SUMMARY_COLUMNS: tuple[str, ...] = (
    "param",
    "study",
    "mean",
    "sd",
    "median",
    "lower",
    "upper",
    "level",
)
NAN = "NaN"
INF = "Infinity"
NEG_INF = "-Infinity"
_NONFINITE = {NAN: math.nan, INF: math.inf, NEG_INF: -math.inf}

#: comparison operators of ``prob``; True where the probability is the cdf (``below``)
Op = Literal["<", "<=", ">", ">="]
_OPS: dict[str, bool] = {"<": True, "<=": True, ">": False, ">=": False}


@runtime_checkable
class Result(Protocol):
    """What every sparsemeta result offers (see the module notes)."""

    def summary(self) -> pd.DataFrame:
        """The result as a table."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe record."""
        ...

    def __str__(self) -> str:
        """A readable text."""
        ...


def summary_frame(rows: Iterable[Mapping[str, Any]], level: float) -> pd.DataFrame:
    """A ``summary()`` frame: :data:`SUMMARY_COLUMNS` first (``level`` filled in), then the
    rows' own columns in order of first appearance."""
    records = [{**row, "level": level} for row in rows]
    extra = list(dict.fromkeys(c for r in records for c in r if c not in SUMMARY_COLUMNS))
    return pd.DataFrame(records, columns=[*SUMMARY_COLUMNS, *extra])


def _number(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return NAN if math.isnan(x) else (INF if x > 0 else NEG_INF)


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON data: NaN/±inf as ``"NaN"``/``"Infinity"``/``"-Infinity"``.

    Handles numbers and numpy scalars, numpy arrays, pandas frames (records) and series,
    mappings, sequences, dataclasses, paths and ``None``; anything else becomes its
    ``str``.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _number(float(value))
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.DataFrame):
        return [json_safe(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return json_safe(asdict(value))
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def from_json_safe(value: Any) -> Any:
    """Inverse of :func:`json_safe` for numbers: ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
    become floats again, recursively through lists and dicts."""
    if isinstance(value, str):
        return _NONFINITE.get(value, value)
    if isinstance(value, list):
        return [from_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: from_json_safe(v) for k, v in value.items()}
    return value


def check_op(op: object) -> bool:
    """Validate a ``prob`` operator; True when the probability is of the lower side."""
    if not isinstance(op, str) or op not in _OPS:
        raise DataError(
            f"prob: unknown comparison operator op={op!r}; use one of "
            f"{', '.join(repr(o) for o in _OPS)}"
        )
    return _OPS[op]


def prob_from_cdf(below: float, op: Op) -> float:
    """P(X op value) from ``below`` = P(X ≤ value) of a continuous distribution."""
    return below if check_op(op) else 1.0 - below


def prob_from_draws(draws: np.ndarray, op: Op, value: float) -> float:
    """P(X op value) estimated by the share of ``draws`` that satisfy it."""
    check_op(op)
    hit = {"<": draws < value, "<=": draws <= value, ">": draws > value, ">=": draws >= value}
    return float(np.mean(hit[op]))
