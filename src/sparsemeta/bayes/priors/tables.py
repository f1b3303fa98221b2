"""Published parameter tables of empirical heterogeneity priors, stored as data.

Every table carries its citation and where its numbers were read. The numbers are
figures from the cited papers (carried as data, with citation); the prose is ours.

Conventions
-----------
* Turner et al. (2012, 2015): ``log(tau^2) ~ N(m, s^2)`` on the **variance** tau^2; each
  cell is ``(m, s)``. Then ``tau ~ LogNormal(m / 2, s / 2)``.
* Rhodes et al. (2015): ``log(tau^2) ~ t_5(location, scale)`` on tau^2; each cell is
  ``(location, scale)``. Then ``log(tau) ~ t_5(location / 2, scale / 2)``.
* Bartoš et al. (2021, 2023): inverse-gamma ``(shape, scale)`` on **tau itself** (the
  standard deviation), density ``scale^shape / Gamma(shape) tau^-(shape+1) exp(-scale/tau)``.
  Evidence: BayesTools ``prior_informed`` (FBartos/BayesTools R/priors-informed.R) documents
  its heterogeneity priors as priors "for the heterogeneity parameter tau" and builds them
  as ``prior("invgamma", list(shape, scale))`` on that parameter; and the side-by-side
  table of our design notes (PRIORS.md section 9: median 0.379, 95% quantile 2.058 for
  InvGamma(1.77, 0.55)) is reproduced only when the inverse gamma is read as a
  distribution of tau. The risk difference uses a half-normal ``(0, scale)`` on tau.
"""

from __future__ import annotations

from typing import Final

# ---------------------------------------------------------------------------------------
# Turner, Jackson, Wei, Thompson, Higgins (2015). Predictive distributions for
# between-study heterogeneity and simple methods for their application in Bayesian
# meta-analysis. Statistics in Medicine 34(6):984-998. Table IV (log odds ratios).
# Read from the array ``TurnerEtAlParameters`` of the R package bayesmeta
# (cran/bayesmeta R/bayesmeta.R, comment "see Tab.IV"); identical to PRIORS.md section 1.
# ---------------------------------------------------------------------------------------
TURNER2015_SOURCE: Final = (
    "Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT (2015). Predictive distributions "
    "for between-study heterogeneity and simple methods for their application in Bayesian "
    "meta-analysis. Stat Med 34(6):984-998, Table IV (log-normal for tau^2, log OR scale)"
)

#: comparison types of Turner et al. (2015), in table column order
TURNER2015_COMPARISONS: Final = (
    "pharm vs placebo/control",
    "pharm vs pharm",
    "non-pharm vs placebo/control",
    "non-pharm vs pharm",
    "non-pharm vs non-pharm",
)

#: outcome type -> ((m, s) for each comparison in TURNER2015_COMPARISONS order)
TURNER2015: Final[dict[str, tuple[tuple[float, float], ...]]] = {
    "all-cause mortality": (
        (-3.95, 1.34),
        (-4.18, 1.41),
        (-4.17, 1.55),
        (-2.92, 1.02),
        (-3.50, 1.26),
    ),
    "obstetric outcomes": (
        (-3.52, 1.74),
        (-3.75, 1.79),
        (-3.74, 1.91),
        (-2.49, 1.50),
        (-3.08, 1.68),
    ),
    "cause-specific mortality / major morbidity / composite": (
        (-3.71, 1.74),
        (-3.95, 1.79),
        (-3.93, 1.91),
        (-2.68, 1.51),
        (-3.27, 1.68),
    ),
    "resource use / hospital stay / process": (
        (-2.34, 1.74),
        (-2.58, 1.79),
        (-2.56, 1.91),
        (-1.31, 1.50),
        (-1.90, 1.68),
    ),
    "surgical / device related success / failure": (
        (-2.14, 1.74),
        (-2.37, 1.79),
        (-2.36, 1.91),
        (-1.11, 1.50),
        (-1.69, 1.68),
    ),
    "withdrawals / drop-outs": (
        (-2.99, 1.74),
        (-3.23, 1.79),
        (-3.21, 1.91),
        (-1.96, 1.51),
        (-2.55, 1.68),
    ),
    "internal / structure-related outcomes": (
        (-2.71, 1.74),
        (-2.94, 1.79),
        (-2.93, 1.92),
        (-1.67, 1.51),
        (-2.26, 1.68),
    ),
    "general physical health indicators": (
        (-2.29, 1.53),
        (-2.53, 1.58),
        (-2.51, 1.72),
        (-1.26, 1.25),
        (-1.85, 1.46),
    ),
    "adverse events": ((-1.87, 1.52), (-2.10, 1.58), (-2.10, 1.71), (-0.84, 1.24), (-1.43, 1.45)),
    "infection / onset of new disease": (
        (-2.49, 1.52),
        (-2.73, 1.58),
        (-2.71, 1.71),
        (-1.46, 1.24),
        (-2.05, 1.45),
    ),
    "signs / symptoms": ((-2.06, 1.51), (-2.29, 1.58), (-2.28, 1.71), (-1.03, 1.24), (-1.61, 1.45)),
    "pain": ((-1.83, 1.52), (-2.06, 1.58), (-2.05, 1.71), (-0.80, 1.25), (-1.38, 1.45)),
    "quality of life / functioning": (
        (-2.54, 1.54),
        (-2.78, 1.60),
        (-2.77, 1.73),
        (-1.51, 1.27),
        (-2.10, 1.47),
    ),
    "mental health indicators": (
        (-2.12, 1.53),
        (-2.35, 1.60),
        (-2.34, 1.72),
        (-1.09, 1.27),
        (-1.67, 1.47),
    ),
    "biological markers": (
        (-1.77, 1.52),
        (-2.00, 1.58),
        (-1.99, 1.71),
        (-0.74, 1.24),
        (-1.33, 1.45),
    ),
    "subjective outcomes": (
        (-2.70, 1.52),
        (-2.93, 1.58),
        (-2.92, 1.71),
        (-1.67, 1.25),
        (-2.26, 1.45),
    ),
}

#: the "general" (marginal) setting of Turner et al. (2015), p. 993, as used by bayesmeta
#: when no outcome type is given
TURNER2015_MARGINAL: Final = (-2.56, 1.74)

#: alternative spellings accepted for Turner 2015 outcome types (bayesmeta's labels)
TURNER2015_OUTCOME_ALIASES: Final = {
    "cause-specific mortality / major morbidity event / composite (mortality or morbidity)": "cause-specific mortality / major morbidity / composite",
    "signs / symptoms reflecting continuation / end of condition": "signs / symptoms",
    "quality of life / functioning (dichotomized)": "quality of life / functioning",
    "biological markers (dichotomized)": "biological markers",
    "subjective outcomes (various)": "subjective outcomes",
}

# ---------------------------------------------------------------------------------------
# Turner, Davey, Clarke, Thompson, Higgins (2012). Predicting the extent of heterogeneity
# in meta-analysis, using empirical data from the Cochrane Database of Systematic Reviews.
# Int J Epidemiol 41(3):818-827. Checked cell by cell against gemtc (gertvv/gemtc:
# mtc.hy.prior.R, ``hy.lor.mu``/``hy.lor.sigma``; outcomes mortality, semi-objective,
# subjective x comparisons pharma-control, pharma-pharma, non-pharma), as in PRIORS.md
# section 2.
# ---------------------------------------------------------------------------------------
TURNER2012_SOURCE: Final = (
    "Turner RM, Davey J, Clarke MJ, Thompson SG, Higgins JPT (2012). Predicting the extent of "
    "heterogeneity in meta-analysis, using empirical data from the Cochrane Database of "
    "Systematic Reviews. Int J Epidemiol 41(3):818-827 (log-normal for tau^2, log OR scale, "
    "values as implemented in the R package gemtc)"
)

TURNER2012_COMPARISONS: Final = ("pharm vs placebo/control", "pharm vs pharm", "non-pharm")

#: gemtc's spellings
TURNER2012_OUTCOME_ALIASES: Final = {"mortality": "all-cause mortality"}
TURNER2012_COMPARISON_ALIASES: Final = {
    "pharma-control": "pharm vs placebo/control",
    "pharma-pharma": "pharm vs pharm",
    "non-pharma": "non-pharm",
}

TURNER2012: Final[dict[str, tuple[tuple[float, float], ...]]] = {
    "all-cause mortality": ((-4.06, 1.45), (-4.27, 1.48), (-3.93, 1.51)),
    "semi-objective": ((-3.02, 1.85), (-3.23, 1.88), (-2.89, 1.91)),
    "subjective": ((-2.13, 1.58), (-2.34, 1.62), (-2.01, 1.64)),
}

# ---------------------------------------------------------------------------------------
# Rhodes, Turner, Higgins (2015). Predictive distributions were developed for the extent
# of heterogeneity in meta-analyses of continuous outcome data. J Clin Epidemiol
# 68(1):52-60. Table 3 (area "other"), Tables A.3.1 (respiratory) and A.3.2 (cancer);
# standardized mean differences. Read from ``RhodesEtAlParameters`` of bayesmeta
# (cran/bayesmeta R/bayesmeta.R); identical to PRIORS.md section 3.
#
# Two cells break the otherwise constant column shifts of the table (pharm-vs-pharm =
# placebo column - 0.27/0.28, non-pharm = placebo column + 0.14):
#   * area "other", "mental health outcome", "non-pharm": -3.85 (pattern: about -2.85);
#   * area "cancer", "internal / external structure-related outcome", "pharm vs pharm":
#     -0.14 (pattern: about -0.41).
# What we found: the printed tables of the paper could not be read here (the stored copy
# of the article, PMC4270451, exposed only its abstract). A second, separately written
# implementation, LoukiaSpin/rnmamod R/table.tau2.empirical.prior_function.R (which cites
# the paper's DOI), carries the same two values (-3.85 and -0.14) together with every
# other cell of the three tables. Two programs agreeing is not proof (one may have been
# copied from the other), but nothing we could read contradicts the values, and the
# pattern argument alone is no reason to alter published numbers. We therefore ship
# -3.85 and -0.14 unchanged and flag both cells in ``RHODES2015_UNVERIFIED`` so that
# ``Rhodes2015.verified``, ``source`` and ``library()`` say they were not checked against
# the printed paper.
# ---------------------------------------------------------------------------------------
RHODES2015_SOURCE: Final = (
    "Rhodes KM, Turner RM, Higgins JPT (2015). Predictive distributions were developed for "
    "the extent of heterogeneity in meta-analyses of continuous outcome data. J Clin Epidemiol "
    "68(1):52-60, Table 3 and Tables A.3.1/A.3.2 (log-t5 for tau^2, SMD scale)"
)

RHODES2015_COMPARISONS: Final = ("pharm vs placebo/control", "pharm vs pharm", "non-pharm")
RHODES2015_AREAS: Final = ("other", "respiratory", "cancer")

_RHODES_OUTCOMES = (
    "obstetric outcome",
    "resource use / hospital stay / process",
    "internal / external structure-related outcome",
    "general physical health / adverse event / pain / quality of life",
    "signs / symptoms / infection / onset of new disease",
    "mental health outcome",
    "biological marker",
    "subjective outcomes",
)

# area -> outcome -> ((location, scale) per comparison in RHODES2015_COMPARISONS order)
RHODES2015: Final[dict[str, dict[str, tuple[tuple[float, float], ...]]]] = {
    "other": dict(
        zip(
            _RHODES_OUTCOMES,
            (
                ((-4.13, 2.34), (-4.40, 2.31), (-3.99, 2.11)),
                ((-2.55, 2.73), (-2.83, 2.70), (-2.41, 2.57)),
                ((-2.43, 2.50), (-2.70, 2.46), (-2.29, 2.32)),
                ((-3.16, 2.50), (-3.44, 2.44), (-3.02, 2.27)),
                ((-3.00, 2.50), (-3.27, 2.47), (-2.86, 2.33)),
                ((-2.99, 2.16), (-3.27, 2.14), (-3.85, 1.93)),
                ((-3.41, 2.83), (-3.68, 2.78), (-3.27, 2.66)),
                ((-2.76, 2.58), (-3.03, 2.59), (-2.62, 2.41)),
            ),
            strict=True,
        )
    ),
    "respiratory": dict(
        zip(
            _RHODES_OUTCOMES,
            (
                ((-6.03, 2.36), (-6.31, 2.31), (-5.89, 2.21)),
                ((-4.46, 2.74), (-4.73, 2.70), (-4.32, 2.57)),
                ((-4.33, 2.51), (-4.61, 2.46), (-4.19, 2.33)),
                ((-5.07, 2.51), (-5.34, 2.45), (-4.93, 2.28)),
                ((-4.90, 2.50), (-5.18, 2.47), (-4.76, 2.33)),
                ((-4.90, 2.17), (-5.17, 2.14), (-4.76, 1.94)),
                ((-5.31, 2.83), (-5.59, 2.78), (-5.17, 2.66)),
                ((-4.66, 2.59), (-4.94, 2.59), (-4.52, 2.41)),
            ),
            strict=True,
        )
    ),
    "cancer": dict(
        zip(
            _RHODES_OUTCOMES,
            (
                ((-1.57, 2.45), (-1.85, 2.41), (-1.43, 2.24)),
                ((0.01, 2.83), (-0.27, 2.79), (0.15, 2.68)),
                ((-0.13, 2.61), (-0.14, 2.56), (0.27, 2.45)),
                ((-0.60, 2.61), (-0.88, 2.55), (-0.46, 2.40)),
                ((-0.44, 2.60), (-0.71, 2.57), (-0.30, 2.46)),
                ((-0.43, 2.28), (-0.71, 2.25), (-0.29, 2.08)),
                ((-0.85, 2.93), (-1.13, 2.87), (-0.71, 2.78)),
                ((-0.20, 2.68), (-0.48, 2.68), (-0.06, 2.53)),
            ),
            strict=True,
        )
    ),
}

#: the general (marginal) setting, beginning of Sec. 3.3 of the paper (as cited by bayesmeta)
RHODES2015_MARGINAL: Final = (-3.44, 2.59)

#: (area, outcome, comparison) cells whose value breaks the table's pattern and could not
#: be checked against the printed paper (see the comment above)
RHODES2015_UNVERIFIED: Final = frozenset(
    {
        ("other", "mental health outcome", "non-pharm"),
        ("cancer", "internal / external structure-related outcome", "pharm vs pharm"),
    }
)

RHODES2015_OUTCOME_ALIASES: Final = {
    "resource use and hospital stay / process": "resource use / hospital stay / process",
    "internal and external structure-related outcome": "internal / external structure-related outcome",
    "general physical health and adverse event and pain and quality of life / functioning": "general physical health / adverse event / pain / quality of life",
    "signs / symptoms reflecting continuation / end of condition and infection / onset of "
    "new acute / chronic disease": "signs / symptoms / infection / onset of new disease",
    "various subjectively measured outcomes": "subjective outcomes",
}

# ---------------------------------------------------------------------------------------
# Bartoš et al. Cochrane-wide empirical priors (RoBMA/BayesTools ``prior_informed``).
# SMD: Bartoš, Gronau, Timmers, Otte, Ly, Wagenmakers (2021), Stat Med 40(30):6743-6761;
# the 46 subfields and "Cochrane" verified against FBartos/BayesTools R/priors-informed.R.
# logOR, logRR, RD, logHR: Bartoš, Otte, Gronau, Timmers, Ly, Wagenmakers (2023),
# arXiv:2306.11468, Cochrane-wide values as recorded in PRIORS.md section 5 (the
# BayesTools version we could read implements SMD only, so these were not re-verified).
# ---------------------------------------------------------------------------------------
BARTOS2021_SOURCE: Final = (
    "Bartos F, Gronau QF, Timmers B, Otte WM, Ly A, Wagenmakers E-J (2021). Bayesian model-"
    "averaged meta-analysis in medicine. Stat Med 40(30):6743-6761 (inverse-gamma on tau, SMD)"
)
BARTOS2023_SOURCE: Final = (
    "Bartos F, Otte WM, Gronau QF, Timmers B, Ly A, Wagenmakers E-J (2023). Empirical prior "
    "distributions for Bayesian meta-analyses of binary and time-to-event outcomes. "
    "arXiv:2306.11468 (Cochrane-wide heterogeneity priors on tau)"
)

#: measure -> (family, parameters) Cochrane-wide; "invgamma": (shape, scale) on tau,
#: "halfnormal": (scale,) on tau
BARTOS_COCHRANE: Final[dict[str, tuple[str, tuple[float, ...]]]] = {
    "SMD": ("invgamma", (1.71, 0.40)),
    "logOR": ("invgamma", (1.77, 0.55)),
    "logRR": ("invgamma", (1.51, 0.23)),
    "RD": ("halfnormal", (0.099,)),
    "logHR": ("invgamma", (2.42, 0.30)),
}

#: SMD subfields of the Cochrane Database (Bartoš et al. 2021): (shape, scale) on tau
BARTOS2021_SMD_SUBFIELDS: Final[dict[str, tuple[float, float]]] = {
    "Acute Respiratory Infections": (1.73, 0.46),
    "Airways": (2.02, 0.28),
    "Anaesthesia": (1.62, 0.64),
    "Back and Neck": (1.75, 0.57),
    "Bone, Joint and Muscle Trauma": (1.52, 0.28),
    "Colorectal": (1.64, 0.56),
    "Common Mental Disorders": (1.62, 0.45),
    "Consumers and Communication": (1.56, 0.14),
    "Cystic Fibrosis and Genetic Disorders": (1.70, 0.45),
    "Dementia and Cognitive Improvement": (1.71, 0.44),
    "Developmental, Psychosocial and Learning Problems": (1.43, 0.12),
    "Drugs and Alcohol": (1.89, 0.28),
    "Effective Practice and Organisation of Care": (1.71, 0.35),
    "Emergency and Critical Care": (1.62, 0.29),
    "ENT": (1.85, 0.48),
    "Eyes and Vision": (1.86, 0.41),
    "Gynaecological, Neuro-oncology and Orphan Cancer": (1.67, 0.46),
    "Gynaecology and Fertility": (1.78, 0.46),
    "Heart": (1.83, 0.47),
    "Hepato-Biliary": (1.56, 0.58),
    "HIV/AIDS": (1.73, 0.44),
    "Hypertension": (2.01, 0.38),
    "Incontinence": (1.64, 0.36),
    "Infectious Diseases": (1.28, 0.44),
    "Inflammatory Bowel Disease": (1.76, 0.39),
    "Injuries": (1.80, 0.34),
    "Kidney and Transplant": (1.72, 0.53),
    "Metabolic and Endocrine Disorders": (1.71, 0.37),
    "Methodology": (1.72, 0.51),
    "Movement Disorders": (1.88, 0.33),
    "Musculoskeletal": (1.87, 0.38),
    "Neonatal": (1.68, 0.38),
    "Oral Health": (1.79, 0.28),
    "Pain, Palliative and Supportive Care": (1.69, 0.42),
    "Pregnancy and Childbirth": (1.86, 0.32),
    "Public Health": (1.76, 0.23),
    "Schizophrenia": (1.60, 0.27),
    "Sexually Transmitted Infections": (1.70, 0.59),
    "Skin": (1.64, 0.51),
    "Stroke": (1.71, 0.40),
    "Tobacco Addiction": (1.73, 0.42),
    "Upper GI and Pancreatic Diseases": (1.76, 0.38),
    "Urology": (1.73, 0.45),
    "Vascular": (1.66, 0.50),
    "Work": (1.76, 0.39),
    "Wounds": (1.54, 0.41),
}
