"""Claim 1 decided for q itself: depth 1 against 3 at equal rate and equal active units, every run
measured by the converging instrument (the study's decision part; runs.CONVERGING).

Two lines of evidence, each per latent size, as depth 3 minus depth 1 with Welch intervals:
- the bracket: the held-out bound (lower end) and the training mixture's KL (upper end). The
  difference settles q itself only where both ends move the same way (verdicts.settles);
- the operational consequence: if q is closer to N(0,I), sampling N(0,I) loses less against the
  best fitted density, so the prior's precision gap and FD gap shrink with depth. This does not
  rest on the bound at all.
The rate and the active units are shown beside them: a difference at unequal rate or units
compares encoders that keep different information. Where the units differ (latent size 50), the
bound per active unit is given too. The tempered prior, N(0, tau^2 I), sits beside N(0, I) on
precision and recall.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..study import runs
from ..summary.headline import FITTED, best_fitted
from . import stats

DEPTHS = (1, 3)
BOUND, UPPER, RATE, UNITS = "kl_q_prior_lower_bound", "kl_q_prior", "test_kl", "active_units"
PER_UNIT = "bound_per_active_unit"
PRECISION_GAP, FD_GAP = "precision_gap", "fd_gap"  # the prior minus the run's best fitted density
SHOWN = (BOUND, UPPER, RATE, UNITS, PER_UNIT, PRECISION_GAP, FD_GAP,
         "precision.prior", "recall.prior", "precision.tempered", "recall.tempered", "fd.tempered")


def figures(row: runs.Row) -> dict[str, float]:
    """The figures the decision reads from one run (None where the run lacks one)."""
    m = row.metrics
    best = best_fitted(m) if all(m.get(f"val_gain.{s}") is not None for s in FITTED) else None
    out = {k: m.get(k) for k in SHOWN if k in m}
    if m.get(BOUND) is not None and m.get(UNITS):
        out[PER_UNIT] = m[BOUND] / m[UNITS]
    if best is not None:
        for measure, name in (("precision", PRECISION_GAP), ("fd", FD_GAP)):
            if m.get(f"{measure}.prior") is not None and m.get(f"{measure}.{best}") is not None:
                out[name] = m[f"{measure}.prior"] - m[f"{measure}.{best}"]
    return out


@dataclass
class Arm:
    latent: int
    seeds: dict[int, list[int]]  # depth -> the seeds measured
    levels: dict[str, dict[int, float]] = field(default_factory=dict)  # figure -> depth -> mean
    diffs: dict[str, stats.Diff] = field(default_factory=dict)  # figure -> depth 3 minus depth 1


def arms(rows: list[runs.Row], epochs: int) -> list[Arm]:
    """One arm per latent size of the decision part, with every figure's levels and difference."""
    decision = [r for r in rows if r.part(epochs) == "decision" and r.converged]
    found = []
    for latent in sorted({r.key.latent for r in decision}):
        by_depth = {d: [r for r in decision if r.key.latent == latent and r.key.depth == d] for d in DEPTHS}
        if not all(by_depth.values()):
            continue
        arm = Arm(latent, {d: sorted(r.key.seed for r in rs) for d, rs in by_depth.items()})
        values = {d: [figures(r) for r in rs] for d, rs in by_depth.items()}
        for name in SHOWN:
            per = {d: [v[name] for v in vs if v.get(name) is not None] for d, vs in values.items()}
            if not all(per.values()):
                continue
            arm.levels[name] = {d: stats.spread(per[d])[0] for d in DEPTHS}
            arm.diffs[name] = stats.welch(per[DEPTHS[0]], per[DEPTHS[1]])
        found.append(arm)
    return found


def settles(arm: Arm) -> str:
    """What the arm's bracket settles: q itself, the bound only, or nothing yet."""
    from .verdicts import FOR_BOUND, FOR_Q, settles as rule

    if BOUND not in arm.diffs:
        return "nothing yet"
    said, _ = rule([(f"latent {arm.latent}", arm.diffs[BOUND])], [(f"latent {arm.latent}", arm.diffs[UPPER])]
                   if UPPER in arm.diffs else [])
    return {FOR_Q: "q itself", FOR_BOUND: "the held-out bound only"}.get(said, "nothing yet")


def consequence(arm: Arm) -> str:
    """Whether sampling N(0,I) loses less at depth 3, by precision and by FD (each a Welch interval)."""
    out = []
    for name, what in ((PRECISION_GAP, "precision gap"), (FD_GAP, "FD gap")):
        d = arm.diffs.get(name)
        if d is None:
            continue
        # the precision gap is negative (the prior loses precision): a smaller loss is a higher gap
        smaller = stats.Direction.HIGHER if name == PRECISION_GAP else stats.Direction.LOWER
        moved = d.verdict in (stats.Direction.HIGHER, stats.Direction.LOWER)
        word = ("smaller" if d.verdict == smaller else "larger") + " at depth 3" if moved else str(d.verdict)
        out.append(f"{what}: {word}")
    return "; ".join(out)
