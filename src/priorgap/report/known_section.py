"""The known answers of study.md: the beta-1 known answer shaped like the real codes (Appendix B5,
reports/known_answer.json) and the two families at the decision's encoders (Appendix B0,
reports/known_families.json)."""
from __future__ import annotations

from ..analysis import depth, known_answer, known_families
from ..io.numbers import fmt


def known_answer_lines(known: dict | None, at_beta1: list, population: int | None = None) -> list[str]:
    """The known answer shaped like the real codes (reports/known_answer.json, `make known-answer`):
    the bound's recovery for each encoder. Its encoders are at beta 1, where the depths' rates differ
    (`at_beta1`: depth.DepthClaim's comparisons), so their slacks are not added to the matched-rate
    verdict's difference: that would count the rate twice. `population`: the training images, the
    known answer's components where its json does not say."""
    if not known:
        return [
            "No known answer shaped like the real codes yet (`make known-answer` writes reports/known_answer.json).",
            "",
        ]
    rows = known["encoders"]
    size = rows[0].get("population_size", population) if rows else population
    half = f"{known_answer.training_half(size):,} components, " if size else ""
    lines = [
        f"A known answer shaped like the real codes (`make known-answer`; {known['epochs']} epochs, seed 0): the "
        f"population is the mixture of one trained encoder's {f'{size:,} ' if size else ''}training posteriors, "
        "whose KL to "
        "N(0,I) is known from its exact log density; half its components are the training codes of a study run as "
        "the study runs (q replayed left out: it would hold the population's own components). It is spikier than a "
        "real population, so the recovery is pessimistic, alike for both encoders.",
        "",
        f"| depth | latent | truth (nats) | bound | density | recovery | training mixture's KL ({half}half the "
        "population) | active units |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['depth']} | {r['latent']} | {fmt(r['truth'], 3)} | {fmt(r['bound'], 3)} | {r['bound_density']} | "
            f"{r['recovery']:.0%} | {fmt(r['training_mixture_kl'], 3)} | {r['active_units']} |"
        )
    by = {(r["depth"], r["latent"]): r for r in rows}
    rates = {c.within: c.diff for c in at_beta1 if c.measure == depth.RATE}
    for z in sorted({r["latent"] for r in rows}):
        shallow, deep, rate = by.get((1, z)), by.get((3, z)), rates.get(f"latent size {z}")
        if shallow and deep and rate is not None:
            slack = (deep["truth"] - deep["bound"]) - (shallow["truth"] - shallow["bound"])
            lines += [
                "",
                f"Latent {z}: the slack (truth minus bound) is {abs(slack):.2f} nats "
                f"{'smaller' if slack < 0 else 'larger'} at depth 3 than at depth 1 here. These encoders are at "
                f"beta 1, where depth 3's rate differs from depth 1's by {rate.fmt()} nats in the grid; the depth "
                "verdict is taken at matched rate, so adding these slacks to its difference would count the rate "
                "twice. The slack must be compared on the very encoders compared (the decision's runs at equal "
                "rate, not measured yet).",
            ]
    return lines + [""]


def families_lines(families: dict | None, real: dict[str, float]) -> list[str]:
    """The known answers at the decision's encoders (reports/known_families.json, `make known-families`):
    the bound's recovery per family and encoder, and whether the depth difference keeps its sign."""
    head = [
        "**The slack at these encoders: known answers of two families no estimator belongs to** "
        "(`make known-families`).",
        "",
    ]
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
        "population in KL.",
        "",
        "| encoder | family | smear | truth | bound (density) | recovery | upper end | real test codes' gain |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['encoder']} | {r['family']} | {r['smear']:g} | {r['truth']:.3f} ± {r['truth_se']:.3f} | "
            f"{r['bound']:.3f} ({r['bound_density']}) | {r['recovery']:.0%} | {r['upper']:.3f} | "
            f"{r['real_test_gain']:.3f} ± {r['real_test_gain_se']:.3f} |"
        )
    pairs = known_families.under_families(rows)
    if real:
        lines += [
            "",
            "The real runs' bound on the same test draws: "
            + ", ".join(f"{name} {v:.3f}" for name, v in real.items())
            + ".",
        ]
    if not pairs:
        return lines + ["", "No family is measured at both depths yet.", ""]
    lines += [
        "",
        "| family | smear | truth, depth 3 - 1 | bound, depth 3 - 1 | slack, depth 3 - 1 | the bound's sign |",
        "|---|---|---|---|---|---|",
    ]
    for p in pairs:
        lines.append(
            f"| {p.family} | {p.smear:g} | {p.truth.fmt()} | {p.bound.fmt()} | {p.slack.fmt()} | "
            f"{'survives' if p.sign_survives else 'does not survive'} |"
        )
    kept = sum(p.sign_survives for p in pairs)
    lines += [
        "",
        f"The bound's depth difference has the truth's sign under {kept} of {len(pairs)} populations. "
        "The intervals are the Monte Carlo error of one population and one fit.",
        "",
    ]
    return lines
