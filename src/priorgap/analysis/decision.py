"""Claim 1 decided for q itself: depth 1 against 3 at equal rate and equal active units, every run
measured by the converging instrument (the study's decision part; runs.CONVERGING).

Two lines of evidence, each per latent size, as depth 3 minus depth 1 with Welch intervals:
- the bracket: the held-out bound (lower end) and the training mixture's KL (upper end). The
  difference settles q itself only where both ends move the same way (verdicts.settles);
- the operational consequence: if q is closer to N(0,I), sampling N(0,I) loses less against the
  best fitted density, so the prior's precision gap and FD gap shrink with depth. This does not
  rest on the bound at all.
The rate and the active units are shown beside them: a difference at unequal rate or units
compares encoders that keep different information. Where the units differ (latent size 50, where
the warm-up does not equalise them), both ends are compared per active unit: an inactive unit's
posterior is the prior, so it adds nothing to KL(q || N(0,I)), and an encoder with more units
would otherwise look further from N(0,I) for the units alone. The tempered prior, N(0, tau^2 I), sits beside N(0, I) on
precision and recall.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..study import runs
from .known_families import SMEARS
from .smeared import FAMILIES
from ..summary.headline import FITTED, best_fitted
from . import stats

DEPTHS = (1, 3)
BOUND, UPPER, RATE, UNITS = "kl_q_prior_lower_bound", "kl_q_prior", "test_kl", "active_units"
PER_UNIT, UPPER_PER_UNIT, RATE_PER_UNIT = "bound_per_active_unit", "upper_per_active_unit", "rate_per_active_unit"
PRECISION_GAP, FD_GAP = "precision_gap", "fd_gap"  # the prior minus the run's best fitted density
PER_UNIT_FIGURES = (PER_UNIT, UPPER_PER_UNIT, RATE_PER_UNIT)  # shown where the units differ
SHOWN = (BOUND, UPPER, RATE, UNITS, PER_UNIT, UPPER_PER_UNIT, RATE_PER_UNIT, PRECISION_GAP, FD_GAP,
         "precision.prior", "recall.prior", "precision.tempered", "recall.tempered", "fd.tempered")


def figures(row: runs.Row) -> dict[str, float]:
    """The figures the decision reads from one run (None where the run lacks one)."""
    m = row.metrics
    best = best_fitted(m) if all(m.get(f"val_gain.{s}") is not None for s in FITTED) else None
    out = {k: m.get(k) for k in SHOWN if k in m}
    for end, per_unit in ((BOUND, PER_UNIT), (UPPER, UPPER_PER_UNIT), (RATE, RATE_PER_UNIT)):
        if m.get(end) is not None and m.get(UNITS):
            out[per_unit] = m[end] / m[UNITS]
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


def equal_units(arm: Arm) -> bool:
    """Every run of the arm kept the same number of active units (the warm-up's aim)."""
    d = arm.diffs.get(UNITS)
    return d is not None and d.diff == 0 and d.se == 0


def compared(arm: Arm) -> tuple[str, str]:
    """The bracket's two ends as the arm compares them: as measured at equal units, else per active unit."""
    return (BOUND, UPPER) if equal_units(arm) else (PER_UNIT, UPPER_PER_UNIT)


def where(arm: Arm) -> str:
    return f"latent {arm.latent}" + ("" if equal_units(arm) else ", per active unit")


def settles(arm: Arm) -> str:
    """What the arm's bracket settles: q itself, the bound only, or nothing yet."""
    from .verdicts import FOR_BOUND, FOR_Q, settles as rule

    low, high = compared(arm)
    if low not in arm.diffs:
        return "nothing yet"
    said, _ = rule([(where(arm), arm.diffs[low])], [(where(arm), arm.diffs[high])] if high in arm.diffs else [])
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


QUESTION = "The decision: at equal rate and active units, does depth 3 bring q closer than depth 1?"
SHORT = "Depth (3 against 1, equal rate and units: the decision)"


def answer_row(found: list[Arm], families: list | None = None):
    """The decision's row of the answer table (None before an arm has both depths): its verdict
    rests on its own runs alone. Where only the bound settles, the known answers at its encoders
    (known_families.under_families) say whether a slack that differs by depth could make the
    bound's difference; the prior's sampling gaps are the evidence that does not rest on the bound."""
    from .answer import on_q
    from .verdicts import Answer, judge

    arms_ = [a for a in found if compared(a)[0] in a.diffs]
    if not arms_:
        return None
    diffs = [(where(a), a.diffs[compared(a)[0]]) for a in arms_]
    upper = [(where(a), a.diffs[compared(a)[1]]) for a in arms_ if compared(a)[1] in a.diffs]
    slack = _slack(families or [])
    verdict, on_upper = on_q(judge([d for _, d in diffs], stats.Direction.LOWER, "runs"), diffs, upper, slack)
    bits = []
    for a in arms_:
        each = [f"{s[0]}-{s[-1]}" if len(s) > 2 and s == list(range(s[0], s[-1] + 1)) else ",".join(map(str, s))
                for s in a.seeds.values()]
        seeds = (
            f"{each[0]} at both depths"
            if len(set(each)) == 1
            else f"{' / '.join(each)} at depth {' / '.join(map(str, a.seeds))}"
        )
        rate, units = a.diffs.get(RATE), a.diffs.get(UNITS)
        gaps = ", ".join(
            f"{what} {a.diffs[n].fmt()}" for n, what in ((FD_GAP, "FD"), (PRECISION_GAP, "precision")) if n in a.diffs
        )
        bits.append(
            f"{where(a)}: seeds {seeds} (Welch df {a.diffs[compared(a)[0]].df:.1f})"
            + (f"; rate {rate.fmt()} nats, active units {units.fmt()}" if rate and units else "")
            + (f"; N(0,I)'s gaps{'' if bits else ' to the best fitted density'}: {gaps}" if gaps else "")
        )
    per_unit = "; per active unit where the units differ" if not all(map(equal_units, arms_)) else ""
    return Answer(
        SHORT,
        QUESTION,
        verdict,
        f"held-out bound on KL(q || N(0,I)), depth 3 minus 1 (nats{per_unit})",
        diffs,
        f"{on_upper} {'. '.join(b[:1].upper() + b[1:] for b in bits)}.".strip(),
        section="b0-the-decision-depth-at-equal-rate-measured-by-the-converging-instrument",
        upper=upper,
    )


def _slack(pairs: list) -> str:
    """What the known answers at the decision's encoders say of the slack (known_families.UnderFamily)."""
    if not pairs:
        return "its slack at these encoders: not measured yet, B0"
    said = "; ".join(
        f"{p.family} smear {p.smear}: recovery {p.rows[1]['recovery']:.0%}/{p.rows[3]['recovery']:.0%}, "
        f"slack difference {p.slack.fmt()}, sign {'kept' if p.sign_survives else 'flipped'}"
        for p in pairs
    )
    return f"known answers at these encoders, B0: {said}"


def in_plain_words(row, found: list[Arm], families: list | None = None) -> str:
    """The decision for the plain answer: what its bracket settles, and the two lines of evidence
    beside the bound (the known answers' slack, the prior's FD gap). "" before it has a row."""
    if row is None:
        return ""
    arm, *others = [a for a in found if compared(a)[0] in a.diffs]  # in the order of row.diffs
    place, bound = row.diffs[0]
    up = dict(row.upper).get(place)
    text = (
        f"At equal rate and units, with the converging bound (the decision, {place}, {_seeds(arm)} a side), "
        f"depth 3 {_moves(bound)} the bound ({bound.fmt()})"
    )
    if up is not None and up.verdict == stats.Direction.NO_CLEAR_CHANGE:
        text += f" but not the upper end ({up.fmt()}): the bound is settled, not q itself"
    # the slack could make the bound's difference only if its interval reached that far
    small = [
        p for p in families or [] if p.sign_survives and max(abs(p.slack.low), abs(p.slack.high)) < abs(bound.diff)
    ]
    evidence = []
    if small:
        kinds = list(dict.fromkeys(f"{p.family}-smeared" for p in small))
        copies = f"a {kinds[0]} copy" if len(small) == 1 else f"{' and '.join(kinds)} copies"
        planned = len(FAMILIES) * len(SMEARS)
        evidence.append(
            f"where q is known ({copies} of these codes; "
            + (f"{len(families)} of {planned} such populations so far" if len(families) < planned else "both families")
            + ") the slack differs by only "
            + " and ".join(p.slack.fmt() for p in small) + " between the depths"
        )
    if FD_GAP in arm.diffs and arm.diffs[FD_GAP].verdict == stats.Direction.LOWER:
        evidence.append(f"N(0,I)'s FD gap to the best fitted density shrinks at depth 3 ({arm.diffs[FD_GAP].fmt()})")
    if evidence:
        text += ". Yet " + " and ".join(evidence) + ": both point to q itself getting closer"
    for other, (_, d) in zip(others, row.diffs[1:]):
        units, rate = other.levels[UNITS], other.levels.get(RATE_PER_UNIT)
        each = {k: "" if rate is None else f" ({rate[k]:.2f} nats each)" for k in DEPTHS}
        text += (
            f". At latent {other.latent} the warm-up leaves depth 1 {units[1]:.3g} active units{each[1]} and depth 3 "
            f"{units[3]:.3g}{each[3]}; per active unit depth 3 {_moves(d)} the bound ({d.fmt()}, {_seeds(other)} "
            "a side)"
        )
    return text + "."


def _seeds(arm: Arm) -> str:
    counts = sorted({len(s) for s in arm.seeds.values()})
    return "-".join(map(str, counts)) + (" seed" if counts == [1] else " seeds")


def _moves(d: stats.Diff) -> str:
    return {stats.Direction.LOWER: "lowers", stats.Direction.HIGHER: "raises"}.get(d.verdict, "does not clearly move")
