"""Seed statistics: a difference of two seed means against its Welch standard error, and the
convergence check (does a figure move beyond its seed spread at twice the epochs?).

A difference counts when it exceeds Z standard errors; two seeds at each end are needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean, stdev

from .runs import DEPTH, LATENT, POPULATION_INFO, Row, by_setting

Z = 2.0  # a difference counts when it exceeds Z standard errors
# the index-code MI as the issue names it, and the population information the verdict uses
CONVERGENCE_METRICS = ("kl_q_prior_lower_bound", "mutual_info", POPULATION_INFO, "active_units", "fd.prior", "fd.gmm")


def spread(values: list[float]) -> tuple[float, float, int]:
    return mean(values), (stdev(values) if len(values) > 1 else 0.0), len(values)


def welch_se(a: tuple[float, float, int], b: tuple[float, float, int]) -> float:
    """Standard error of the difference of two seed means (their spreads), variances unpooled."""
    (_, sa, na), (_, sb, nb) = a, b
    return math.sqrt(sa**2 / na + sb**2 / nb)


def direction(diff: float, se: float) -> str:
    """The verdict on a difference: "lower" or "higher" beyond Z standard errors, else no clear change."""
    if abs(diff) <= Z * se:
        return "no clear change"
    return "lower" if diff < 0 else "higher"


@dataclass
class Check:
    depth: float
    latent: float
    metric: str
    seeds: tuple[float, float, int]  # mean, sd, n at the grid's epochs
    longer: float  # the same figure at twice the epochs (one seed)

    @property
    def within(self) -> bool:
        m, sd, n = self.seeds
        return n >= 2 and abs(self.longer - m) <= Z * sd + 1e-9


def convergence(grid: list[Row], longer: list[Row], metrics=CONVERGENCE_METRICS) -> list[Check]:
    checks = []
    for metric in metrics:
        seeds = by_setting(grid, metric)
        for r in longer:
            key = (r.x(DEPTH), r.x(LATENT))
            if key in seeds and r.metrics.get(metric) is not None:
                checks.append(Check(*key, metric, spread(seeds[key]), r.metrics[metric]))
    return checks


@dataclass
class Comparison:
    within: float
    low_x: float
    high_x: float
    low: list[float]
    high: list[float]

    @property
    def diff(self) -> float:
        return mean(self.high) - mean(self.low)

    @property
    def se(self) -> float:
        return welch_se(spread(self.low), spread(self.high))

    @property
    def verdict(self) -> str:
        return direction(self.diff, self.se)


def compare(rows: list[Row], y: str, x: str, within: str) -> tuple[dict[float, Comparison], list[str]]:
    """Y at the largest X against Y at the smallest, within each value of `within`."""
    found, missing = {}, []
    usable = [r for r in rows if r.metrics.get(y) is not None]
    for w in sorted({r.x(within) for r in usable}):
        here = [r for r in usable if r.x(within) == w]
        xs = sorted({r.x(x) for r in here})
        if len(xs) < 2:
            missing.append(f"{within}={w:g}: only {x}={xs[0]:g}")
            continue
        low = [r.metrics[y] for r in here if r.x(x) == xs[0]]
        high = [r.metrics[y] for r in here if r.x(x) == xs[-1]]
        if len(low) < 2 or len(high) < 2:
            missing.append(f"{within}={w:g}: fewer than two seeds at {x}={xs[0]:g} or {xs[-1]:g}")
            continue
        found[w] = Comparison(w, xs[0], xs[-1], low, high)
    return found, missing
