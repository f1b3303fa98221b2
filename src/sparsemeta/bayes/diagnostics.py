r"""The MCMC diagnostics gate (Vehtari et al. 2021, *Bayesian Analysis* 16(2):667-718): no
divergent transition, rank-normalised split R-hat <= :data:`RHAT_MAX` and bulk and tail ESS
>= :data:`ESS_MIN` for every element of every posterior quantity, and the advice given when
a fit fails it."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import arviz as az
    import xarray as xr

__all__ = [
    "ESS_MIN",
    "RHAT_MAX",
    "Diagnostics",
    "convergence",
    "diagnose",
    "gate",
    "gate_message",
    "without_numba",
]

#: gate thresholds
RHAT_MAX: float = 1.01
ESS_MIN: float = 400.0


@dataclass(frozen=True)
class Diagnostics:
    """MCMC diagnostics and the verdict of the gate.

    Attributes
    ----------
    divergences : int
        Divergent transitions after warm-up (all chains).
    r_hat_max, ess_bulk_min, ess_tail_min : float
        Worst rank-normalised split R-hat and smallest bulk / tail ESS over every element of
        every posterior variable.
    failures : tuple of str
        One line per failed criterion, naming the parameter and its value.
    """

    divergences: int
    r_hat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    failures: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when every criterion of the gate holds."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python record (the ``diagnostics`` field of ``sparsemeta fit --json``)."""
        return {
            "divergences": self.divergences,
            "r_hat_max": self.r_hat_max,
            "ess_bulk_min": self.ess_bulk_min,
            "ess_tail_min": self.ess_tail_min,
            "passed": self.passed,
            "failures": list(self.failures),
        }


def diagnose(idata: az.InferenceData, var_names: Sequence[str] | None = None) -> Diagnostics:
    """Apply the gate (0 divergences, R-hat <= 1.01, bulk and tail ESS >= 400).

    Parameters
    ----------
    idata : arviz.InferenceData
        With ``posterior`` and ``sample_stats.diverging``.
    var_names : sequence of str, optional
        Variables to check (default: every posterior variable).
    """
    post = idata.posterior if var_names is None else idata.posterior[list(var_names)]
    return gate(idata, convergence(post))


@contextmanager
def without_numba() -> Iterator[None]:
    """ArviZ's NumPy code paths inside the block (its Numba switch restored after).

    With Numba installed ArviZ compiles its variance and autocovariance helpers with Numba
    at their first call in each process (0.3-0.7 s, not cached on disk); for the few
    thousand draws of a meta-analysis the NumPy paths are faster even once compiled and
    give the same R-hat, ESS and MCSE.
    """
    from arviz.utils import Numba

    before = Numba.numba_flag
    Numba.numba_flag = False
    try:
        yield
    finally:
        Numba.numba_flag = before


def convergence(post: xr.Dataset) -> dict[str, xr.Dataset]:
    """Rank-normalised split R-hat, bulk and tail ESS of every element of ``post``
    (computed once per fit: the gate and the summary table both read them), by ArviZ's
    NumPy code (:func:`without_numba`)."""
    import arviz as az

    with without_numba():
        return {
            "r_hat": az.rhat(post),
            "ess_bulk": az.ess(post, method="bulk"),
            "ess_tail": az.ess(post, method="tail"),
        }


def gate(idata: az.InferenceData, conv: dict[str, xr.Dataset]) -> Diagnostics:
    """The gate's verdict from the divergences and :func:`convergence`'s statistics."""
    divergences = int(idata.sample_stats["diverging"].sum())
    rhat, bulk, tail = conv["r_hat"], conv["ess_bulk"], conv["ess_tail"]
    failures = []
    if divergences:
        failures.append(f"{divergences} divergent transitions (must be 0)")

    def worst(ds: xr.Dataset, largest: bool) -> tuple[float, str]:
        best_val, best_name = (-math.inf if largest else math.inf), ""
        for name, arr in ds.data_vars.items():
            values = np.asarray(arr.values, dtype=float).ravel()
            if values.size == 0:
                continue
            values = np.where(np.isnan(values), math.inf if largest else -math.inf, values)
            i = int(np.argmax(values) if largest else np.argmin(values))
            if (values[i] > best_val) if largest else (values[i] < best_val):
                label = name
                if "study" in arr.dims:
                    label = f"{name}[{arr['study'].values.ravel()[i]}]"
                best_val, best_name = float(values[i]), label
        return best_val, best_name

    r_max, r_name = worst(rhat, largest=True)
    b_min, b_name = worst(bulk, largest=False)
    t_min, t_name = worst(tail, largest=False)
    if not r_max <= RHAT_MAX:
        failures.append(f"R-hat of {r_name} = {r_max:.3f} (must be <= {RHAT_MAX})")
    if not b_min >= ESS_MIN:
        failures.append(f"bulk ESS of {b_name} = {b_min:.0f} (must be >= {ESS_MIN:.0f})")
    if not t_min >= ESS_MIN:
        failures.append(f"tail ESS of {t_name} = {t_min:.0f} (must be >= {ESS_MIN:.0f})")
    return Diagnostics(divergences, r_max, b_min, t_min, tuple(failures))


def gate_message(diag: Diagnostics, family: str | None, settings: dict[str, Any]) -> str:
    advice = [
        f"more warm-up and draws (now tune={settings['tune']}, draws={settings['draws']}; "
        "try doubling both)",
    ]
    if diag.divergences:
        ta = settings["target_accept"]
        advice.insert(0, f"a higher target_accept (now {ta}; try {min(0.999, 1 - (1 - ta) / 2):g})")
    if family in (None, "normal-normal", "arm-normal"):
        advice.append(
            "the exact engine (sparsemeta.bayes.exact / --engine exact) for the normal-normal model"
        )
    return (
        f"MCMC diagnostics gate failed for the {family or 'user'} model: "
        + "; ".join(diag.failures)
        + ". Do not report these numbers. Try "
        + ", or ".join(advice)
        + "."
    )
