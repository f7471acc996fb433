"""The words of a verdict and the row of the answer table that carries one (answer.py builds the
rows, one per claim of the thread)."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from . import stats
from .stats import Direction


class Verdict(StrEnum):
    YES = "yes"
    NO = "no"
    PARTLY = "partly"
    NOT_RESOLVED = "not resolved"
    NOT_MEASURABLE = "not measurable here"
    NOT_MEASURED = "not measured yet"
    NO_CHANGE_DETECTED = "no change detected"  # a test that can fail did not, on one seed per setting


# A verdict about KL(q || N(0,I)) says which quantity it settles (settles() decides): q itself, when
# the bracket's two ends (held-out bound below, training mixture's KL above) both move the same
# way; the certified bound only, when the upper end's interval spans zero.
FOR_Q = ", for q itself"
FOR_BOUND = " for the held-out bound; q itself not settled"


@dataclass(frozen=True)
class Judged:
    """A verdict, and for one the seeds did not resolve, how many there were ("5 seeds")."""

    word: Verdict
    seeds: str = ""
    qualifier: str = ""  # what it settles, or which way a "no" goes (FOR_Q, FOR_BOUND, ...)

    def __str__(self) -> str:
        return (f"{self.word} with {self.seeds}" if self.seeds else str(self.word)) + self.qualifier


@dataclass
class Answer:
    short: str  # the claim in a few words (README's findings, the figures)
    claim: str  # the thread's claim, as a question
    verdict: Judged
    rests_on: str  # what the differences are, and their unit
    diffs: list[tuple[str, stats.Diff]] = field(default_factory=list)  # (where, difference) each verdict reads
    caveat: str = ""
    section: str = ""  # the study.md section that shows it
    toward: str = "lower"  # the direction the claim predicts (stats.Direction)
    bounded: bool = False  # its caveat already says the largest effect the data allow
    upper: list[tuple[str, stats.Diff]] = field(default_factory=list)  # the bracket's upper end, the same comparisons
    null: float = 0.0  # the value its differences are tested against (p-values, Holm)
    ends_meet: bool = False  # the bracket's two ends meet: what its intervals rule out holds for q itself

    @property
    def allows(self) -> str:
        """For a row no interval settles: the largest change the claimed way its intervals allow (an
        equivalence bound: "not resolved" still rules out large effects)."""
        if self.verdict.word != Verdict.NOT_RESOLVED or not self.diffs or self.bounded:
            return ""
        ends = [(where, -d.low if self.toward == Direction.LOWER else d.high) for where, d in self.diffs if d.decided]
        if not ends:
            return ""
        largest = f"{ends[0][1]:.2g}" if len(ends) == 1 else ", ".join(f"{end:.2g} at {where}" for where, end in ends)
        same_way = len(self.diffs) > 1 and all((d.diff < 0) == (self.toward == Direction.LOWER) for _, d in self.diffs)
        return (f"No interval excludes zero, but they rule out a change the claimed way larger than {largest}"
                + (f"; all {len(self.diffs)} estimates point the claimed way" if same_way else "") + ".")

    @property
    def number(self) -> str:
        return "; ".join(f"{where} {d.fmt()}" for where, d in self.diffs) or "no runs yet"


def judge(diffs: list[stats.Diff], good: str, unit: str = "seeds", reads: list[Direction] | None = None) -> Judged:
    """`reads`: how each difference reads, where not by its own interval (Holm's correction)."""
    open_ = (stats.Direction.NO_CLEAR_CHANGE,)
    reads = reads or [d.verdict for d in diffs]
    each = ["open" if not d.decided or r in open_ else "yes" if r == good else "no" for d, r in zip(diffs, reads)]
    if not each:
        return Judged(Verdict.NOT_MEASURED)
    if all(e == "yes" for e in each):
        return Judged(Verdict.YES)
    if "yes" in each:
        return Judged(Verdict.PARTLY)
    if "no" in each:
        return Judged(Verdict.NO)
    # per comparison its smaller side; where comparisons differ, the range ("3-5 seeds")
    least = [min(d.n) for d in diffs]
    k = f"{min(least)}" if min(least) == max(least) else f"{min(least)}-{max(least)}"
    return Judged(Verdict.NOT_RESOLVED, f"{k} {unit if k != '1' else unit.removesuffix('s')}")


def settles(lower: list[tuple[str, stats.Diff]], upper: list[tuple[str, stats.Diff]],
            reads=lambda d: d.verdict) -> tuple[str, list[str]]:
    """Which quantity a verdict on the bound's differences settles: (qualifier, the places where only
    the bound is settled). q itself where the upper end's difference excludes zero the same way as
    the lower bound's; the bound only where the upper end's interval spans zero (or points the
    other way). "" where no lower-bound interval excludes zero: the verdict settles nothing.
    `reads`: how a difference reads (by its own interval; Holm's correction reads it otherwise)."""
    ups = dict(upper)
    decided = [(where, d) for where, d in lower if reads(d) in (Direction.LOWER, Direction.HIGHER)]
    if not decided or not ups:
        return "", []
    bound_only = [where for where, d in decided if where not in ups or reads(ups[where]) != reads(d)]
    if not bound_only:
        return FOR_Q, []
    if len(bound_only) == len(decided):
        return FOR_BOUND, bound_only
    settled = [where for where, _ in decided if where not in bound_only]
    return f" for the held-out bound; q itself settled at {', '.join(settled)} only", bound_only


def _reads(d: stats.Diff, null: float, rejected: bool | None = None) -> Direction:
    """How a difference reads against `null`: by its 95% interval, or, given `rejected`, by Holm's test."""
    if not d.decided:
        return Direction.UNDECIDED
    away = d.low > null or d.high < null if rejected is None else rejected
    return (Direction.HIGHER if d.diff > null else Direction.LOWER) if away else Direction.NO_CLEAR_CHANGE


def holm(found: list[Answer]) -> tuple[int, list[tuple[Answer, Judged, bool]], list[str]]:
    """Holm's correction (stats.holm) across the answer table's tests: every difference a row reads
    (against its null) and its upper end's. Returns the tests' count; for each row whose verdict an
    interval decides, the verdict its tests give under Holm and whether the table's stands (its word,
    and for a row about q, what it settles); and the intervals that exclude the null only without it."""
    tests = [(a, where, d, a.null) for a in found for where, d in a.diffs] + [
        (a, f"{where}, upper end", d, 0.0) for a in found for where, d in a.upper
    ]
    tests = [(a, where, d, null, p) for a, where, d, null in tests if (p := stats.p_value(d, null)) is not None]
    rejected = stats.holm([t[-1] for t in tests])
    held = {id(d): r for (_, _, d, _, _), r in zip(tests, rejected)}
    fallen: dict[str, list[str]] = {}
    for (a, where, d, null, _), r in zip(tests, rejected):
        if not r and _reads(d, null) in (Direction.LOWER, Direction.HIGHER):
            fallen.setdefault(a.short, []).append(where)
    out = []
    for a in found:
        if a.verdict.word not in (Verdict.YES, Verdict.NO, Verdict.PARTLY) or not a.diffs:
            continue
        scope = {}
        for label, rejected_by in (("plain", None), ("holm", held)):
            read = lambda d, null: _reads(d, null, rejected_by.get(id(d)) if rejected_by else None)  # noqa: E731
            word = judge([d for _, d in a.diffs], a.toward, reads=[read(d, a.null) for _, d in a.diffs])
            scope[label] = (word, settles(a.diffs, a.upper, lambda d: read(d, 0.0))[0])
        word, qualifier = scope["holm"]
        holm_verdict = Judged(word.word, word.seeds, qualifier if word.word != Verdict.NOT_RESOLVED else "")
        # the table's word (a row may refine the plain reading: holes_row's "partly"), and what it settles
        same = word.word == a.verdict.word and qualifier == scope["plain"][1]
        out.append((a, holm_verdict, same))
    return len(tests), out, [f"{short} ({', '.join(where)})" for short, where in fallen.items()]
