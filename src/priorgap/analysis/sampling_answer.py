"""The answer table's rows about sampling (analysis/answer.py holds the rows about q): whether
drawing z from N(0,I) costs fidelity or coverage against a density fitted to q, whether the
prior's bad draws are those in q's holes, and whether a prior learned with the model beats a
density fitted after training. Each reads its differences as answer.py's rows do (verdicts.judge).
"""
from __future__ import annotations

import math

from . import stats
from ..study import runs
from ..summary.headline import best_fitted
from .stats import Direction
from .verdicts import Answer, Judged, Verdict, judge

# Coverage compares nothing when both samplers' recall is below this share of real digits' own.
RECALL_FLOOR_SHARE = 0.1
COVERS_MORE = ": N(0,I)'s recall is higher"  # the coverage row's "no" where recall is clearly higher everywhere


def sampling_rows(sampled) -> list[Answer]:
    # precision above real digits' own (the floor) ranks nothing: both samplers are past what the measure tells apart
    fidelity, past_floor = [], []
    for s in sampled:
        if "precision" not in s.diffs:
            continue
        if min(s.prior["precision"], s.best["precision"]) >= s.floor["precision"]:
            past_floor.append(f"latent {s.latent} (precision {s.prior['precision']:.3f} and {s.best['precision']:.3f}, "
                              f"both above real digits' {s.floor['precision']:.3f})")
        else:
            fidelity.append((f"latent {s.latent}", s.diffs["precision"]))
    recon = [(f"latent {s.latent}", s.diffs["precision_vs_recon"]) for s in sampled if "precision_vs_recon" in s.diffs]
    cover, unmeasurable = [], []
    for s in sampled:
        if "recall" not in s.diffs:
            continue
        if max(s.prior["recall"], s.best["recall"]) < RECALL_FLOOR_SHARE * s.floor["recall"]:
            unmeasurable.append(f"latent {s.latent} (recall {s.prior['recall']:.2g} and {s.best['recall']:.2g} "
                                f"against real digits' {s.floor['recall']:.2g})")
        else:
            cover.append((f"latent {s.latent}", s.diffs["recall"]))
    cover_verdict = (judge([d for _, d in cover], Direction.LOWER) if cover
                     else Judged(Verdict.NOT_MEASURABLE if unmeasurable else Verdict.NOT_MEASURED))
    fidelity_verdict = judge([d for _, d in fidelity], Direction.LOWER)
    # "no" understates a recall that is clearly higher wherever it is measured: N(0,I) covers more
    reverse = cover_verdict.word == Verdict.NO and all(d.verdict == Direction.HIGHER for _, d in cover)
    trade = (" A precision/recall trade-off: N(0,I)'s draws lose fidelity (the row above) and gain coverage."
             if reverse and fidelity_verdict.word == Verdict.YES else "")
    if reverse:
        cover_verdict = Judged(Verdict.NO, qualifier=COVERS_MORE)
    return [
        Answer(
            "Sampling N(0,I) hurts fidelity",
            "Does sampling N(0,I) hurt fidelity (against the best density fitted to q)?",
            fidelity_verdict,
            "precision against real digits, prior minus best fitted density (paired within runs)",
            fidelity,
            ("Not measurable at " + "; ".join(past_floor) + ". " if past_floor else "")
            + "Against the reconstructions (the decoder held fixed): "
            + ", ".join(f"{w} {d.fmt()}" for w, d in recon)
            + ".",
            section="claim-6-sampling-n0i",
        ),
        Answer(
            "Sampling N(0,I) hurts coverage",
            "Does sampling N(0,I) hurt coverage?",
            cover_verdict,
            "recall against real digits, prior minus best fitted density (paired within runs)",
            cover,
            ((("Not measurable at " + "; ".join(unmeasurable) + ".") if unmeasurable else "") + trade).strip(),
            section="claim-6-sampling-n0i",
        ),
    ]


def holes_row(rows, epochs: int) -> Answer:
    """Draws in holes are worse; do they explain the prior's precision deficit? Lifting them to the
    precision of the draws outside holes would recover share x (out - in) of the deficit (best
    fitted density's precision minus the prior's): under half of it, the holes are only part of it."""
    grid = [r for r in rows if r.part(epochs) == "grid"]
    diffs, shares, recovered = [], [], []
    keys = ("holes.precision_real_in", "holes.precision_real_out", "holes.share", "precision.prior")
    for z in sorted({r.key.latent for r in grid}):
        here = [
            r
            for r in runs.where(grid, latent=z)
            if not any(r.metrics.get(k) is None or math.isnan(r.metrics[k]) for k in keys)
        ]
        if not here:
            continue
        m = [r.metrics for r in here]
        diffs.append(
            (f"latent {z}", stats.paired([x["holes.precision_real_in"] - x["holes.precision_real_out"] for x in m]))
        )
        shares.append(f"{z}: {stats.spread([x['holes.share'] for x in m])[0]:.0%}")
        best = [x[f"precision.{best_fitted(x)}"] for x in m]
        deficit = stats.spread([b - x["precision.prior"] for b, x in zip(best, m)])[0]
        lift = stats.spread(
            [x["holes.share"] * (x["holes.precision_real_out"] - x["holes.precision_real_in"]) for x in m]
        )[0]
        if deficit > 0:
            recovered.append((z, lift / deficit))
    verdict = judge([d for _, d in diffs], Direction.LOWER, "runs")
    if verdict.word == Verdict.YES and any(share < 0.5 for _, share in recovered):
        verdict = Judged(Verdict.PARTLY)  # worse, but they explain under half the prior's deficit
    caveat = "Share of the prior's draws in holes: " + ", ".join(shares) + "." if shares else ""
    if recovered:
        caveat += (
            " Lifting the draws in holes to the precision of the rest would recover "
            + ", ".join(f"{share:.0%} at latent {z}" for z, share in recovered)
            + " of the prior's precision deficit."
        )
    return Answer(
        "The prior's bad draws are those in q's holes",
        "Which prior draws go wrong: those that fall in q's holes?",
        verdict,
        "precision against real digits of the prior's draws in holes minus out of them (a hole: the "
        "fitted density 10 times rarer than N(0,I))",
        diffs,
        caveat.strip(),
        section="claim-7-which-draws-go-wrong",
    )


def prior_rows(learned) -> list[Answer]:
    nll = [(f"latent {c.latent}", c.diffs["nll_vs_expost"]) for c in learned]
    plain = ", ".join(f"{c.latent}: {c.diffs['iwae_nll'].fmt()}" for c in learned)
    fd = [(f"latent {c.latent}", c.diffs["fd.learned_prior_vs_normal_best"]) for c in learned]
    against_plain = ", ".join(
        f"{c.latent}: {c.diffs['fd.learned_prior_vs_normal_prior'].fmt()}"
        for c in learned
        if "fd.learned_prior_vs_normal_prior" in c.diffs
    )
    return [
        Answer(
            "A learned prior beats ex post: likelihood",
            "A prior learned with the model (VampPrior) against N(0,I) with a density fitted ex post: "
            "a better likelihood?",
            judge([d for _, d in nll], Direction.LOWER),
            "IWAE NLL, learned prior minus the ex-post model (nats)",
            nll,
            f"Against plain N(0,I): {plain}." if plain else "",
            section="claim-8-a-learned-prior",
        ),
        Answer(
            "A learned prior beats ex post: samples",
            "... and better samples?",
            judge([d for _, d in fd], Direction.LOWER),
            "FD to test digits, the learned prior's samples minus the N(0,I) model's best fitted density's",
            fd,
            (
                f"Against sampling the plain model's N(0,I), the practical alternative, the learned prior's FD "
                f"differs by {against_plain}."
                if against_plain
                else ""
            ),
            section="claim-8-a-learned-prior",
        ),
    ]
