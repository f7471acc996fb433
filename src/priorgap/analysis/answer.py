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
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from . import depth, stats
from ..study import runs
from .stats import Direction
from .compare import between
from .latent_size import KS

# Coverage compares nothing when both samplers' recall is below this share of real digits' own.
RECALL_FLOOR_SHARE = 0.1


class Verdict(StrEnum):
    YES = "yes"
    NO = "no"
    PARTLY = "partly"
    NOT_RESOLVED = "not resolved"
    NOT_MEASURABLE = "not measurable here"
    NOT_MEASURED = "not measured yet"


@dataclass(frozen=True)
class Judged:
    """A verdict, and for one the seeds did not resolve, how many there were ("5 seeds")."""

    word: Verdict
    seeds: str = ""

    def __str__(self) -> str:
        return f"{self.word} with {self.seeds}" if self.seeds else str(self.word)


@dataclass
class Answer:
    short: str  # the claim in a few words (README's findings, the figures)
    claim: str  # the thread's claim, as a question
    verdict: Judged
    rests_on: str  # what the differences are, and their unit
    diffs: list[tuple[str, stats.Diff]] = field(default_factory=list)  # (where, difference) each verdict reads
    caveat: str = ""
    section: str = ""  # the study.md section that shows it

    @property
    def number(self) -> str:
        return "; ".join(f"{where} {d.fmt()}" for where, d in self.diffs) or "no runs yet"


def judge(diffs: list[stats.Diff], good: str, unit: str = "seeds") -> Judged:
    open_ = (stats.Direction.NO_CLEAR_CHANGE,)
    each = ["open" if not d.decided or d.verdict in open_ else "yes" if d.verdict == good else "no" for d in diffs]
    if not each:
        return Judged(Verdict.NOT_MEASURED)
    if all(e == "yes" for e in each):
        return Judged(Verdict.YES)
    if "yes" in each:
        return Judged(Verdict.PARTLY)
    if "no" in each:
        return Judged(Verdict.NO)
    k = min(min(d.n) for d in diffs)
    return Judged(Verdict.NOT_RESOLVED, f"{k} {unit if k != 1 else unit.removesuffix('s')}")


def _mean(values: list[float]) -> stats.Diff:
    """A mean over runs with its 95% interval (a paired difference against zero)."""
    return stats.paired([v for v in values if v is not None and not math.isnan(v)])


def depth_row(claim: depth.DepthClaim, warm) -> Answer:
    diffs = [(f"latent {m.latent}", m.diffs[depth.BOUND]) for m in claim.matched if depth.BOUND in m.diffs]
    caveat = (f"On the warm-up arm at latent 10: {warm[depth.BOUND].diff.fmt()}, with the rate differing by "
              f"{warm[depth.RATE].diff.fmt()} nats and the active units by {warm['active_units'].diff.fmt()}."
              if warm is not None and warm[depth.BOUND].diff.decided else "At beta = 1 the depths' rates differ, so only "
              "the matched-rate comparison is judged.")
    return Answer("Depth (3 against 1, matched rate)", "Does a deeper encoder (depth 3 against 1) bring q closer to N(0,I)?",
                  judge([d for _, d in diffs], Direction.LOWER, "runs"), "held-out bound on KL(q || N(0,I)) at matched rate, "
                  "depth 3 minus 1 (nats)", diffs, caveat, section="claim-1-depth")


def _sentence(parts: list[str]) -> str:
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def width_row(claim) -> Answer:
    diffs = [(f"latent {m.latent}", m.diffs[depth.BOUND]) for m in claim.matched if depth.BOUND in m.diffs]
    beta1 = [c for c in claim.at_beta1 if c.measure == depth.BOUND]
    narrow = {c.within: c for c in claim.narrow_depth if c.measure == depth.BOUND}
    bits = ["At beta = 1 (the rates differ): " + ", ".join(f"{c.within} {c.diff.fmt()}" for c in beta1)] if beta1 else []
    if narrow:
        bits.append("at beta = 1, depth 3 minus 1 at " + ", ".join(f"{w}: {c.diff.fmt()}" for w, c in narrow.items()))
    return Answer("Width (1000 against 125, matched rate)", "Does a wider encoder (width 1000 against 125, depth 2) bring q closer?",
                  judge([d for _, d in diffs], Direction.LOWER, "runs"), "held-out bound at matched rate, width 1000 "
                  "minus 125 (nats)", diffs, _sentence(bits), section="claim-2-width")


def asker_row(found: dict) -> Answer:
    bound, elbo = found[depth.BOUND], found["test_elbo"]
    return Answer("The asker's third layer (2 x 500 -> 3 x 500, latent 2)", "The asker's own change: does a third hidden layer of 500 (2 x 500 -> 3 x 500, latent 2) "
                  "bring q closer?", judge([bound.diff], Direction.LOWER), "held-out bound, depth 3 minus 2 (nats)",
                  [("latent 2", bound.diff)], f"The test ELBO changes by {elbo.diff.fmt()} nats; the rate by "
                  f"{found[depth.RATE].diff.fmt()}.", section="claim-3-the-askers-third-layer")


def _ends(rows, measure: str, epochs: int, what: str) -> list[tuple[str, stats.Diff]]:
    """Latent size 50 minus 2 at each depth (beta = 1, width 500)."""
    base = runs.at_beta1(epochs, width=runs.GRID_WIDTH)
    out = []
    for d in sorted({r.key.depth for r in rows if r.part(epochs) == "grid"}):
        lats = sorted({r.key.latent for r in runs.where(rows, depth=d, **base)})
        if len(lats) > 1:
            c = between(rows, what, f"depth {d}", measure, {**base, "depth": d, "latent": lats[0]},
                        {**base, "depth": d, "latent": lats[-1]})
            out.append((f"depth {d}, {lats[0]}->{lats[-1]}", c.diff))
    return out


def latent_rows(rows, claim2, epochs: int) -> list[Answer]:
    per_dim = _ends(rows, KS, epochs, "latent")
    joint = _ends(rows, depth.BOUND, epochs, "latent")
    fd = _ends(rows, "fd_vs_recon.prior", epochs, "latent")
    return [Answer("More latent dimensions, per dimension", "More latent dimensions: is each dimension of q closer to N(0,1)?", judge([d for _, d in per_dim], Direction.LOWER),
                   "mean KS of the active dimensions, largest latent size minus smallest", per_dim,
                   f"As a trend over every size: {claim2.verdict}.", section="claim-4-latent-size"),
            Answer("More latent dimensions, jointly", "More latent dimensions: is q as a whole closer to N(0,I)?", judge([d for _, d in joint], Direction.LOWER),
                   "held-out bound, largest latent size minus smallest (nats)", joint,
                   "The prior's FD to the reconstructions, the same ends: "
                   + ", ".join(f"{w} {d.fmt()}" for w, d in fd) + "." if fd else "", section="claim-4-latent-size")]


def scale_row(rows, epochs: int) -> Answer:
    grid = [r for r in rows if r.part(epochs) == "grid"]
    diffs, eig = [], []
    for z in sorted({r.key.latent for r in grid}):
        here = runs.where(grid, latent=z)
        diffs.append((f"latent {z}", _mean(runs.values(here, "gaussian_share"))))
        eig.append(f"{z}: {stats.spread(runs.values(here, 'cov_eig_max'))[0]:.2f}" if runs.values(here, "cov_eig_max") else "")
    # "yes, scale" would put the moment-matched Gaussian's share above one half
    shifted = [stats.Diff(d.diff - 0.5, d.se, d.df, d.n) for _, d in diffs]
    verdict = judge(shifted, Direction.HIGHER, "runs")
    return Answer("The mismatch is scale (\"q is N(0, 2I)\")", "Is the mismatch one of scale (\"q is N(0, 2I)\")?", verdict,
                  "share of the held-out bound that q's moment-matched Gaussian (scale and correlation) explains",
                  diffs, "Largest eigenvalue of q's covariance (N(0, 2I) would give 2): " + ", ".join(e for e in eig if e)
                  + ".", section="claim-5-scale-or-shape")


def sampling_rows(sampled) -> list[Answer]:
    fidelity = [(f"latent {s.latent}", s.diffs["precision"]) for s in sampled if "precision" in s.diffs]
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
    return [Answer("Sampling N(0,I) hurts fidelity", "Does sampling N(0,I) hurt fidelity (against the best density fitted to q)?",
                   judge([d for _, d in fidelity], Direction.LOWER), "precision against real digits, prior minus best "
                   "fitted density (paired within runs)", fidelity, "Against the reconstructions (the decoder held "
                   "fixed): " + ", ".join(f"{w} {d.fmt()}" for w, d in recon) + ".", section="claim-6-sampling-n0i"),
            Answer("Sampling N(0,I) hurts coverage", "Does sampling N(0,I) hurt coverage?", cover_verdict, "recall against real digits, prior minus best "
                   "fitted density (paired within runs)", cover,
                   ("Not measurable at " + "; ".join(unmeasurable) + ".") if unmeasurable else "",
                   section="claim-6-sampling-n0i")]


def holes_row(rows, epochs: int) -> Answer:
    grid = [r for r in rows if r.part(epochs) == "grid"]
    diffs, shares = [], []
    for z in sorted({r.key.latent for r in grid}):
        here = runs.where(grid, latent=z)
        pairs = [r.metrics["holes.precision_real_in"] - r.metrics["holes.precision_real_out"] for r in here
                 if not any(r.metrics.get(k) is None or math.isnan(r.metrics[k])
                            for k in ("holes.precision_real_in", "holes.precision_real_out"))]
        if pairs:
            diffs.append((f"latent {z}", stats.paired(pairs)))
        if runs.values(here, "holes.share"):
            shares.append(f"{z}: {stats.spread(runs.values(here, 'holes.share'))[0]:.0%}")
    return Answer("The prior's bad draws are those in q's holes", "Which prior draws go wrong: those that fall in q's holes?", judge([d for _, d in diffs], Direction.LOWER, "runs"),
                  "precision against real digits of the prior's draws in holes minus out of them (a hole: the "
                  "fitted density 10 times rarer than N(0,I))", diffs,
                  "Share of the prior's draws in holes: " + ", ".join(shares) + "." if shares else "",
                  section="claim-7-which-draws-go-wrong")


def prior_rows(learned) -> list[Answer]:
    nll = [(f"latent {c.latent}", c.diffs["nll_vs_expost"]) for c in learned]
    plain = ", ".join(f"{c.latent}: {c.diffs['iwae_nll'].fmt()}" for c in learned)
    fd = [(f"latent {c.latent}", c.diffs["fd.learned_prior_vs_normal_best"]) for c in learned]
    prec = ", ".join(f"{c.latent}: {c.diffs['precision.learned_prior_vs_normal_best'].fmt()}" for c in learned)
    return [Answer("A learned prior beats ex post: likelihood", "A prior learned with the model (VampPrior) against N(0,I) with a density fitted ex post: "
                   "a better likelihood?", judge([d for _, d in nll], Direction.LOWER), "IWAE NLL, learned prior minus the "
                   "ex-post model (nats)", nll, f"Against plain N(0,I): {plain}." if plain else "",
                   section="claim-8-a-learned-prior"),
            Answer("A learned prior beats ex post: samples", "... and better samples?", judge([d for _, d in fd], Direction.LOWER), "FD to test digits, the learned "
                   "prior's samples minus the N(0,I) model's best fitted density's", fd,
                   f"Precision, the same sides: {prec}." if prec else "", section="claim-8-a-learned-prior")]


def longer_row(inside: int, total: int, matched_longer: list[tuple[str, stats.Diff, bool]]) -> Answer:
    """inside of total comparisons at twice the epochs in their prediction intervals; the
    matched-rate fits at twice the epochs (where, difference, inside the 40-epoch one's interval)."""
    moved = total - inside + sum(not ok for _, _, ok in matched_longer)
    n = total + len(matched_longer)
    verdict = Judged(Verdict.NOT_MEASURED if not n else Verdict.NO if not moved else Verdict.PARTLY if moved < n
                     else Verdict.YES)
    caveat = ("Matched-rate fit at twice the epochs: " + ", ".join(f"{w} {d.fmt()}" + ("" if ok else " (moved)")
                                                                   for w, d, ok in matched_longer) + "."
              if matched_longer else "One seed per setting at twice the epochs.")
    return Answer("Training twice as long changes a verdict", "Does training twice as long change any of it?", verdict,
                  f"{inside} of {total} comparisons at twice the epochs inside their 95% prediction interval", [],
                  caveat, section="appendix-a-long-enough")
