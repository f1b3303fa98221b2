"""Benchmark of the Bayesian core: exact posterior, MCMC compile and sampling times.

Run::

    python benchmarks/bench_bayes.py            # full run (about 1-2 minutes)
    python benchmarks/bench_bayes.py --quick    # fewer repetitions

Prints, per item, the measured figure next to its target:

* exact posterior (``sparsemeta.bayes.exact.posterior`` plus the summary with the shrunken study
  effects) for k = 2 and k = 13: median wall time over repetitions (target <= 5 ms);
* MCMC compile time per model family, cold, i.e. with the compiled-model cache cleared
  (target <= 10 s);
* sampling time of one fit, 4 chains x 1,000 draws after 1,000 warm-up draws, with a cached
  compiled model (target <= 1 s), bulk ESS per second of the slowest-mixing quantity, and
  the diagnostics of that fit;
* the time of a second analysis of the same family with other data (the cache at work);
* exact meta-regression (``sparsemeta.bayes.regression``, BCG with absolute latitude, k = 13,
  1 covariate) plus the medians and 95% intervals of its coefficients (target <= 20 ms),
  exact leave-one-out at k = 5 (``sparsemeta.bayes.leave_one_out``, every posterior, medians,
  intervals, shifts and KL divergences; target <= 20 ms) and exact model averaging at k = 5.

* exact binomial-normal posterior (``sparsemeta.bayes.exact_binomial``, arm-symmetric model,
  HN(0.5), N(0, 2.82^2)) for k = 2, 5 and 10 sparse studies with zero cells: median wall
  and CPU time of the fit plus ``summary()`` (2.5/50/97.5% quantiles and shortest intervals
  of mu, tau, theta_new and every theta_i; target <= 20 ms at k <= 5, printed with the
  ratio of CPU time to it), and binomial calibration throughput: fits per second
  (``accuracy="fast"``, mu's 95% interval) on simulated k = 3 data sets, with the coverage
  of mu's interval as a sanity figure.
* exact binomial-rr posterior (``sparsemeta.bayes.exact_binomial_rr``, log risk ratio, same
  priors) on the same k = 2, 5 and 10 data sets: median wall and CPU time of the fit plus
  ``summary()``.

* plain ``pm.sample()`` on the arm-level builders (``--section plain``, not part of the
  full run): divergences per seed, seeds 1-10, PyMC's defaults (1,000 draws after 1,000
  tuning, target_accept 0.8, as many chains as cores but at least 2) on two studies with
  the builders' default priors (arm-normal: HN(2), MD has no default).

``--section exact|extras|binomial|mcmc|plain`` runs one part only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np

from sparsemeta import datasets, effects
from sparsemeta.bayes import (
    averaging,
    exact,
    exact_binomial,
    leave_one_out,
    models,
    priors,
    regression,
    sample,
)

PIP_SECURE = ([31, 8], [46, 14], [9, 1], [54, 54])
PIP_AVOIDANT = ([8, 1], [46, 14], [19, 10], [54, 54])
ARMS = ([12.0, 10.5], [4.0, 5.0], [20, 35], [10.0, 10.0], [4.5, 5.5], [22, 30])
ARMS_2 = ([8.0, 9.5], [3.0, 4.0], [25, 30], [9.0, 9.0], [3.5, 4.5], [24, 31])


def _effects(counts) -> tuple[np.ndarray, np.ndarray]:
    a, n1, c, n2 = (np.asarray(x, float) for x in counts)
    yi, vi = effects.log_rr(a, n1, c, n2)
    return yi, np.sqrt(vi)


def bench_exact(repeats: int) -> None:
    print("exact posterior (quadrature + summary of mu, tau, theta_new, shrunken theta_i)")
    prior = priors.HalfNormal(0.5)
    table = datasets.bcg_colditz1994()
    bcg = (table.events_t, table.n_t, table.events_c, table.n_c)
    for label, (y, se) in (
        ("k = 2 (PIP secure)", _effects(PIP_SECURE)),
        ("k = 13 (BCG)", _effects(bcg)),
    ):
        exact.posterior(y, se, prior).summary()  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            exact.posterior(y, se, prior).summary()
            times.append(time.perf_counter() - t0)
        times_q = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            post = exact.posterior(y, se, prior)
            for dist in (post.mu, post.tau, post.theta_new, *post.theta.values()):
                dist.quantile([0.025, 0.5, 0.975])
            times_q.append(time.perf_counter() - t0)
        print(
            f"  {label:20s} posterior + summary(): median {1e3 * statistics.median(times):7.1f} ms; "
            f"posterior + 2.5/50/97.5% quantiles: {1e3 * statistics.median(times_q):7.1f} ms "
            "(target <= 5 ms)"
        )


def _median_times(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU (process) time of ``fn`` in ms."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def _median_ms(fn, repeats: int) -> str:
    """Median wall and CPU (process) time of ``fn`` in ms, as text."""
    wall, cpu = _median_times(fn, repeats)
    return f"{wall:6.1f} ms wall, {cpu:6.1f} ms CPU"


def bench_extras(repeats: int) -> None:
    print("exact meta-regression, leave-one-out and model averaging")
    prior = priors.HalfNormal(0.5)
    table = datasets.bcg_colditz1994()
    y13, se13 = _effects((table.events_t, table.n_t, table.events_c, table.n_c))
    X = np.column_stack([np.ones(13), table["ablat"].to_numpy(float)])

    def meta_regression() -> None:
        regression.regression(y13, se13, X, prior, names=["intercept", "ablat"]).coefficients()

    ms = _median_ms(meta_regression, repeats)
    print(
        f"  meta-regression k = 13, 1 covariate, + coefficient medians/intervals: {ms} (target <= 20 ms)"
    )
    y5, se5 = y13[:5], se13[:5]
    ms = _median_ms(lambda: leave_one_out.leave_one_out(y5, se5, prior, "normal(0, 2)"), repeats)
    print(
        f"  leave-one-out k = 5 (6 posteriors, medians, intervals, shifts, KL):   {ms} (target <= 20 ms)"
    )
    ms = _median_ms(lambda: averaging.model_average(y5, se5, prior, "normal(0, 2)").mu(), repeats)
    print(f"  model averaging k = 5 (4 models, averaged mu median/interval):        {ms}")


def _families():
    hn = priors.HalfNormal(0.5)
    y2, se2 = _effects(PIP_SECURE)
    y2b, se2b = _effects(PIP_AVOIDANT)
    return [
        (
            "normal-normal",
            lambda: models.normal_normal(y2, se2, None, hn, None),
            lambda: models.normal_normal(y2b, se2b, None, hn, None),
        ),
        (
            "binomial-normal",
            lambda: models.binomial_normal(*PIP_SECURE, None, hn, priors.mu_prior_default("OR")),
            lambda: models.binomial_normal(*PIP_AVOIDANT, None, hn, priors.mu_prior_default("OR")),
        ),
        (
            "binomial-rr",
            lambda: models.binomial_rr(*PIP_SECURE, None, hn, priors.mu_prior_default("RR")),
            lambda: models.binomial_rr(*PIP_AVOIDANT, None, hn, priors.mu_prior_default("RR")),
        ),
        (
            "arm-normal",
            lambda: models.arm_normal(*ARMS, None, priors.HalfNormal(2.0), None),
            lambda: models.arm_normal(*ARMS_2, None, priors.HalfNormal(2.0), None),
        ),
    ]


def bench_mcmc(fits: int) -> None:
    print("MCMC (nutpie; k = 2; 4 chains x 1,000 draws after 1,000 warm-up; seeds 1..n)")
    for family, build, build_other in _families():
        sample.clear_cache()
        first = sample.sample(build(), seed=0)
        samples, ess_rates, diags = [], [], []
        for seed in range(1, fits + 1):
            result = sample.sample(build(), seed=seed)
            samples.append(result.sampling_seconds)
            d = result.diagnostics
            ess_rates.append(min(d.ess_bulk_min, d.ess_tail_min) / result.sampling_seconds)
            diags.append(d)
        other = sample.sample(build_other(), seed=99)
        worst_rhat = max(d.r_hat_max for d in diags)
        print(
            f"  {family:16s} compile {first.compile_seconds:5.1f} s (target <= 10 s); "
            f"sampling median {statistics.median(samples):5.2f} s (target <= 1 s); "
            f"min(bulk, tail) ESS/s median {statistics.median(ess_rates):7.0f}; "
            f"divergences {sum(d.divergences for d in diags)}, max R-hat {worst_rhat:.3f}, "
            f"min ESS {min(min(d.ess_bulk_min, d.ess_tail_min) for d in diags):.0f} over {fits} fits; "
            f"second data set: {other.seconds:4.2f} s in total (cached={other.cached})"
        )


def _binomial_data(k: int, rng: np.random.Generator, mu: float = 0.5, tau: float = 0.3):
    """k studies from the arm-symmetric binomial-normal model: arms of 15-60, rare events."""
    n_t, n_c = rng.integers(15, 61, k), rng.integers(15, 61, k)
    alpha = rng.normal(-2.5, 0.7, k)
    theta = rng.normal(mu, tau, k)
    p_t = 1.0 / (1.0 + np.exp(-(alpha + theta / 2)))
    p_c = 1.0 / (1.0 + np.exp(-(alpha - theta / 2)))
    return rng.binomial(n_t, p_t), n_t, rng.binomial(n_c, p_c), n_c


def bench_binomial(repeats: int, replicates: int) -> None:
    print("exact binomial-normal posterior (fit + summary(): all quantiles and intervals)")
    rng = np.random.default_rng(2024)
    for k in (2, 5, 10):
        data = _binomial_data(k, rng)
        zeros = int((data[0] == 0).sum() + (data[2] == 0).sum())
        exact_binomial.posterior(*data, "halfnormal(0.5)").summary()  # warm-up

        def fit(data=data) -> None:
            exact_binomial.posterior(*data, "halfnormal(0.5)").summary()

        wall, cpu = _median_times(fit, repeats)
        print(
            f"  k = {k:2d} ({zeros} zero-event arms): {wall:6.1f} ms wall, {cpu:6.1f} ms CPU; "
            f"CPU / target {cpu / 20.0:4.2f} (target <= 20 ms at k <= 5)"
        )
    sets = [_binomial_data(3, rng) for _ in range(replicates)]
    covered = 0
    t0 = time.perf_counter()
    for data in sets:
        post = exact_binomial.posterior(*data, "halfnormal(0.5)", accuracy="fast")
        lo, hi = post.mu.quantile([0.025, 0.975])
        covered += lo <= 0.5 <= hi
    seconds = time.perf_counter() - t0
    print(
        f"  calibration throughput, k = 3, accuracy='fast', mu interval: "
        f"{replicates / seconds:.1f} fits/s ({replicates} fits in {seconds:.1f} s; coverage of "
        f"the true mu = 0.5: {covered / replicates:.3f}, one process)"
    )


def bench_binomial_rr(repeats: int) -> None:
    """Exact binomial-rr fit + summary() on the data sets of :func:`bench_binomial`."""
    from sparsemeta.bayes import exact_binomial_rr

    print("exact binomial-rr posterior (fit + summary(): all quantiles and intervals)")
    rng = np.random.default_rng(2024)  # the k = 2, 5, 10 data sets of bench_binomial
    for k in (2, 5, 10):
        data = _binomial_data(k, rng)
        zeros = int((data[0] == 0).sum() + (data[2] == 0).sum())

        def fit(data=data) -> None:
            exact_binomial_rr.posterior(*data, "halfnormal(0.5)").summary()

        wall, cpu = _median_times(fit, repeats)
        print(f"  k = {k:2d} ({zeros} zero-event arms): {wall:6.1f} ms wall, {cpu:6.1f} ms CPU")


def bench_plain(seeds: range) -> None:
    """Divergences of plain ``pm.sample()`` on the arm-level builders (see the docstring)."""
    import logging

    import pymc as pm

    logging.getLogger("pymc").setLevel(logging.ERROR)
    print(f"plain pm.sample() defaults, divergences per seed (seeds {seeds.start}-{seeds[-1]})")
    builders = [
        ("binomial-rr, PIP secure", lambda: models.binomial_rr(*PIP_SECURE, None)),
        ("binomial-normal, PIP secure", lambda: models.binomial_normal(*PIP_SECURE, None)),
        ("arm-normal, ARMS, HN(2)", lambda: models.arm_normal(*ARMS, None, "halfnormal(2)")),
    ]
    for name, build in builders:
        counts = []
        for seed in seeds:
            with build(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                idata = pm.sample(
                    random_seed=seed, progressbar=False, compute_convergence_checks=False
                )
            counts.append(int(idata.sample_stats["diverging"].sum()))
        print(f"  {name:30s} {counts}  total {sum(counts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--section",
        choices=["exact", "extras", "binomial", "mcmc", "plain"],
        help="run one part only (plain: only when asked for)",
    )
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    warnings.simplefilter("ignore", UserWarning)
    if args.section in (None, "exact"):
        bench_exact(repeats=5 if args.quick else 30)
    if args.section in (None, "extras"):
        bench_extras(repeats=5 if args.quick else 30)
    if args.section in (None, "binomial"):
        bench_binomial(repeats=5 if args.quick else 30, replicates=50 if args.quick else 400)
        bench_binomial_rr(repeats=5 if args.quick else 30)
    if args.section in (None, "mcmc"):
        bench_mcmc(fits=2 if args.quick else 5)
    if args.section == "plain":
        bench_plain(seeds=range(1, 4) if args.quick else range(1, 11))


if __name__ == "__main__":
    main()
