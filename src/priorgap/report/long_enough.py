"""Appendix A: long enough? The screen on each run's last epochs, and the test that can fail: every
comparison behind a verdict repeated on the slice at twice the epochs."""
from __future__ import annotations

from ..analysis.compare import on_slice
from ..io.numbers import fmt
from ..study import runs


def convergence(rows, epochs, compared, sampled) -> tuple[list[str], tuple[int, int]]:
    """The appendix, and (comparisons inside their prediction interval at twice the epochs, of how many)."""
    slopes = [(r.metrics.get("val_elbo_slope"), r.name) for r in rows if r.metrics.get("val_elbo_slope") is not None]
    left = [r for r in rows if not r.converged]
    top = max(slopes) if slopes else (None, "")
    lines = [
        "## Appendix A: long enough?",
        "",
        f"Screen: a run still gaining more than {runs.SLOPE_LIMIT} nats of validation ELBO per epoch over its last "
        f"20% of epochs is plainly not done and is left out of every verdict: {len(left)} of {len(rows)}"
        + (f" ({', '.join(r.name for r in left)})" if left else "")
        + f". The largest slope is {fmt(top[0], 3)} ({top[1]}): the screen rarely binds, so it is not the test.",
        "",
        f"The test that can fail: every comparison behind a verdict is repeated on the slice (one seed, {2 * epochs} "
        "epochs). It passes when the slice's difference lies inside the 95% prediction interval of the grid's "
        "(the grid mean's uncertainty plus one new run a side): the figure does not move with training beyond what "
        'the seeds explain. "Same way" asks only whether a clear difference keeps its sign.',
        "",
    ]
    checked = [s for s in (on_slice(c, [r for r in rows if r.part(epochs) == "slice"], epochs) for c in compared) if s]
    if not checked and not sampled:
        return lines + ["No slice run matches a comparison yet.", ""], (0, 0)
    inside, same = sum(s.predicted for s in checked), sum(s.same_way for s in checked)
    s_inside, s_same = sum(x.inside for x in sampled), sum(x.same_way for x in sampled)
    lines += [
        f"Claims 1 and 2: {inside} of {len(checked)} comparisons inside their prediction interval, {same} of "
        f"{len(checked)} the same way. Samplers (each slice run's prior-minus-best difference against the grid's "
        f"mean at its latent size): {s_inside} of {len(sampled)} inside, {s_same} of {len(sampled)} the same way.",
        "",
        f"| question | within | measure | grid, {epochs} epochs: difference [95%] (verdict) | slice, {2 * epochs} | "
        "inside | same way |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in checked:
        c = s.compared
        low, high = (f"{e.get('depth', '')}/{e.get('latent', '')}" for e in (c.low, c.high))
        side = f"{low} -> {high}"
        lines.append(
            f"| {c.question} | {c.within} ({side}) | {c.measure} | {c.diff.fmt()} ({c.verdict}) | {s.longer:+.3g} | "
            f"{'yes' if s.predicted else '**no**'} | {'yes' if s.same_way else '**no**'} |"
        )
    for res, name, m, new, same_way, ok in (
        (x.grid, x.run, x.measure, x.longer, x.same_way, x.inside) for x in sampled
    ):
        lines.append(
            f"| samplers | latent size {res.latent} ({name}) | prior - best, {m} | {res.diffs[m].fmt()} "
            f"({res.diffs[m].verdict}) | {new:+.3g} | {'yes' if ok else '**no**'} | {'yes' if same_way else '**no**'} |"
        )
    return lines + [""], (inside + s_inside, len(checked) + len(sampled))
