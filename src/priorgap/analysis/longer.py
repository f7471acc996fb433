"""Does training twice as long change any of it? The answer table's row for it: each comparison behind
a verdict repeated on the slice (one seed at twice the epochs), the matched-rate fit at twice the
epochs, and how much the test ELBO still gains there."""
from __future__ import annotations

from . import depth, stats
from ..study import runs
from .verdicts import Answer, Judged, Verdict


def matched_longer(rows, epochs: int, claim1: depth.DepthClaim) -> list[tuple[str, stats.Diff, bool]]:
    """The matched-rate fit repeated at twice the epochs (one seed per beta), against the grid's:
    inside when the two differ by less than their combined 95% interval."""
    out = []
    for m in claim1.matched:
        longer = depth.matched(rows, m.latent, 2 * epochs)
        if isinstance(longer, depth.Matched) and depth.BOUND in longer.diffs and depth.BOUND in m.diffs:
            a, b = m.diffs[depth.BOUND], longer.diffs[depth.BOUND]
            ok = abs(b.diff - a.diff) <= stats.t_quantile(min(a.df, b.df)) * (a.se**2 + b.se**2) ** 0.5
            out.append((f"latent {m.latent}", b, ok))
    return out


def longer_row(
    inside: int, total: int, matched_longer: list[tuple[str, stats.Diff, bool]], elbo_gain: str = ""
) -> Answer:
    """inside of total comparisons at twice the epochs in their prediction intervals; the
    matched-rate fits at twice the epochs (where, difference, inside the 40-epoch one's interval);
    `elbo_gain`: how much the test ELBO still gains at twice the epochs (the slice against its grid)."""
    moved = total - inside + sum(not ok for _, _, ok in matched_longer)
    n = total + len(matched_longer)
    verdict = Judged(
        Verdict.NOT_MEASURED
        if not n
        else Verdict.NO_CHANGE_DETECTED
        if not moved
        else Verdict.PARTLY
        if moved < n
        else Verdict.YES
    )
    caveat = (
        "One seed per setting at twice the epochs: a test that can fail, but a weak one."
        + (
            f" The test ELBO still gains {elbo_gain} nats from the grid's epochs to twice as many, so the runs are "
            "near, not at, convergence."
            if elbo_gain
            else ""
        )
        + (
            " Matched-rate fit at twice the epochs: "
            + ", ".join(f"{w} {d.fmt()}" + ("" if ok else " (moved)") for w, d, ok in matched_longer)
            + "."
            if matched_longer
            else ""
        )
    )
    return Answer(
        "Training twice as long changes a verdict",
        "Does training twice as long change any of it?",
        verdict,
        f"{inside} of {total} comparisons at twice the epochs inside their 95% prediction interval",
        [],
        caveat,
        section="appendix-a-long-enough",
    )


def elbo_gain_when_longer(rows, epochs: int) -> str:
    """The slice's test ELBO minus the mean of its grid setting's seeds, over the slice's runs: "+1.0 to +2.1"."""
    gains = []
    for r in (r for r in rows if r.part(epochs) == "slice"):
        k = r.key
        same = [
            x.metrics["test_elbo"]
            for x in runs.where(
                rows,
                depth=k.depth,
                latent=k.latent,
                beta=k.beta,
                warmup=k.warmup,
                prior=k.prior,
                width=k.width,
                epochs=epochs,
            )
        ]
        if same:
            gains.append(r.metrics["test_elbo"] - stats.spread(same)[0])
    return f"{min(gains):+.1f} to {max(gains):+.1f}" if gains else ""
