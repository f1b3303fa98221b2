"""Packaged data sets: study-level data and published pooled estimates of real reviews.

The flagship data set is the Cochrane review of parent-infant psychotherapy (PIP):

    Barlow J, Bennett C, Midgley N, Larkin SK, Wei Y. Parent-infant psychotherapy for
    improving parental and infant mental health. Cochrane Database Syst Rev 2015;(1):CD010534.

and its journal summary:

    Barlow J, Bennett C, Midgley N, Larkin SK, Wei Y. Parent-infant psychotherapy: a
    systematic review of the evidence for improving parental and infant mental health.
    J Reprod Infant Psychol 2016;34(5):464-482.

A second, classic data set checks the engines against published software results: the
13 BCG vaccine trials of Colditz et al. (1994), as tabulated in metafor (``dat.bcg``).

The package carries figures only (counts, printed estimates), each row with its
``provenance`` and ``confidence``. The files live in ``sparsemeta/datasets_files/<name>/``:

``studies.csv``
    study-level 2x2 tables of every analysis whose data could be recovered, with the
    review's own labels (``events_pip, n_pip, events_ctrl, n_ctrl``);
``published.csv``
    every pooled estimate the two publications print, as printed (two decimals), with a
    ``tau2`` column holding the printed between-study variance where one is printed;
``trial_arms.csv``
    the trial arms behind the review's entries (completer counts per attachment category).
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

import pandas as pd

from sparsemeta.data import study_table
from sparsemeta.errors import DataError

#: packaged data set name -> the tables it provides (files ``<table>.csv`` in
#: ``sparsemeta/datasets_files/<name>/``)
DATASETS: dict[str, tuple[str, ...]] = {
    "pip_barlow2015": ("studies", "published", "trial_arms"),
    "bcg_colditz1994": ("studies",),
}

#: per data set: column of its ``studies.csv`` -> study-table column
_STUDY_COLUMNS: dict[str, dict[str, str]] = {
    # ``t`` = PIP arm, ``c`` = control or alternative-treatment arm
    "pip_barlow2015": {
        "events_pip": "events_t",
        "n_pip": "n_t",
        "events_ctrl": "events_c",
        "n_ctrl": "n_c",
    },
}

#: study-table columns kept from a packaged ``studies.csv`` (when present), in this order
_STUDY_TABLE_COLUMNS = (
    "comparison",
    "outcome",
    "subgroup",
    "timepoint",
    "study",
    "year",
    "events_t",
    "n_t",
    "events_c",
    "n_c",
    "mean_t",
    "sd_t",
    "mean_c",
    "sd_c",
    "provenance",
    "confidence",
)

#: per data set: study-level covariates kept after the study-table columns (for
#: meta-regression and subgroups)
_COVARIATES: dict[str, tuple[str, ...]] = {"bcg_colditz1994": ("ablat", "alloc")}

#: numeric columns of ``published.csv`` (everything else is text)
PUBLISHED_NUMERIC = (
    "estimate",
    "ci_low",
    "ci_high",
    "k_studies",
    "n_participants",
    "chi2",
    "df",
    "p_het",
    "i2",
    "p_overall",
    "tau2",
)


def dataset_file(name: str, table: str) -> Traversable:
    """Return the packaged CSV file of one table of a data set.

    Parameters
    ----------
    name : str
        Data set name, a key of :data:`DATASETS` (e.g. ``"pip_barlow2015"``).
    table : str
        One of the data set's tables (:data:`DATASETS`).

    Returns
    -------
    importlib.abc.Traversable
        The file inside the installed package (works for zip and wheel installs).

    Raises
    ------
    DataError
        If the data set or the table is unknown.
    """
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    if table not in DATASETS[name]:
        tables = ", ".join(DATASETS[name])
        raise DataError(f"data set {name!r} has no table {table!r}; tables: {tables}")
    return resources.files("sparsemeta").joinpath("datasets_files", name, f"{table}.csv")


def load(name: str, table: str = "studies", *, printed: bool = False) -> pd.DataFrame:
    """Load one table of a packaged data set.

    Parameters
    ----------
    name : str
        Data set name (see :data:`DATASETS`).
    table : {"studies", "published", "trial_arms"}
        Which table.
    printed : bool, default False
        For ``"published"`` only: keep every value as the printed string (``"63.70"``,
        ``"6.0"``, empty when not printed) so that the printed precision is not lost.

    Returns
    -------
    pandas.DataFrame
        ``"studies"`` is a validated study table (see :mod:`sparsemeta.data`) with the
        data set's ``provenance`` and ``confidence`` columns.
    """
    path = dataset_file(name, table)
    if table == "published":
        with path.open("r", encoding="utf-8") as fh:
            df = pd.read_csv(fh, dtype=str, keep_default_na=False)
        if not printed:
            for column in PUBLISHED_NUMERIC:
                df[column] = pd.to_numeric(df[column].replace("", None), errors="raise")
        return df
    with path.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh)
    if table == "trial_arms":
        counts = [c for c in df.columns if c not in ("study", "arm", "source")]
        df[counts] = df[counts].astype("Int64")
        return df
    df = df.rename(columns=_STUDY_COLUMNS.get(name, {})).dropna(axis=1, how="all")
    df.insert(2, "subgroup", None)
    keep = [c for c in _STUDY_TABLE_COLUMNS if c in df.columns] + list(_COVARIATES.get(name, ()))
    return study_table(df[keep])


def bcg_colditz1994() -> pd.DataFrame:
    """The 13 BCG vaccine trials against tuberculosis (metafor's ``dat.bcg``), as a study table.

    The classic example data set of meta-analysis software, used here to check the
    frequentist and Bayesian engines against published results (e.g. Viechtbauer 2010).

    Returns
    -------
    pandas.DataFrame
        Columns ``comparison, outcome, subgroup, timepoint, study, year, events_t, n_t,
        events_c, n_c, provenance`` and the covariates ``ablat`` (absolute latitude of the
        study location, degrees) and ``alloc`` (treatment allocation: random, alternate or
        systematic); ``t`` is the vaccinated arm, events are tuberculosis cases.

    Notes
    -----
    Source: Colditz GA, Brewer TF, Berkey CS, et al. Efficacy of BCG vaccine in the
    prevention of tuberculosis: meta-analysis of the published literature. JAMA
    1994;271(9):698-702; the counts as tabulated in the R package metafor (``dat.bcg``;
    Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw
    2010;36(3)).
    """
    return load("bcg_colditz1994", "studies")


def pip_barlow2015() -> pd.DataFrame:
    """Study-level data of the PIP review (Barlow et al. 2015, CD010534), as a study table.

    One row per analysis x study for every analysis whose 2x2 tables could be recovered:
    the eight post-intervention PIP-vs-control attachment analyses (Cicchetti 1999a,
    Cicchetti 2006b; N = 168) and the eight IPP-vs-PPI tables of Cicchetti 2006b
    (comparison ``"PIP vs alternative treatment (PPI)"``, confidence ``"low"``: no published
    pooled figure exists to check them against).

    Returns
    -------
    pandas.DataFrame
        Columns ``comparison, outcome, subgroup, timepoint, study, events_t, n_t, events_c,
        n_c, provenance, confidence``; ``t`` is the PIP arm and ``c`` the control or
        alternative-treatment arm.

    Notes
    -----
    Sources: Barlow J, Bennett C, Midgley N, Larkin SK, Wei Y. Parent-infant psychotherapy
    for improving parental and infant mental health. Cochrane Database Syst Rev
    2015;(1):CD010534; Barlow et al. 2016, J Reprod Infant Psychol 34(5):464-482. The tables
    were recovered from the printed pooled estimates (each row's ``provenance`` says how);
    the Cicchetti 2006b counts agree with the trial's completer percentages
    (:func:`pip_barlow2015_trial_arms`). The review halved the trial's IPP arm (28 -> 14,
    counts rounded) because the arm is also compared with PPI.
    """
    return load("pip_barlow2015", "studies")


def pip_barlow2015_published(*, printed: bool = False) -> pd.DataFrame:
    """Every pooled estimate printed by the PIP review's publications (20 rows).

    Parameters
    ----------
    printed : bool, default False
        Keep values as printed strings (to know the printed precision) instead of floats.

    Returns
    -------
    pandas.DataFrame
        Columns ``comparison, outcome, timepoint, measure, estimate, ci_low, ci_high,
        k_studies, n_participants, chi2, df, p_het, i2, p_overall, tau2, studies, source,
        notes``. Ratio measures are on the ratio scale, as printed; ``i2`` is in percent;
        missing where not printed.

    Notes
    -----
    Sources: Barlow et al. 2016, J Reprod Infant Psychol 34(5):464-482, and the abstract of
    Cochrane CD010534 (2015). ``tau2`` holds the between-study variance printed by the
    journal article for the secure-attachment analysis (3.71, equal to the printed Chi²).
    """
    return load("pip_barlow2015", "published", printed=printed)


def pip_barlow2015_trial_arms() -> pd.DataFrame:
    """Trial arms behind the PIP review's attachment entries (completers).

    Returns
    -------
    pandas.DataFrame
        One row per trial arm: ``study, arm, n`` and the counts ``secure, avoidant,
        resistant, disorganised, insecure_to_secure, stable_secure, secure_to_insecure,
        stable_insecure`` (missing where the source gives none), with ``source``.

    Notes
    -----
    Cicchetti 2006 arms: AHRQ evidence report appendix Table E-24 (completer percentages
    turned into the only integer counts matching them). Cicchetti 1999a arms: as implied by
    the review's entries (Barlow et al. 2015, CD010534).
    """
    return load("pip_barlow2015", "trial_arms")
