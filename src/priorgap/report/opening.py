"""The top of reports/study.md: the answer in plain words, the terms it uses, and the answer
table (one row per claim, analysis/answer.py), each bound verdict told how it reads under every
density (analysis/bound.py)."""
from __future__ import annotations

from ..analysis import answer, bound, depth, sampling_answer, verdicts
from ..analysis.verdicts import FOR_BOUND, FOR_Q
from ..io.numbers import fmt
from ..study import runs
from ..analysis.stats import Direction, spread

# How a verdict word is read (analysis/answer.py applies it); under the answer table
VERDICT_RULES = (
    "Verdicts read each difference against the direction the claim predicts: \"yes\" when every interval excludes "
    "zero that way, \"no\" when every decided one excludes it the other way, \"partly\" when some do; \"not "
    "resolved with k seeds\" when none does (which is not \"no difference\"); \"not measurable here\" where the "
    "figure sits at its floor. A row on KL(q || N(0,I)) says what it settles: q itself when the upper end moves "
    "with the held-out bound, else the bound only."
)

TERMS = [
    "**Terms.** *Held-out bound*: the test codes' mean of log g(z) - log N(z; 0, I), g a density fitted to the "
    "training codes: a lower bound on KL(q || N(0,I)) (nats). *Upper end*: the training mixture's KL, an upper "
    "estimate. *Converging bound*: the bound with densities trained until the validation codes stop gaining. "
    "*Rate*: the ELBO's KL term. *Matched rate*: encoders compared where their beta sweeps reach the same rate. "
    "*Active units*: units whose posterior mean varies (variance above 0.01). *Floor*: what real digits reach. "
    "*Ex post*: fitted to q after training. *Slice*: runs at twice the epochs. FD: the Frechet distance in this "
    "study's own MNIST classifier's features (not the Inception network's FID).",
    "",
]


def in_short(found: list[answer.Answer], used, epochs: int, decided: str = "") -> list[str]:
    """The answer in plain words, from the verdicts and their lead figures."""
    by = {a.short: a for a in found}

    def said(short: str, word_only: bool = False) -> str:
        """A row's verdict and lead figure; `word_only`: without what it settles (the sentence says it)."""
        a = by.get(short)
        if a is None:
            return "not measured yet"
        return f"**{a.verdict.word if word_only else a.verdict}**" + (
            f"; {lead(a)[0]}: {lead(a)[1].fmt()}" if a.diffs else ""
        )

    def closer(short: str, who: str, before: str = "") -> str:
        """What an encoder's row says about q in plain words: q itself, or only the bound. `before`:
        the row the sentence told just before; where it settled the same, say "likewise"."""
        a = by.get(short)
        if a is None or not a.upper or a.verdict.qualifier not in (FOR_Q, FOR_BOUND):
            return f"whether {who} brings q closer: {said(short)}"
        w, up = a.upper[0]
        if before in by and by[before].verdict == a.verdict:
            return f"likewise {who} ({said(short, True)}; upper end, {w}: {up.fmt()})"
        if a.verdict.qualifier == FOR_Q:
            return f"{who} brings q itself closer ({said(short)})"
        return (
            f"{who} lowers the held-out bound ({said(short, True)}) but not the upper end "
            f"({w}: {up.fmt()}), so whether q itself gets closer is not settled"
        )

    asker = said(answer.ASKER)
    a, level = by.get(answer.ASKER), grid_mean(used, epochs, depth.BOUND, depth=2, latent=2)
    gain = answer.ruled_out([d for _, d in a.diffs + a.upper]) if a else 0.0
    if a and a.diffs and a.verdict.word == answer.Verdict.NOT_RESOLVED and level and gain > 0:
        asker += f"; a gain above {gain:.2g} nats, {gain / level:.0%} of the asker's own bound, is ruled out" + (
            " for q itself (by both ends of the bracket, which meet there)" if a.ends_meet else ""
        )
    scale = by.get(answer.SCALE)
    shares = ", ".join(f"{d.diff:.0%} at {w}" for w, d in scale.diffs) if scale else "not measured yet"
    holes = said("The prior's bad draws are those in q's holes")
    cover = by.get("Sampling N(0,I) hurts coverage")
    coverage = (
        f"; it gains coverage ({said(cover.short)}): a precision/recall trade-off"
        if cover and cover.verdict.qualifier == sampling_answer.COVERS_MORE
        else f"; coverage: {said('Sampling N(0,I) hurts coverage')}"
    )
    levels = ", ".join(
        f"{fmt(v, 2)} at latent {z}"
        for z in (2, 10, 50)
        if (v := grid_mean(used, epochs, depth.BOUND, latent=z)) is not None
    )
    return [
        "## In short",
        "",
        "Does q, the mixture of the encoder's posteriors over the training set, match N(0,I)? No. Its held-out "
        f"bound on KL(q || N(0,I)) is {levels} nats (grid means; a lower bound, whose gap to the truth grows with "
        'the active units: Appendix B5). Is it the thread\'s "N(0, 2I)", a mismatch of scale? '
        f"{str(scale.verdict).capitalize() if scale else 'Not measured yet'}: q's moment-matched Gaussian (its scale "
        f"and correlation) explains {shares} of the bound; the rest is shape.",
        "",
        "The thread's answer (1), an encoder wide and deep enough: at matched rate "
        f"{closer(answer.DEPTH, 'a deeper encoder')}; {closer(answer.WIDTH, 'a wider encoder', answer.DEPTH)}. "
        + (decided + " " if decided else "")
        + "The asker's own third layer at latent "
        f"size 2: {asker}. The thread's answer (2), more latent dimensions: each dimension gets closer to N(0,1) "
        f"({said('More latent dimensions, per dimension')}), q as a whole does not "
        f"({said('More latent dimensions, jointly')}).",
        "",
        "Sampling: drawing z from N(0,I) rather than from a density fitted to q costs fidelity "
        f"({said('Sampling N(0,I) hurts fidelity')}), and the draws that fall in q's holes are part of why "
        f"({holes}){coverage}. A prior learned with the model (VampPrior) samples better than N(0,I) but not "
        "better than a "
        f"density fitted to q after training ({said('A learned prior beats ex post: samples')}).",
        "",
        *TERMS,
    ]


def _notes(a: answer.Answer) -> str:
    return " ".join(x for x in (a.caveat, a.allows) if x)


def answer_table(found: list[answer.Answer]) -> list[str]:
    lines = [
        "## The answer, claim by claim",
        "",
        "| the question | verdict | what it rests on: difference [95% interval] | caveat |",
        "|---|---|---|---|",
    ]
    for a in found:
        rests = f"{a.rests_on}: {a.number}" if a.diffs else a.rests_on
        lines.append(f"| {a.claim} ([more](#{a.section})) | **{a.verdict}** | {rests} | {_notes(a)} |")
    return lines + ["", holm_line(found), "", VERDICT_RULES, ""]


def holm_line(found: list[answer.Answer]) -> str:
    """Which verdicts survive Holm's correction across the table (answer.holm)."""
    tests, read, fallen = verdicts.holm(found)
    if not read:
        return ""
    lost = "; ".join(f'{a.short}, which would read "{holm}"' for a, holm, same in read if not same)
    return (
        f"**Many intervals.** Under Holm's correction (Holm 1979) across the table's {tests} tests, family-wise "
        "error 5%, every verdict an interval decides survives"
        + (f" except {lost}" if lost else "")
        + (f"; the intervals that no longer exclude zero: {', '.join(fallen)}." if fallen else ".")
    )


UNDER = {
    answer.DEPTH: "depth 3 - 1, matched rate",
    answer.WIDTH: "width 1000 - 125, matched rate",
    "More latent dimensions, jointly": "latent size, ",
}  # answer row -> the comparisons B5 repeats


def under_every_density(found: list[answer.Answer], sens: list[bound.Sensitivity]) -> None:
    """Each bound verdict's caveat says how its comparisons read under every density family of B5
    (each once, at the capacity its validation codes kept)."""
    for a in found:
        here = [s for s in sens if a.short in UNDER and s.comparison.startswith(UNDER[a.short])]
        reads = [read for s in here for read in s.reads()]
        if reads:
            a.caveat = f"{a.caveat} Other density families, each once (Appendix B5): {bound.tally(reads)}.".strip()


def grid_mean(rows, epochs: int, measure: str, **setting) -> float | None:
    values = runs.values(runs.where([r for r in rows if r.part(epochs) == "grid"], **setting), measure)
    return spread(values)[0] if values else None


def lead(answer) -> tuple:
    """The figure the README quotes for a row: the first one that decides its verdict, so that a
    "no" is never shown beside an interval that includes zero."""
    return next(
        ((w, d) for w, d in answer.diffs if d.decided and d.verdict != Direction.NO_CLEAR_CHANGE), answer.diffs[0]
    )
