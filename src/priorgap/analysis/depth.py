"""Claim 1: a deeper encoder brings q(z) closer to the prior. Judged at matched rate.

A deeper encoder that switches units off has a lower rate (mean KL(Q(z|x) || p), the KL term),
and at a lower rate q is closer to the prior whatever its shape: comparing the depths at beta = 1
compares rates. So each depth traces its curve on the rate-distortion plane (Alemi et al. 2018)
with a beta sweep, and the depths are compared where their curves overlap: a line per depth
through (rate, measure) of every run, one pooled residual variance, both read at the middle of the
overlapping rates (stats.fit_lines; an analysis of covariance). Rate is the test set's KL term
(`test_kl`), distortion its reconstruction term (`test_recon`), closeness the held-out bound. The
bracket's upper end (the training mixture's KL, about rate - log N) is compared the same way: where
its difference spans zero, the verdict settles the bound, not q itself (verdicts.settles).

ELBO surgery splits the mean KL into the information about x and the mismatch of q: POPULATION_INFO
= avg_kl - kl_q_prior_lower_bound, an upper estimate of I(x; z) whose slack is the bound's. It is
shown at beta = 1 (the figure), but not judged: the bound's slack grows with the active units, which
differ between the depths (more active units, more slack).

The warm-up arm asks whether depth 3's lost units are an optimisation accident: does ramping the
KL weight from 0 restore them, to depth 1's count under the same warm-up?
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..study import runs
from . import stats
from .stats import Direction
from .compare import Compared, between
from .verdicts import settles

DEPTHS = (1, 3)  # shallow and deep: the encoder's extremes (the decoder is held fixed)
RATE, DISTORTION, BOUND = "test_kl", "test_recon", "kl_q_prior_lower_bound"
UPPER = "kl_q_prior"  # the bracket's upper end: the training mixture's KL (analysis/bound.py)
# what the matched-rate comparison reads: both ends of the bracket, and what else differs there
MATCHED = (BOUND, UPPER, DISTORTION, "active_units", "test_elbo")


@dataclass
class Matched:
    latent: int
    rate: float  # the matched rate (nats)
    overlap: tuple[float, float]
    lines: dict  # measure -> stats.Lines (None where a depth has too few runs)
    diffs: dict  # measure -> stats.Diff (deep minus shallow at the matched rate)
    runs: int


@dataclass
class DepthClaim:
    verdict: str = ""
    matched: list[Matched] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    at_beta1: list[Compared] = field(default_factory=list)
    warmup: list[Compared] = field(default_factory=list)
    warmup_verdict: dict = field(default_factory=dict)  # latent -> sentence


# The encoders each claim compares on the rate-distortion plane: label -> its settings. The first
# is the low side (the difference is the second minus the first).
BY_DEPTH = {d: {"depth": d, "width": runs.GRID_WIDTH} for d in DEPTHS}


def _curve_rows(rows: list[runs.Row], latent: int, epochs: int, encoders: dict) -> dict:
    """Per encoder: the runs on its rate-distortion curve (any beta, no warm-up, N(0,I), the study's epochs)."""
    return {g: [r for r in runs.where(rows, latent=latent, epochs=epochs, warmup=0, prior="normal", **where)
                if r.metrics.get(RATE) is not None] for g, where in encoders.items()}


def matched(rows: list[runs.Row], latent: int, epochs: int, encoders: dict = BY_DEPTH, name: str = "depth",
            measures: tuple[str, ...] = MATCHED) -> Matched | str:
    """The two encoders (labels of `encoders`, e.g. depths 1 and 3) compared at the middle of the
    rates both reach, on each of `measures`."""
    curves = _curve_rows(rows, latent, epochs, encoders)
    betas = {g: {r.key.beta for r in c} for g, c in curves.items()}
    if any(len(b) < 2 for b in betas.values()):
        return f"latent size {latent}: fewer than two betas at {name} " + " or ".join(f"{g}" for g in encoders)
    lo = max(min(r.metrics[RATE] for r in c) for c in curves.values())
    hi = min(max(r.metrics[RATE] for r in c) for c in curves.values())
    if lo >= hi:
        return f"latent size {latent}: the {name}s' rates do not overlap ({lo:.3g} > {hi:.3g} nats)"
    x0 = (lo + hi) / 2
    lines, diffs = {}, {}
    for m in measures:
        lines[m] = stats.fit_lines({g: [(r.metrics[RATE], r.metrics[m]) for r in c if r.metrics.get(m) is not None]
                                    for g, c in curves.items()}, x0)
        if lines[m] is not None:
            diffs[m] = lines[m].at_x0(*encoders)
    return Matched(latent, x0, (lo, hi), lines, diffs, sum(len(c) for c in curves.values()))


def matched_ends(found: list[Matched]) -> tuple[list, list]:
    """(the held-out bound's, the upper end's) matched-rate differences: [("latent 10", Diff), ...]."""
    here = [m for m in found if BOUND in m.diffs]
    return ([(f"latent {m.latent}", m.diffs[BOUND]) for m in here],
            [(f"latent {m.latent}", m.diffs[UPPER]) for m in here if UPPER in m.diffs])


def depth_claim(rows: list[runs.Row], epochs: int, matched_latents=(10, 50)) -> DepthClaim:
    claim = DepthClaim()
    grid = [r for r in rows if r.part(epochs) == "grid"]
    base = runs.at_beta1(epochs)
    for z in sorted({r.key.latent for r in grid}):
        for m in (BOUND, RATE, runs.POPULATION_INFO, "active_units", "test_elbo"):
            c = between(grid, "claim 1", f"latent size {z}", m, {**base, "depth": DEPTHS[0], "latent": z},
                        {**base, "depth": DEPTHS[1], "latent": z})
            if c.diff.n[0] and c.diff.n[1]:
                claim.at_beta1.append(c)
    for z in matched_latents:
        found = matched(rows, z, epochs)
        (claim.matched if isinstance(found, Matched) else claim.missing).append(found)
    closer = [m for m in claim.matched if BOUND in m.diffs and m.diffs[BOUND].verdict == Direction.LOWER]
    farther = [m for m in claim.matched if BOUND in m.diffs and m.diffs[BOUND].verdict == Direction.HIGHER]
    if not claim.matched:
        claim.verdict = "cannot be decided"
    elif len(closer) == len(claim.matched):
        claim.verdict = "holds at matched rate"
    elif not closer:
        claim.verdict = "does not hold at matched rate" + (" (the deeper encoder is farther)" if farther else "")
    else:
        claim.verdict = "holds at some latent sizes only"
    if closer or farther:  # which quantity it settles: q itself, or the held-out bound only
        claim.verdict += settles(*matched_ends(claim.matched))[0]
    _warmup(claim, rows, epochs, matched_latents)
    return claim


def _warmup(claim: DepthClaim, rows: list[runs.Row], epochs: int, latents) -> None:
    """Does the KL warm-up restore depth 3's units (against itself without, and against depth 1 with)?"""
    base = runs.at_beta1(epochs, width=runs.GRID_WIDTH)
    for z in latents:
        warm = {**base, "latent": z, "warmup": max((r.key.warmup for r in runs.where(rows, latent=z)), default=0)}
        if not warm["warmup"]:
            continue
        restored = between(rows, "warm-up", f"latent size {z}", "active_units",
                           {**base, "latent": z, "depth": DEPTHS[1]}, {**warm, "depth": DEPTHS[1]})
        gap = between(rows, "warm-up", f"latent size {z}", "active_units", {**warm, "depth": DEPTHS[0]},
                      {**warm, "depth": DEPTHS[1]})
        shallow = between(rows, "warm-up", f"latent size {z}", "active_units",
                          {**base, "latent": z, "depth": DEPTHS[0]}, {**warm, "depth": DEPTHS[0]})
        claim.warmup += [restored, gap, shallow]
        if not (restored.diff.decided and gap.diff.decided):
            text = "cannot be decided (fewer than two seeds a side)"
        elif restored.verdict == Direction.HIGHER and gap.verdict != Direction.LOWER:
            text = "an optimisation accident: the warm-up restores depth 3's units to depth 1's count"
        elif restored.verdict == Direction.HIGHER:
            text = "partly an optimisation accident: the warm-up restores some of depth 3's units, not all"
        else:
            text = "not an optimisation accident: the warm-up does not restore depth 3's units"
        claim.warmup_verdict[z] = (f"{text} (active units with warm-up minus without at depth {DEPTHS[1]}: "
                                   f"{restored.diff.fmt()}; depth {DEPTHS[1]} minus depth {DEPTHS[0]}, both with "
                                   f"warm-up: {gap.diff.fmt()})")


# The asker's own experiment: a third hidden layer of 500 added to a 2 x 500 encoder at latent size 2.
ASKER = {"latent": 2, "width": runs.GRID_WIDTH}
ASKER_DEPTHS = (2, 3)  # the asker's encoder, and with the third layer


def asker(rows: list[runs.Row], epochs: int) -> dict[str, Compared]:
    """measure -> depth 3 minus depth 2 at 2 x 500 and latent size 2, beta = 1."""
    base = runs.at_beta1(epochs, **ASKER)
    return {m: between(rows, "asker", "2 x 500 -> 3 x 500, latent size 2", m, {**base, "depth": ASKER_DEPTHS[0]},
                   {**base, "depth": ASKER_DEPTHS[1]})
            for m in (BOUND, UPPER, "test_elbo", RATE)}


def warm_matched(rows: list[runs.Row], epochs: int, latent: int = 10) -> dict[str, Compared] | None:
    """measure -> depth 3 minus 1 on the warm-up arm: the cleanest depth test the design has where
    its rates and active units come out matched, which the rate and units differences show. None
    before the arm has runs: the runs without warm-up are the grid's, whose rates differ."""
    warm = max((r.key.warmup for r in runs.where(rows, latent=latent)), default=0)
    if not warm:
        return None
    base = runs.at_beta1(epochs, width=runs.GRID_WIDTH, latent=latent, warmup=warm)
    return {m: between(rows, "claim 1", f"latent size {latent}, warm-up", m, {**base, "depth": DEPTHS[0]},
                       {**base, "depth": DEPTHS[1]}) for m in (BOUND, RATE, "active_units")}


def comparisons(claim: DepthClaim) -> list[Compared]:
    """The comparisons the beta = 1 verdicts rest on (the slice repeats these)."""
    return [c for c in claim.at_beta1 if c.measure in (BOUND, runs.POPULATION_INFO, "active_units", "test_elbo")]
