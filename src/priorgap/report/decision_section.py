"""Appendix B0 of study.md: the decision on claim 1, depth 1 against 3 at equal rate and equal
active units, every run measured by the converging instrument (analysis/decision.py)."""
from __future__ import annotations

from ..analysis import decision
from . import known_section

COLUMNS = [(decision.RATE, "rate (test KL)"), (decision.UNITS, "active units"), (decision.BOUND, "held-out bound"),
           (decision.UPPER, "upper end"), (decision.PER_UNIT, "bound per active unit"),
           (decision.UPPER_PER_UNIT, "upper end per active unit"), (decision.RATE_PER_UNIT, "rate per active unit"),
           (decision.PRECISION_GAP, "prior's precision gap"), (decision.FD_GAP, "prior's FD gap"),
           ("precision.tempered", "tempered: precision"), ("recall.tempered", "tempered: recall"),
           ("precision.prior", "N(0,I): precision"), ("recall.prior", "N(0,I): recall")]


def in_full(arms: list[decision.Arm], measured: int, planned: int, families: dict | None = None,
            real: dict[str, float] | None = None) -> list[str]:
    lines = ["### B0. The decision: depth at equal rate, measured by the converging instrument", "",
             f"{measured} of the decision part's {planned} runs are measured. Depth 1 against 3, both with the KL "
             "warm-up, every run measured by the bound whose flow stops on the validation codes and with the widened "
             "training mixture beside it; no difference here mixes runs of the two instruments. The gaps are the "
             "prior's figure minus the run's best fitted density's: if q is closer to N(0,I), sampling N(0,I) loses "
             "less, and that does not rest on the bound. The tempered prior is N(0, tau^2 I) at params.yaml's tau.", ""]
    if not arms:
        lines += ["No latent size has runs of both depths yet: `make study` runs them.", ""]
    for arm in arms:
        seeds = "; ".join(f"depth {d}: seeds {', '.join(map(str, s))}" for d, s in arm.seeds.items())
        equal = decision.equal_units(arm)
        how = "" if equal else " (the units differ: both ends compared per active unit)"
        lines += [f"**Latent size {arm.latent}** ({seeds}). The bracket settles{how}: {decision.settles(arm)}. "
                  f"Sampling: {decision.consequence(arm) or 'not measured'}.", "",
                  "| figure | depth 1 | depth 3 | depth 3 - 1 [95%] | df |", "|---|---|---|---|---|"]
        for key, label in COLUMNS:
            if key in arm.diffs and not (equal and key in decision.PER_UNIT_FIGURES):
                lv, d = arm.levels[key], arm.diffs[key]
                lines.append(f"| {label} | {lv[1]:.4g} | {lv[3]:.4g} | {d.fmt()} | {d.df:.1f} |")
        lines += [""]
    return lines + known_section.families_lines(families, real or {})
