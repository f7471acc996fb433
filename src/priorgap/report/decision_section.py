"""Appendix B0 of study.md: the decision on claim 1, depth 1 against 3 at equal rate and equal
active units, every run measured by the converging instrument (analysis/decision.py)."""
from __future__ import annotations

from ..analysis import decision, known_families

COLUMNS = [(decision.RATE, "rate (test KL)"), (decision.UNITS, "active units"), (decision.BOUND, "held-out bound"),
           (decision.UPPER, "upper end"), (decision.PER_UNIT, "bound per active unit"),
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
        seeds = ", ".join(f"depth {d}: seeds {', '.join(map(str, s))}" for d, s in arm.seeds.items())
        lines += [f"**Latent size {arm.latent}** ({seeds}). The bracket settles: {decision.settles(arm)}. "
                  f"Sampling: {decision.consequence(arm) or 'not measured'}.", "",
                  "| figure | depth 1 | depth 3 | depth 3 - 1 [95%] | df |", "|---|---|---|---|---|"]
        for key, label in COLUMNS:
            if key in arm.diffs:
                lv, d = arm.levels[key], arm.diffs[key]
                lines.append(f"| {label} | {lv[1]:.4g} | {lv[3]:.4g} | {d.fmt()} | {d.df:.1f} |")
        lines += [""]
    return lines + known_lines(families, real or {})


def known_lines(families: dict | None, real: dict[str, float]) -> list[str]:
    """The known answers at the decision's encoders (reports/known_families.json, `make known-families`):
    the bound's recovery per family and encoder, and whether the depth difference keeps its sign."""
    head = ["**The slack at these encoders: known answers of two families no estimator belongs to** "
            "(`make known-families`).", ""]
    if not families or not families.get("rows"):
        return head + ["Not measured yet: `make known-families` writes reports/known_families.json.", ""]
    rows = families["rows"]
    lines = head + [
        f"Each population keeps the real codes' per-unit spread and smears {families['centres']:,} of the encoder's "
        "codes by a box or a Laplace kernel (smear c of each unit's spread: small is spiky, large is smooth); its "
        "KL(q || N(0,I)) is exact up to Monte Carlo error. A study's worth of images is drawn from it "
        f"({', '.join(f'{n:,} {k}' for k, n in families['splits'].items())}) and fit_posterior's own instrument "
        "measures it, every density of the bound included. The last column scores the family's density on the real "
        "test codes, as the bound scores a fitted density: the higher, the closer the family is to the real "
        "population in KL.", "",
        "| encoder | family | smear | truth | bound (density) | recovery | upper end | real test codes' gain |",
        "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['encoder']} | {r['family']} | {r['smear']:g} | {r['truth']:.3f} ± {r['truth_se']:.3f} | "
                     f"{r['bound']:.3f} ({r['bound_density']}) | {r['recovery']:.0%} | {r['upper']:.3f} | "
                     f"{r['real_test_gain']:.3f} ± {r['real_test_gain_se']:.3f} |")
    pairs = known_families.under_families(rows)
    if real:
        lines += ["", "The real runs' bound on the same test draws: "
                  + ", ".join(f"{name} {v:.3f}" for name, v in real.items()) + "."]
    if not pairs:
        return lines + ["", "No family is measured at both depths yet.", ""]
    lines += ["", "| family | smear | truth, depth 3 - 1 | bound, depth 3 - 1 | slack, depth 3 - 1 | the bound's sign |",
              "|---|---|---|---|---|---|"]
    for p in pairs:
        lines.append(f"| {p.family} | {p.smear:g} | {p.truth.fmt()} | {p.bound.fmt()} | {p.slack.fmt()} | "
                     f"{'survives' if p.sign_survives else 'does not survive'} |")
    kept = sum(p.sign_survives for p in pairs)
    lines += ["", f"The bound's depth difference has the truth's sign under {kept} of {len(pairs)} populations. "
              "The intervals are the Monte Carlo error of one population and one fit.", ""]
    return lines
