"""The effect measures: one table, one row per measure.

Every list of measures, ratio flags, plain names, RevMan names, prior-summary scales and
default priors in the package is a look-up in :data:`TABLE` (in the spirit of Bambi's
single table of families). Adding a measure means adding a row here and, if it is computed
from arm-level data, its effect function in :mod:`sparsemeta.effects`.

Default priors
--------------
The default τ prior of a log-ratio measure is **half-normal(1.0)**: in the project's own
calibration study (``docs/calibration.md``: k = 2, 3, 5 studies, true τ from 0 to 1, 4,000
replicates per cell, flat μ) it was the only method that kept the coverage of its 95%
interval at 0.93 or more in every cell (0.941–0.999 for k ≤ 3) with intervals a quarter to
a half as wide as HKSJ's at k = 2; half-normal(0.5) fell to 0.82–0.86 coverage at τ = 1, and
on sparse binary data HN(1.0) stayed at or above 0.945 where HN(0.5) fell to 0.89. Other
scales take the same prior expressed in unit-information standard deviations (Röver et al.
2021, Res Synth Methods 12(4):448–474: judge a τ prior against the UISD): at an event risk of
0.5, ``var(log OR) ≈ 4/n_t + 4/n_c`` while ``var(SMD) ≈ 1/n_t + 1/n_c`` and
``var(RD) ≈ 0.25/n_t + 0.25/n_c``, so the same information is half the log-OR scale for the
SMD and a quarter of it for the RD. Mean differences and generic effects are in the
outcome's own units, where no fixed scale is weakly informative: they have no default τ
prior and an analysis must name one.

The default μ prior of a log-ratio measure is N(0, 2.82²) (Günhan, Röver & Friede 2020):
weakly informative, and it keeps the binomial-likelihood models proper when arms have no
events; RD and SMD take the same idea on their own scales; MD and generic effects are flat.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from sparsemeta.errors import DataError

__all__ = [
    "MEASURE_OF_FAMILY",
    "TABLE",
    "DataType",
    "MeasureRow",
    "codes",
    "describe_scales",
    "for_method",
    "get",
    "is_ratio",
    "lookup",
    "plain_name",
    "ratio_codes",
    "revman_code",
    "rows",
]

DataType = Literal["binary", "continuous", "generic"]

_RATIO_TAU = (
    "Calibration (docs/calibration.md): for k = 2-3 studies the exact posterior with "
    "tau ~ HN(1.0) kept 95% coverage >= 0.93 in every cell for true tau 0-1 (0.941-0.999 "
    "for k <= 3), at a quarter to a half of HKSJ's width with two studies; HN(0.5) fell to "
    "0.82-0.86 at tau = 1, and on sparse binary data to 0.89 where HN(1.0) kept >= 0.945."
)
_RATIO_MU = (
    "Günhan, Röver, Friede (2020), Res Synth Methods 11(1):74-90: N(0, 2.82^2) on the log "
    "scale puts 95% prior mass on ratios in 1/250..250, consistent with the effects of "
    "37,773 Cochrane meta-analyses; weakly informative, and keeps the binomial-likelihood "
    "models proper with zero-event arms."
)
_UNITS_TAU = (
    "No default: the effect is in the outcome's own units, where no fixed tau scale is "
    "weakly informative. Name a tau prior on those units, or one scaled to the data's "
    "unit-information SD, e.g. uisd_halfnormal (Röver et al. 2021)."
)
_UNITS_MU = (
    "Flat: the effect is in the outcome's own units, so no fixed normal prior is weakly "
    "informative for every analysis; the flat prior is invariant to the units and gives a "
    "proper posterior (bayesmeta's default). Pass normal(mean, sd) on those units to override."
)


@dataclass(frozen=True)
class MeasureRow:
    """One effect measure.

    Attributes
    ----------
    code : str
        The short code used everywhere (``"RR"``); also RevMan 5's ``EFFECT_MEASURE``
        attribute of dichotomous and continuous outcomes.
    data_type : {"binary", "continuous", "generic"}
        The study data it is computed from.
    log_scale : bool
        Analysed as the natural log of a ratio (reported as the ratio).
    name : str
        Plain name (``"risk ratio"``).
    axis_label : str
        Axis label of a plot on the reporting scale.
    methods : tuple of str
        Pooling methods valid for it (RevMan's ``MH``, ``IV``, ``Peto``).
    revman_names : tuple of str
        Lower-case names RevMan writes for it in generic inverse-variance outcomes.
    scale : str
        Effect scale of :func:`sparsemeta.bayes.priors.describe`.
    effect : str or None
        Name of the function in :mod:`sparsemeta.effects` that computes ``(yi, vi)`` from
        the data columns of ``data_type``; ``None`` for a measure that only labels generic
        data (e.g. HR).
    mu_prior : str
        Default prior of μ (a mu-prior string; ``"flat"`` for the flat prior).
    tau_prior : str or None
        Default prior of τ (a tau-prior string); ``None``: no default, an analysis must
        name one.
    mu_reason, tau_reason : str
        Why.
    """

    code: str
    data_type: DataType
    log_scale: bool
    name: str
    axis_label: str
    methods: tuple[str, ...]
    revman_names: tuple[str, ...]
    scale: str
    effect: str | None
    mu_prior: str
    mu_reason: str
    tau_prior: str | None
    tau_reason: str

    @property
    def computable(self) -> bool:
        """Whether :func:`sparsemeta.effects.effect_sizes` computes it from study data."""
        return self.effect is not None


#: every effect measure of the package, one row each
TABLE: tuple[MeasureRow, ...] = (
    MeasureRow(
        code="RR",
        data_type="binary",
        log_scale=True,
        name="risk ratio",
        axis_label="Risk ratio",
        methods=("MH", "IV"),
        revman_names=("risk ratio",),
        scale="logRR",
        effect="log_rr",
        mu_prior="normal(mean=0.0, sd=2.82)",
        mu_reason=_RATIO_MU + " |log RR| <= |log OR| for the same data, so the log-OR width "
        "is wide enough.",
        tau_prior="halfnormal(scale=1.0)",
        tau_reason=_RATIO_TAU,
    ),
    MeasureRow(
        code="OR",
        data_type="binary",
        log_scale=True,
        name="odds ratio",
        axis_label="Odds ratio",
        methods=("MH", "IV", "Peto"),
        revman_names=("odds ratio",),
        scale="logOR",
        effect="log_or",
        mu_prior="normal(mean=0.0, sd=2.82)",
        mu_reason=_RATIO_MU,
        tau_prior="halfnormal(scale=1.0)",
        tau_reason=_RATIO_TAU,
    ),
    MeasureRow(
        code="PETO_OR",
        data_type="binary",
        log_scale=True,
        name="odds ratio (Peto)",
        axis_label="Odds ratio (Peto)",
        methods=("Peto",),
        revman_names=("peto odds ratio",),
        scale="logOR",
        effect="peto_log_or",
        mu_prior="normal(mean=0.0, sd=2.82)",
        mu_reason=_RATIO_MU,
        tau_prior="halfnormal(scale=1.0)",
        tau_reason=_RATIO_TAU,
    ),
    MeasureRow(
        code="RD",
        data_type="binary",
        log_scale=False,
        name="risk difference",
        axis_label="Risk difference",
        methods=("MH", "IV"),
        revman_names=("risk difference",),
        scale="RD",
        effect="risk_difference",
        mu_prior="normal(mean=0.0, sd=1.0)",
        mu_reason="Our choice: N(0, 1) covers the whole admissible range [-1, 1] within one "
        "prior SD, so it constrains nothing plausible while staying proper.",
        tau_prior="halfnormal(scale=0.25)",
        tau_reason="HN(1.0) of the log ratios (see their reason) in unit-information SDs: "
        "at risk 0.5 var(RD) = 0.25/n per arm against 4/n for the log OR, a quarter of the "
        "scale.",
    ),
    MeasureRow(
        code="HR",
        data_type="generic",
        log_scale=True,
        name="hazard ratio",
        axis_label="Hazard ratio",
        methods=("IV",),
        revman_names=("hazard ratio",),
        scale="logHR",
        effect=None,
        mu_prior="normal(mean=0.0, sd=2.82)",
        mu_reason=_RATIO_MU + " HR in 1/250..250 with 95% probability.",
        tau_prior="halfnormal(scale=1.0)",
        tau_reason=_RATIO_TAU,
    ),
    MeasureRow(
        code="MD",
        data_type="continuous",
        log_scale=False,
        name="mean difference",
        axis_label="Mean difference",
        methods=("IV",),
        revman_names=("mean difference",),
        scale="MD",
        effect="mean_difference",
        mu_prior="flat",
        mu_reason=_UNITS_MU,
        tau_prior=None,
        tau_reason=_UNITS_TAU,
    ),
    MeasureRow(
        code="SMD",
        data_type="continuous",
        log_scale=False,
        name="standardised mean difference",
        axis_label="Standardised mean difference",
        methods=("IV",),
        revman_names=("std. mean difference", "standardized mean difference"),
        scale="SMD",
        effect="hedges_g",
        mu_prior="normal(mean=0.0, sd=2.0)",
        mu_reason="Our choice: N(0, 2^2) gives 95% prior mass to |SMD| < 3.9, wider than any "
        "plausible clinical SMD (Bartoš et al. 2021's empirical t(0, 0.43, 5) has 97.5% "
        "quantile about 1.1) while staying proper.",
        tau_prior="halfnormal(scale=0.5)",
        tau_reason="HN(1.0) of the log ratios (see their reason) in unit-information SDs: "
        "var(SMD) = 1/n per arm against 4/n for the log OR at risk 0.5, half the scale.",
    ),
    MeasureRow(
        code="ROM",
        data_type="continuous",
        log_scale=True,
        name="ratio of means",
        axis_label="Ratio of means",
        methods=("IV",),
        revman_names=("ratio of means",),
        scale="logROM",
        effect="log_ratio_of_means",
        mu_prior="normal(mean=0.0, sd=2.82)",
        mu_reason=_RATIO_MU + " Used for the log ratio of means as for the other log ratios "
        "(our choice): ratios of means in 1/250..250 with 95% probability.",
        tau_prior="halfnormal(scale=1.0)",
        tau_reason=_RATIO_TAU + " The calibration is on a generic log-ratio scale; the log "
        "ratio of means is one.",
    ),
    MeasureRow(
        code="GENERIC",
        data_type="generic",
        log_scale=False,
        name="effect",
        axis_label="Effect",
        methods=("IV",),
        revman_names=(),
        scale="generic",
        effect="generic",
        mu_prior="flat",
        mu_reason=_UNITS_MU,
        tau_prior=None,
        tau_reason=_UNITS_TAU,
    ),
)

#: the measure (analysis scale) of each arm-level model family of :mod:`sparsemeta.bayes.models`
MEASURE_OF_FAMILY: dict[str, str] = {
    "binomial-normal": "OR",
    "binomial-rr": "RR",
    "arm-normal": "MD",
}

_BY_CODE: dict[str, MeasureRow] = {row.code: row for row in TABLE}
#: ``"LOGOR"`` -> ``"OR"``: the first measure of each log scale (describe's scale names)
_BY_SCALE_ALIAS: dict[str, str] = {}
for _row in TABLE:
    if _row.log_scale:
        _BY_SCALE_ALIAS.setdefault(_row.scale.upper(), _row.code)
_BY_REVMAN: dict[str, str] = {name: row.code for row in TABLE for name in row.revman_names}


def rows() -> Iterator[MeasureRow]:
    """The rows of :data:`TABLE`, in order."""
    return iter(TABLE)


def codes(data_type: DataType | None = None, *, computable: bool = False) -> tuple[str, ...]:
    """Measure codes, optionally of one data type and/or computable from study data."""
    return tuple(
        r.code
        for r in TABLE
        if (data_type is None or r.data_type == data_type) and (r.computable or not computable)
    )


def for_method(method: str) -> tuple[str, ...]:
    """Codes of the measures a pooling method is valid for (``"MH"``, ``"IV"``, ``"Peto"``;
    case-insensitive)."""
    return tuple(r.code for r in TABLE if method.upper() in (m.upper() for m in r.methods))


def ratio_codes() -> tuple[str, ...]:
    """Codes of the measures analysed on the log scale."""
    return tuple(r.code for r in TABLE if r.log_scale)


def describe_scales() -> tuple[str, ...]:
    """The effect scales of :func:`sparsemeta.bayes.priors.describe`, each once."""
    return tuple(dict.fromkeys(r.scale for r in TABLE))


def get(code: object) -> MeasureRow | None:
    """The row of a measure code (exact spelling), or ``None``."""
    return _BY_CODE.get(code) if isinstance(code, str) else None


def lookup(code: object, *, where: str = "measure") -> MeasureRow:
    """The row of a measure, case-insensitive; ``"logOR"``-style scale names are accepted.

    Raises
    ------
    DataError
        Unknown measure, naming ``where`` and the valid codes.
    """
    if isinstance(code, str):
        key = code.strip().upper()
        key = _BY_SCALE_ALIAS.get(key, key)
        if key in _BY_CODE:
            return _BY_CODE[key]
    raise DataError(f"{where}: unknown measure {code!r}; use one of {', '.join(_BY_CODE)}")


def plain_name(code: str) -> str:
    """Plain name of a measure (``"risk ratio"`` for ``"RR"``); an unknown label as it is."""
    row = get(code)
    return row.name if row is not None else code


def is_ratio(code: object) -> bool:
    """Whether a measure is analysed on the log scale (``False`` for an unknown label)."""
    row = get(code)
    return row is not None and row.log_scale


def revman_code(name: str) -> str | None:
    """The code of a measure from the name RevMan writes in a generic outcome, or ``None``."""
    return _BY_REVMAN.get(" ".join(name.split()).lower())
