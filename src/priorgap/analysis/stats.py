"""The study's statistics: 95% t intervals for the few seeds a setting has.

A difference counts ("lower" / "higher") when its 95% interval excludes zero. With three seeds a
side, Welch's difference of two means has 2 to 4 degrees of freedom, so its interval is 2.8 to 4.3
standard errors wide each way, not 2.

- Diff: a difference of two means (Welch), or a mean of paired differences (one per run).
- Line: a least-squares line per group with a common residual variance, compared at one x (the
  rate-distortion comparison at matched rate: an analysis of covariance).
- p_value() and holm(): a table of many intervals holds some false ones by chance; Holm's (1979)
  step-down correction says which of its tests survive a family-wise error rate of 5%.
- predicts(): does one new difference (the slice's, one seed a side) fall inside the interval a
  difference of the grid's size predicts for it? The convergence test: it fails when a figure
  still moves with training beyond what the seeds explain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from statistics import mean, stdev

import numpy as np
from scipy import stats as sps

class Direction(StrEnum):
    """How one difference reads at the 95% level."""

    HIGHER = "higher"
    LOWER = "lower"
    NO_CLEAR_CHANGE = "no clear change"
    UNDECIDED = "undecided (one run a side)"


LEVEL = 0.95


def t_quantile(df: float) -> float:
    return float(sps.t.ppf(0.5 + LEVEL / 2, df)) if df > 0 else math.inf


def spread(values: list[float]) -> tuple[float, float, int]:
    """mean, sd (0 for one value) and count; nan, 0, 0 for none."""
    if not values:
        return math.nan, 0.0, 0
    return mean(values), (stdev(values) if len(values) > 1 else 0.0), len(values)


@dataclass
class Diff:
    """An estimate of a difference, its standard error and degrees of freedom."""

    diff: float
    se: float
    df: float
    n: tuple[int, ...]  # runs behind it (per side, or the pairs)

    @property
    def half(self) -> float:
        return t_quantile(self.df) * self.se if self.se > 0 else (0.0 if self.df > 0 else math.inf)

    @property
    def low(self) -> float:
        return self.diff - self.half

    @property
    def high(self) -> float:
        return self.diff + self.half

    @property
    def decided(self) -> bool:
        return self.df > 0

    @property
    def verdict(self) -> "Direction":
        if not self.decided:
            return Direction.UNDECIDED
        if self.low > 0:
            return Direction.HIGHER
        if self.high < 0:
            return Direction.LOWER
        return Direction.NO_CLEAR_CHANGE

    def fmt(self, digits: int = 2) -> str:
        """'-0.42 [-0.61, -0.23]': the estimate and its 95% interval, to `digits` significant digits
        of the interval's half-width (the estimate's own digits say no more than that)."""
        scale = self.half if self.decided and 0 < self.half < math.inf else abs(self.diff)
        places = max(0, digits - 1 - math.floor(math.log10(scale))) if scale > 0 else 0
        # + 0.0 turns a value that rounds to -0 into 0: '+0.0', not '-0.0', for a rate matched to 0.02 nats
        signed = lambda x: f"{round(x, places) + 0.0:+.{places}f}"  # noqa: E731
        if not self.decided:
            return f"{signed(self.diff)} (no interval)"
        if self.se == 0:  # every seed gave the same value (a count of active units, say)
            return f"{signed(self.diff)} (the same in every run)"
        return f"{signed(self.diff)} [{signed(self.low)}, {signed(self.high)}]"


def p_value(d: Diff, null: float = 0.0) -> float | None:
    """The two-sided p-value of `d` against `null` from its t statistic and degrees of freedom: below
    1 - LEVEL exactly when its interval excludes `null`. None for a difference with no interval."""
    if not d.decided:
        return None
    if d.se == 0:  # every run gave the same value: a point, away from the null or on it
        return 0.0 if d.diff != null else 1.0
    return float(2 * sps.t.sf(abs(d.diff - null) / d.se, d.df))


def holm(p_values: list[float], alpha: float = 1 - LEVEL) -> list[bool]:
    """Holm's step-down test (Holm 1979): which hypotheses it rejects at family-wise error `alpha`.
    The k-th smallest p-value (k counted from 0, of m) is rejected while it and every one before it
    is at most alpha / (m - k); the first that is not stops the rejections."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for k, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - k):
            break
        rejected[i] = True
    return rejected


def welch(low: list[float], high: list[float]) -> Diff:
    """mean(high) - mean(low), variances unpooled (Welch-Satterthwaite degrees of freedom)."""
    (ma, sa, na), (mb, sb, nb) = spread(low), spread(high)
    va, vb = (sa**2 / na if na > 1 else 0.0), (sb**2 / nb if nb > 1 else 0.0)
    se = math.sqrt(va + vb)
    if na < 2 or nb < 2:
        df = 0.0
    elif se == 0:
        df = float(na + nb - 2)
    else:
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    return Diff(mb - ma, se, df, (na, nb))


def paired(diffs: list[float]) -> Diff:
    """The mean of differences taken within runs (same decoder, same classifier)."""
    m, sd, n = spread(diffs)
    return Diff(m, sd / math.sqrt(n) if n else 0.0, float(max(n - 1, 0)), (n,))


def predicts(grid: Diff, sd_low: float, sd_high: float, new: float) -> bool:
    """Is a new one-seed-a-side difference inside the 95% prediction interval of the grid's
    difference? Its variance: the grid mean's (se^2) plus one new run a side (sd^2 each)."""
    if not grid.decided:
        return False
    half = t_quantile(grid.df) * math.sqrt(grid.se**2 + sd_low**2 + sd_high**2)
    return abs(new - grid.diff) <= half + 1e-12


@dataclass
class Lines:
    """y = a_g + b_g (x - x0) for each group g, least squares, one pooled residual variance."""

    x0: float
    coef: dict  # group -> (a, b)
    cov: dict  # group -> 2x2 covariance of (a, b)
    df: int
    sigma: float
    n: dict  # group -> points

    def at_x0(self, g_low, g_high) -> Diff:
        """a_high - a_low: the groups compared at x0 (their lines' values there)."""
        (a1, _), (a2, _) = self.coef[g_low], self.coef[g_high]
        se = math.sqrt(self.cov[g_low][0, 0] + self.cov[g_high][0, 0])
        return Diff(a2 - a1, se, float(self.df), (self.n[g_low], self.n[g_high]))


def fit_lines(points: dict, x0: float) -> Lines | None:
    """points: group -> [(x, y)]; None when a group has fewer than 3 points or no spread in x."""
    coef, cov, n, rss, used = {}, {}, {}, 0.0, 0
    for g, xy in points.items():
        x, y = np.array([p[0] for p in xy], float) - x0, np.array([p[1] for p in xy], float)
        if len(x) < 3 or np.ptp(x) == 0:
            return None
        design = np.stack([np.ones_like(x), x], 1)
        beta, *_ = np.linalg.lstsq(design, y, rcond=None)
        rss += float(((y - design @ beta) ** 2).sum())
        coef[g], cov[g], n[g] = (float(beta[0]), float(beta[1])), np.linalg.inv(design.T @ design), len(x)
        used += len(x)
    df = used - 2 * len(points)
    if df < 1:
        return None
    sigma2 = rss / df
    return Lines(x0, coef, {g: sigma2 * c for g, c in cov.items()}, df, math.sqrt(sigma2), n)
