"""Appendix B5: what the held-out bound can pin, the bracket's two ends per setting, the known
answers, and each comparison under each density's bound."""
from __future__ import annotations

from ..analysis import bound
from ..io.numbers import fmt
from . import known_section


BOUND_METHOD = (
    "The held-out bound is a lower bound on KL(q_pop || N(0,I)) for any density fitted to the training codes, as "
    "tight as that density is good; the training mixture's KL (the rate minus the index's mutual information, "
    "which cannot exceed log N) is an upper estimate of it. Where the mutual information is near log N, no "
    "estimator from N samples can certify it (McAllester & Stratos 2020), and the truth lies anywhere between "
    "the two. Each verdict that compares bounds is therefore repeated under every density and capacity the "
    "runs' records hold: a sign that holds under all of them does not lean on one density's slack. (The "
    "moment-matched Gaussian sees only scale and correlation, which explain little of q's mismatch: its bound "
    "is near 0 everywhere.)"
)


def bracket_ends(found: list[bound.Bracket]) -> str:
    """Where the two ends meet, and where the lower one lies above the upper (which is no error)."""
    if not found:
        return ""
    smallest = min(b.latent for b in found)
    apart = max(abs(b.upper - b.lower) for b in found if b.latent == smallest)
    text = f"At latent size {smallest} the two ends lie within {apart:.2g} nats of each other at every depth."
    crossed = [b for b in found if b.lower > b.upper]
    if crossed:
        text += (
            " The lower end exceeds the upper at "
            + ", ".join(f"depth {b.depth}, latent {b.latent} (in {b.crossed} of its {b.runs} seeds)" for b in crossed)
            + ": the two ends bound different populations, the lower bound measured on the test codes and the "
            "upper on the training codes, and the test codes there sit slightly further from N(0,I)."
        )
    return text


def bound_in_full(
    found: list[bound.Bracket], sens: list[bound.Sensitivity], known: dict | None = None, at_beta1: list = ()
) -> list[str]:
    lines = [
        "### B5. What the bound can pin",
        "",
        BOUND_METHOD,
        "",
        bracket_ends(found),
        "",
        "| depth | latent | runs | held-out bound (lower) | training mixture's KL (upper) | rate (avg KL) | "
        "mutual information (its ceiling, log N) | width of the bracket |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for b in found:
        lines.append(
            f"| {b.depth} | {b.latent} | {b.runs} | {fmt(b.lower, 3)} | {fmt(b.upper, 3)} | {fmt(b.avg_kl, 3)} | "
            f"{fmt(b.mutual_info, 4)} ({fmt(b.log_n, 4)}) | {fmt(b.upper - b.lower, 3)} |"
        )
    lines += [""] + known_section.known_answer_lines(known, list(at_beta1), found[0].n if found else None)
    if not sens:
        return lines + ["No run's record holds its densities' bounds yet.", ""]
    variants = list(dict.fromkeys(v for s in sens for v in s.by_variant))
    mark = {"lower": " (lower)", "higher": " (higher)"}
    lines += [
        "",
        'Each comparison under each density\'s bound (difference of the means; "(lower)" or "(higher)" where '
        'its 95% interval excludes zero; "(vacuous)" where that density\'s bound is at or below 0 at a latent size '
        "compared, which bounds nothing). A density without a capacity is the one its validation codes kept "
        "(aggregate: the training mixture); the last column counts each family once ("
        + ", ".join(bound.FAMILIES.get(v, v) for v in variants if v != "chosen" and " " not in v)
        + "), the study's choice left out:",
        "",
        "| comparison | " + " | ".join(variants) + " | under the families |",
        "|---" * (len(variants) + 2) + "|",
    ]
    for s in sens:
        cells = [
            f"{d.diff:+.2f}" + (" (vacuous)" if v in s.vacuous else mark.get(str(d.verdict), ""))
            if (d := s.by_variant.get(v))
            else "n/a"
            for v in variants
        ]
        lines.append(f"| {s.comparison} | " + " | ".join(cells) + f" | {bound.tally(s.reads())} |")
    return lines + [""]
