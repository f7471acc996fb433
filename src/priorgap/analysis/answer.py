"""The answer table: one row per claim of the thread, each with its verdict, the differences and
95% intervals it rests on, and one caveat. report.py opens study.md with it, and README's
findings are its first two columns.

A row's verdict reads its differences against the direction the claim predicts:
- "yes" when every interval excludes zero that way, "no" when every decided one excludes it the
  other way (and none the claimed way), "partly" when some do and some do not;
- "not resolved with k seeds" when no interval excludes zero: the seeds cannot tell the settings
  apart, which is not the same as "no difference";
- "not measurable here" where the figure sits at its floor (a recall of 0.003 beside real
  digits' 0.94 compares nothing).

A row about KL(q || N(0,I)) also says which quantity it settles (verdicts.settles): q itself when
the bracket's upper end (the training mixture's KL) moves the same way as the held-out bound, the
bound only when the upper end's interval spans zero. verdicts.holm() reads the table's tests again under
Holm's correction, and says which verdicts survive it.
"""
from __future__ import annotations

import math

from . import depth, stats
from ..study import runs
from .stats import Direction
from .compare import between
from .verdicts import FOR_Q, Answer, Judged, Verdict, judge, settles
from .latent_size import KS

SCALE = "The mismatch is scale (\"q is N(0, 2I)\")"  # the short names other pages quote a row by
ASKER = "The asker's third layer (2 x 500 -> 3 x 500, latent 2)"
DEPTH, WIDTH = "Depth (3 against 1, matched rate)", "Width (1000 against 125, matched rate)"


def _mean(values: list[float]) -> stats.Diff:
    """A mean over runs with its 95% interval (a paired difference against zero)."""
    return stats.paired([v for v in values if v is not None and not math.isnan(v)])


SLACK_UNMEASURED = "its slack at these encoders: not measured, B5"


def on_q(verdict: Judged, lower: list, upper: list, slack: str = SLACK_UNMEASURED) -> tuple[Judged, str]:
    """The verdict with what it settles (verdicts.settles), and the caveat's sentence on the upper
    end; `slack`: what is known of the bound's slack at these encoders, where only the bound settles."""
    if not upper:
        return verdict, ""
    qualifier, bound_only = settles(lower, upper)
    ups = dict(upper)
    text = "Upper end: " + ", ".join(f"{w} {d.fmt()}" for w, d in upper)
    if qualifier == FOR_Q:
        text += ": it moves the same way, so q itself is settled."
    elif bound_only:
        how = ("spans zero" if all(ups[w].verdict == Direction.NO_CLEAR_CHANGE for w in bound_only if w in ups)
               else "does not move the same way")
        text += (f": it {how}" + (f" at {', '.join(bound_only)}" if len(bound_only) < len(upper) else "")
                 + f", so only the lower bound separates them ({slack}).")
    elif all(d.verdict == Direction.NO_CLEAR_CHANGE for _, d in upper):
        text += ": neither end excludes zero, so neither q nor its bound is settled."
    else:
        text += "."
    decided = verdict.word in (Verdict.YES, Verdict.NO, Verdict.PARTLY)
    return (Judged(verdict.word, verdict.seeds, qualifier) if decided and qualifier else verdict), text


def depth_row(claim: depth.DepthClaim, warm, decided: bool = False) -> Answer:
    """`decided`: the decision's row follows (equal rate and units, its own instrument and known answers)."""
    diffs, upper = depth.matched_ends(claim.matched)
    slack = "its slack: at the decision's encoders, next row" if decided else SLACK_UNMEASURED
    verdict, on_upper = on_q(judge([d for _, d in diffs], Direction.LOWER, "runs"), diffs, upper, slack)
    # the decision's row measures the warm-up arm again, with the converging bound and more seeds
    caveat = (
        ""
        if decided
        else f"On the warm-up arm at latent 10: {warm[depth.BOUND].diff.fmt()}, with the rate differing by "
        f"{warm[depth.RATE].diff.fmt()} nats and the active units by {warm['active_units'].diff.fmt()}."
        if warm is not None and warm[depth.BOUND].diff.decided
        else "At beta = 1 the depths' rates differ, so only the matched-rate comparison is judged."
    )
    return Answer(
        DEPTH,
        "Does a deeper encoder (depth 3 against 1) bring q closer to N(0,I)?",
        verdict,
        "held-out bound on KL(q || N(0,I)) at matched rate, depth 3 minus 1 (nats)",
        diffs,
        f"{on_upper} {caveat}".strip(),
        section="claim-1-depth",
        upper=upper,
    )


def _sentence(parts: list[str]) -> str:
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def width_row(claim) -> Answer:
    diffs, upper = depth.matched_ends(claim.matched)
    verdict, on_upper = on_q(judge([d for _, d in diffs], Direction.LOWER, "runs"), diffs, upper)
    beta1 = [c for c in claim.at_beta1 if c.measure == depth.BOUND]
    bits = [
        f"It rests on one cell: latent {m.latent}, {m.runs} runs across both widths and their betas, "
        f"{m.diffs[depth.BOUND].df:.0f} degrees of freedom"
        for m in claim.matched
        if depth.BOUND in m.diffs
    ]
    bits += (
        ["at beta = 1 (the rates differ): " + ", ".join(f"{c.within} {c.diff.fmt()}" for c in beta1)] if beta1 else []
    )
    return Answer(
        WIDTH,
        "Does a wider encoder (width 1000 against 125, depth 2) bring q closer?",
        verdict,
        "held-out bound at matched rate, width 1000 minus 125 (nats)",
        diffs,
        f"{on_upper} {_sentence(bits)}".strip(),
        section="claim-2-width",
        upper=upper,
    )


def ruled_out(ends: list[stats.Diff]) -> float:
    """The largest gain (a fall) that every one of these intervals rules out; 0 where one has none."""
    return max(-x.low for x in ends) if ends and all(x.decided for x in ends) else 0.0


def meet(brackets, latent: int, depths) -> float | None:
    """The widest bracket (|training mixture's KL - held-out bound|, grid means) of these depths at
    `latent`; None where the grid lacks one."""
    widths = [abs(b.upper - b.lower) for b in brackets if b.latent == latent and b.depth in depths]
    return max(widths) if len(widths) == len(depths) else None


def asker_row(found: dict, level: float | None = None, bracket: float | None = None) -> Answer:
    """`level`: the bound itself at the asker's 2 x 500 (its grid mean), the scale of the difference;
    `bracket`: the widest bracket of the two encoders (meet()). Where the bracket is narrower than
    the difference's interval the two ends meet, and what they rule out holds for q itself."""
    bound, elbo = found[depth.BOUND], found["test_elbo"]
    d, up = bound.diff, found[depth.UPPER].diff if depth.UPPER in found else None
    verdict, on_upper = on_q(judge([d], Direction.LOWER), [("latent 2", d)], [("latent 2", up)] if up else [])
    ends = [x for x in (d, up) if x is not None]
    meets = bracket is not None and all(x.decided and bracket < x.half for x in ends)
    gain = ruled_out(ends)
    scale = (
        f" The asker's own bound is {level:.2f} nats: a gain above {gain:.2g} nats ({gain / level:.0%} of it) is "
        + (
            f"ruled out by both ends, which meet here (within {bracket:.2g} nats): for q itself, "
            if meets
            else "ruled out, so "
        )
        + "a third layer buys no closeness worth having here."
        if level and gain > 0 and verdict.word == Verdict.NOT_RESOLVED
        else ""
    )
    return Answer(
        ASKER,
        "The asker's own change: does a third hidden layer of 500 (2 x 500 -> 3 x 500, latent 2) bring q closer?",
        verdict,
        "held-out bound, depth 3 minus 2 (nats)",
        [("latent 2", d)],
        f"The test ELBO changes by {elbo.diff.fmt()} nats; the rate by "
        f"{found[depth.RATE].diff.fmt()}. {on_upper}{scale}".strip(),
        section="claim-3-the-askers-third-layer",
        bounded=bool(scale),
        upper=[("latent 2", up)] if up else [],
        ends_meet=meets,
    )


def latent_ends(rows, measure: str, epochs: int, what: str = "latent") -> list[tuple[str, stats.Diff]]:
    """Latent size 50 minus 2 at each depth (beta = 1, width 500)."""
    base = runs.at_beta1(epochs, width=runs.GRID_WIDTH)
    out = []
    for d in sorted({r.key.depth for r in rows if r.part(epochs) == "grid"}):
        lats = sorted({r.key.latent for r in runs.where(rows, depth=d, **base)})
        if len(lats) > 1:
            c = between(
                rows,
                what,
                f"depth {d}",
                measure,
                {**base, "depth": d, "latent": lats[0]},
                {**base, "depth": d, "latent": lats[-1]},
            )
            out.append((f"depth {d}, {lats[0]}->{lats[-1]}", c.diff))
    return out


def _levels(rows, epochs: int, figure) -> str:
    """A figure's grid mean at the smallest and the largest latent size, per depth: "depth 1 0.32 -> 0.16"."""
    base = runs.at_beta1(epochs, width=runs.GRID_WIDTH)
    out = []
    for d in sorted({r.key.depth for r in rows if r.part(epochs) == "grid"}):
        lats = sorted({r.key.latent for r in runs.where(rows, depth=d, **base)})
        ends = (
            [
                [v for v in (figure(r.metrics) for r in runs.where(rows, depth=d, latent=z, **base)) if v is not None]
                for z in (lats[0], lats[-1])
            ]
            if len(lats) > 1
            else []
        )
        if ends and all(ends):
            out.append(f"depth {d} {stats.spread(ends[0])[0]:.3g} -> {stats.spread(ends[1])[0]:.3g}")
    return ", ".join(out)


def latent_rows(rows, claim2, epochs: int) -> list[Answer]:
    per_dim = latent_ends(rows, KS, epochs, "latent")
    joint = latent_ends(rows, depth.BOUND, epochs, "latent")
    joint_up = latent_ends(rows, depth.UPPER, epochs, "latent")
    joint_verdict, joint_upper = on_q(judge([d for _, d in joint], Direction.LOWER), joint, joint_up)
    per_unit = _levels(rows, epochs, lambda m: m[depth.BOUND] / m["active_units"] if m.get("active_units") else None)
    fd_real = _levels(rows, epochs, lambda m: m.get("fd.prior"))
    return [
        Answer(
            "More latent dimensions, per dimension",
            "More latent dimensions: is each dimension of q closer to N(0,1)?",
            judge([d for _, d in per_dim], Direction.LOWER),
            "mean KS of the active dimensions, largest latent size minus smallest",
            per_dim,
            f"As a trend over every size: {claim2.verdict}.",
            section="claim-4-latent-size",
        ),
        Answer(
            "More latent dimensions, jointly",
            "More latent dimensions: is q as a whole closer to N(0,I)?",
            joint_verdict,
            "held-out bound, largest latent size minus smallest (nats)",
            joint,
            (joint_upper + " " if joint_upper else "")
            + (
                "In total nats q moves away; per active unit the bound falls (" + per_unit + "), and the prior's "
                "samples get closer to real digits (FD " + fd_real + "): the thread's claim 2 holds per unit and for "
                "sampling, not for q as a whole."
                if per_unit and fd_real
                else ""
            ),
            section="claim-4-latent-size",
            upper=joint_up,
        ),
    ]


def scale_row(rows, epochs: int) -> Answer:
    grid = [r for r in rows if r.part(epochs) == "grid"]
    diffs, eig = [], []
    for z in sorted({r.key.latent for r in grid}):
        here = runs.where(grid, latent=z)
        diffs.append((f"latent {z}", _mean(runs.values(here, "gaussian_share"))))
        eig.append(
            f"{z}: {stats.spread(runs.values(here, 'cov_eig_max'))[0]:.2f}" if runs.values(here, "cov_eig_max") else ""
        )
    # "yes, scale" would put the moment-matched Gaussian's share above one half
    shifted = [stats.Diff(d.diff - 0.5, d.se, d.df, d.n) for _, d in diffs]
    verdict = judge(shifted, Direction.HIGHER, "runs")
    return Answer(
        SCALE,
        'Is the mismatch one of scale ("q is N(0, 2I)")?',
        verdict,
        "share of the held-out bound that q's moment-matched Gaussian (scale and correlation) explains",
        diffs,
        "Largest eigenvalue of q's covariance (N(0, 2I) would give 2): " + ", ".join(e for e in eig if e) + ".",
        section="claim-5-scale-or-shape",
        toward=Direction.HIGHER,
        null=0.5,
    )


