"""Study-level inputs of the model builders and the exact engines, checked once.

:mod:`sparsemeta.bayes.models` (PyMC) and the exact binomial engines
(:mod:`sparsemeta.bayes.exact_binomial`, no PyMC) share these checks and the binomial
models' constants, so an exact fit validates its counts exactly as a model build does
without importing PyMC. Every error names the study and the field.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sparsemeta.errors import DataError, SingleStudyWarning

__all__ = [
    "ARMS",
    "BASELINE_SD",
    "binomial_counts",
    "check_finite",
    "check_positive",
    "float_arrays",
    "is_number",
    "study_labels",
    "warn_single",
]

#: prior SD of the baseline log odds alpha_i in :func:`binomial_normal`: sqrt(10) = 3.16,
#: i.e. variance 10. This is NOT MetaStan's default (its Stan code has normal(0, 10) with 10
#: the SD); with SD 10 about half the prior mass (P(abs(alpha) > 6.9) = 0.49) puts the risk
#: below 0.001 or above 0.999, while SD sqrt(10) keeps 95% of the baseline risks within
#: 0.002-0.998 (see docs/formulas.md, "Binomial models").
BASELINE_SD: float = math.sqrt(10.0)

#: how the log odds of the two arms are built from the baseline alpha_i and the effect theta_i
#: in :func:`binomial_normal`: ``"symmetric"`` (default; alpha_i is the mean of the two arms'
#: log odds, logit p = alpha_i +- theta_i / 2, Agresti & Hartzel 2000, model (6)) or
#: ``"comparator"`` (alpha_i is the comparator arm's log odds, Smith et al. 1995)
ARMS: tuple[str, ...] = ("symmetric", "comparator")


def study_labels(labels: Sequence[Any] | None, k: int) -> list[str]:
    """Labels as strings (``study 1``... when ``None``): one per study, unique."""
    if labels is None:
        return [f"study {i + 1}" for i in range(k)]
    out = [str(lab) for lab in labels]
    if len(out) != k:
        raise DataError(f"study labels: {len(out)} labels for {k} studies")
    if len(set(out)) != len(out):
        dup = sorted({lab for lab in out if out.count(lab) > 1})
        raise DataError(f"study labels: must be unique, repeated: {dup}")
    return out


def is_number(value: object) -> bool:
    """Whether ``float(value)`` works."""
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def float_arrays(named: dict[str, ArrayLike]) -> dict[str, NDArray[np.float64]]:
    """Named one-dimensional float arrays of one common, non-zero length."""
    out = {}
    for name, values in named.items():
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            bad = next(
                (i, v)
                for i, v in enumerate(np.ravel(np.asarray(values, dtype=object)))
                if not is_number(v)
            )
            raise DataError(
                f"field {name!r}: value {bad[1]!r} (study {bad[0] + 1}) is not a number"
            ) from None
        if arr.ndim != 1:
            raise DataError(f"field {name!r}: expected a one-dimensional array, got {arr.shape}")
        out[name] = arr
    sizes = {name: arr.size for name, arr in out.items()}
    if len(set(sizes.values())) != 1:
        raise DataError(f"mismatched lengths: {sizes}")
    if next(iter(sizes.values())) == 0:
        raise DataError("no studies: the arrays are empty")
    return out


def check_finite(arrays: dict[str, NDArray[np.float64]], labels: list[str]) -> None:
    """Raise DataError at the first value that is NaN or infinite."""
    for name, arr in arrays.items():
        for lab, value in zip(labels, arr, strict=True):
            if not math.isfinite(value):
                raise DataError(f"study {lab!r}, field {name!r}: value is not finite ({value})")


def check_positive(arrays: dict[str, NDArray[np.float64]], labels: list[str]) -> None:
    """Raise DataError at the first value that is not > 0."""
    for name, arr in arrays.items():
        for lab, value in zip(labels, arr, strict=True):
            if value <= 0:
                raise DataError(f"study {lab!r}, field {name!r}: must be > 0, got {value:g}")


def warn_single(labels: list[str]) -> None:
    """Warn (SingleStudyWarning) when there is one study: tau's posterior is its prior."""
    if len(labels) == 1:
        warnings.warn(
            f"only one study (k = 1, {labels[0]}): the data say nothing about tau, whose "
            "posterior is its prior; the model is built anyway",
            SingleStudyWarning,
            stacklevel=3,
        )


def binomial_counts(
    events_t: ArrayLike,
    n_t: ArrayLike,
    events_c: ArrayLike,
    n_c: ArrayLike,
    labels: Sequence[Any] | None,
) -> tuple[dict[str, NDArray[np.int64]], list[str]]:
    """Events and arm sizes as integer arrays (events_t, n_t, events_c, n_c) and the labels.

    Raises DataError for a non-integer, negative or non-finite count, an arm size of 0 or
    events above the arm size, naming the study and the field.
    """
    arrays = float_arrays({"events_t": events_t, "n_t": n_t, "events_c": events_c, "n_c": n_c})
    labs = study_labels(labels, arrays["n_t"].size)
    check_finite(arrays, labs)
    for name, arr in arrays.items():
        for lab, value in zip(labs, arr, strict=True):
            if value < 0 or value != math.floor(value):
                raise DataError(
                    f"study {lab!r}, field {name!r}: must be a non-negative integer, got {value:g}"
                )
    check_positive({"n_t": arrays["n_t"], "n_c": arrays["n_c"]}, labs)
    for ev, n in (("events_t", "n_t"), ("events_c", "n_c")):
        for lab, e, m in zip(labs, arrays[ev], arrays[n], strict=True):
            if e > m:
                raise DataError(f"study {lab!r}, field {ev!r}: events ({e:g}) exceed {n} ({m:g})")
    warn_single(labs)
    return {name: arr.astype(np.int64) for name, arr in arrays.items()}, labs
