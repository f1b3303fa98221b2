"""Number, interval and name formatting of the presentation layer: one place for every
printed effect, interval and prior label (text, report, figures, command line)."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sparsemeta.bayes.priors import TauPrior

__all__ = [
    "effect",
    "fixed",
    "fmt",
    "interval",
    "sci",
    "short_prior_label",
    "short_prior_label_from_string",
]


def fmt(x: float | None) -> str:
    """A ratio or effect as RevMan prints it: 2 decimals (1 from 100, none from 1000);
    2 significant digits below 0.01."""
    if x is None or not math.isfinite(x):
        return "-"
    if abs(x) >= 1000:
        return f"{x:.0f}"
    if 0 < abs(x) < 0.01:
        return f"{x:.2g}"
    return f"{x:.1f}" if abs(x) >= 100 else f"{x:.2f}"


def interval(est: float | None, lo: float | None, hi: float | None) -> str:
    """``"est [lo, hi]"`` with :func:`fmt`."""
    return f"{fmt(est)} [{fmt(lo)}, {fmt(hi)}]"


def fixed(x: float | None, digits: int) -> str:
    """``x`` with ``digits`` decimals; ``"-"`` when missing or not finite."""
    return f"{x:.{digits}f}" if x is not None and math.isfinite(x) else "-"


def sci(x: float | None) -> str:
    """``x`` in scientific notation with two significant digits (``"-"`` when missing)."""
    return "-" if x is None else f"{x:.1e}"


def effect(x: float, log_scale: bool) -> str:
    """A pooled effect: the ratio ``exp(x)`` with 2 decimals for log-scale measures, ``x``
    with 3 decimals otherwise."""
    return f"{math.exp(x):.2f}" if log_scale else f"{x:.3f}"


def short_prior_label(prior: TauPrior, *, with_scale: bool = True) -> str:
    """A short name for a tau prior, for legends: ``HN(0.5)``, ``HC(0.5)``, ``Turner 2015 (...)``.

    Half-normal, half-Cauchy and the UISD-scaled half-normal get their usual abbreviations
    (the latter with its scale unless ``with_scale=False``); literature priors their author,
    year and comparison; any other prior its canonical string.
    """
    name = getattr(prior, "name", "")
    params = getattr(prior, "params", {})
    if name == "halfnormal":
        return f"HN({params['scale']:g})"
    if name == "halfcauchy":
        return f"HC({params['scale']:g})"
    if name == "uisd_halfnormal":
        frac = params["fraction"]
        scale = f" = {params['uisd'] * frac:.2f}" if with_scale else ""
        return f"HN(UISD×{frac:g}{scale})"
    match = re.fullmatch(r"([a-z]+)(\d{4})", name)
    if match:
        author = f"{match.group(1).capitalize()} {match.group(2)}"
        return f"{author} ({params['comparison']})" if "comparison" in params else author
    return str(prior)


def short_prior_label_from_string(text: str) -> str:
    """:func:`short_prior_label` of a canonical prior string (the string itself if unparsable)."""
    from sparsemeta.bayes import priors
    from sparsemeta.errors import PriorError

    try:
        return short_prior_label(priors.parse(text))
    except PriorError:
        return text
