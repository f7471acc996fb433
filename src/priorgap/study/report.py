"""The study report: reports/study.csv and reports/runs/ -> reports/study.md, its figures, and
README's findings.

    python -m priorgap.report [--csv reports/study.csv] [--records reports/runs] [--out reports]
                              [--readme README.md]                                    (make report)

Reads the committed runs file and the runs' records alone (table.py, record.py), so any clone
rebuilds the committed report byte for byte, with no MLflow store. Every number in the prose is
computed here from them; plan.py's design says which runs each section needs, and the report
lists the ones missing. The page opens with the answer, one row per claim of the thread
(answer.py), then the thread's own picture, one short section per claim with its figure, and the
appendices: convergence, the analyses in full, every experiment.
"""
from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path

from .. import PriorgapError
from ..common.outputs import atomic_write_text
from . import answer, depth, latent, plan, plots, priors, record, runs, sampling, stats, summary, table, width
from .compare import on_slice

# (section title, anchor (answer.Answer.section), its detail figure or None, how it is measured)
SECTIONS = [
    ("Claim 1: depth", "claim-1-depth", "study_rate.png",
     "Depth changes the rate at beta = 1, so each depth's beta sweep traces a curve on the rate-distortion plane and "
     "the depths are compared at the middle of the rates both reach (`study/depth.py`)."),
    ("Claim 2: width", "claim-2-width", None,
     "The same matched-rate comparison for widths 125 and 1000 at depth 2 and latent size 10, with width at beta = 1 "
     "and depth at a narrow width beside it (`study/width.py`)."),
    ("Claim 3: the asker's third layer", "claim-3-the-askers-third-layer", None,
     "The asker's own runs: depth 2 against 3 at width 500 and latent size 2, beta = 1, five seeds each."),
    ("Claim 4: latent size", "claim-4-latent-size", "study_latent.png",
     "Per dimension: the mean KS statistic of q's active dimensions against N(0,1); jointly: the held-out lower bound "
     "on KL(q || N(0,I)) (`study/latent.py`)."),
    ("Claim 5: scale or shape", "claim-5-scale-or-shape", None,
     "The KL of q's moment-matched Gaussian to N(0,I) (its scale and correlation) as a share of the held-out bound: "
     "near 1 would be the thread's N(0, 2I); near 0, a mismatch of shape."),
    ("Claim 6: sampling N(0,I)", "claim-6-sampling-n0i", "study_samplers.png",
     "Each run's N(0,I) draws against the draws of the density its validation codes chose, paired within the run "
     "(`study/sampling.py`)."),
    ("Claim 7: which draws go wrong", "claim-7-which-draws-go-wrong", None,
     "For each N(0,I) draw, the chosen density's log ratio to the prior; a draw in a hole (ratio below 1/10) is "
     "checked for landing on real digits (precision), against the draws outside holes."),
    ("Claim 8: a learned prior", "claim-8-a-learned-prior", "study_priors.png",
     "A VampPrior learned with the model at depth 2, against the N(0,I) model with its fitted density as the prior, "
     "the decoder fixed (`study/priors.py`)."),
]
CLAIM_FIGURES = tuple(f"study_claim{i}.png" for i in range(1, len(SECTIONS) + 1))  # each claim's differences
THREAD = "study_thread.png"
FIGURES = ("study_rate.png", "study_depth.png", "study_latent.png", "study_samplers.png", "study_priors.png",
           THREAD, *CLAIM_FIGURES)
PICTURED = ("d2-z2-s0", "d3-z2-s0")  # the thread's picture: the asker's 2 x 500 encoder, and with the third layer
BEGIN, END = "<!-- study findings: written by `make report`, do not edit -->", "<!-- end of study findings -->"


def doc(module, paragraph: int = 1) -> str:
    """A paragraph of a module's docstring as markdown: wrapped lines joined, "- " items kept as a list."""
    out: list[str] = []
    for line in module.__doc__.split("\n\n")[paragraph].splitlines():
        if line.startswith("- ") or not out:
            out.append(line)
        else:
            out[-1] += " " + line.strip()
    return "\n".join(out)


def f(x, digits=3) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


def missing(rows: list[runs.Row], components: int) -> list[plan.Planned]:
    have = {r.key for r in rows}
    return [p for p in plan.design(components) if p.key not in have]


def _header(rows: list[runs.Row], epochs: int, components: int) -> tuple[list[str], list[str]]:
    """The page's opening lines, and the list of missing runs (for the last appendix)."""
    planned = plan.design(components)
    lacking = missing(rows, components)
    count = {part: sum(r.part(epochs) == part for r in rows) for part in (*plan.PARTS, "other")}
    of = {part: sum(p.part == part for p in planned) for part in plan.PARTS}
    hours = sum(r.end_ms - r.start_ms for r in rows) / 3_600_000
    lines = ["# priorgap study: does the aggregate posterior q(z) match N(0, I)?", "",
             f"{len(rows)} of {len(planned)} planned experiments: "
             + "; ".join(f"{part} {count[part]} of {of[part]}" for part in plan.PARTS)
             + (f"; {count['other']} at other settings, not used" if count["other"] else "")
             + f" ({epochs} epochs, the slice {2 * epochs}; {hours:.1f} hours of run time"
             + (f"; missing runs are listed in Appendix C, and every verdict may change as they land" if lacking else "")
             + "). `make report` rebuilds this page and its figures from `reports/study.csv` and `reports/runs/`; "
             "`make study` runs what they lack.", ""]
    gone = []
    if lacking:
        by_part = {}
        for p in lacking:
            by_part.setdefault(p.part, []).append(p.name)
        gone = ["**Missing** (planned, not in the runs file yet): "
                + "; ".join(f"{part}: {', '.join(names)}" for part, names in by_part.items()) + ".", ""]
    return lines, gone


def _convergence(rows, epochs, compared, sampled) -> tuple[list[str], tuple[int, int]]:
    """The appendix, and (comparisons inside their prediction interval at twice the epochs, of how many)."""
    slopes = [(r.metrics.get("val_elbo_slope"), r.name) for r in rows if r.metrics.get("val_elbo_slope") is not None]
    left = [r for r in rows if not r.converged]
    top = max(slopes) if slopes else (None, "")
    lines = ["## Appendix A: long enough?", "",
             f"Screen: a run still gaining more than {runs.SLOPE_LIMIT} nats of validation ELBO per epoch over its last "
             f"20% of epochs is plainly not done and is left out of every verdict: {len(left)} of {len(rows)}"
             + (f" ({', '.join(r.name for r in left)})" if left else "")
             + f". The largest slope is {f(top[0])} ({top[1]}): the screen rarely binds, so it is not the test.", "",
             f"The test that can fail: every comparison behind a verdict is repeated on the slice (one seed, {2 * epochs} "
             "epochs). It passes when the slice's difference lies inside the 95% prediction interval of the grid's "
             "(the grid mean's uncertainty plus one new run a side): the figure does not move with training beyond what "
             "the seeds explain. \"Same way\" asks only whether a clear difference keeps its sign.", ""]
    checked = [s for s in (on_slice(c, [r for r in rows if r.part(epochs) == "slice"], epochs) for c in compared) if s]
    if not checked and not sampled:
        return lines + ["No slice run matches a comparison yet.", ""], (0, 0)
    inside, same = sum(s.predicted for s in checked), sum(s.same_way for s in checked)
    s_inside, s_same = sum(x[5] for x in sampled), sum(x[4] for x in sampled)
    lines += [f"Claims 1 and 2: {inside} of {len(checked)} comparisons inside their prediction interval, {same} of "
              f"{len(checked)} the same way. Samplers (each slice run's prior-minus-best difference against the grid's "
              f"mean at its latent size): {s_inside} of {len(sampled)} inside, {s_same} of {len(sampled)} the same way.", "",
              f"| question | within | measure | grid, {epochs} epochs: difference [95%] (verdict) | slice, {2 * epochs} | "
              "inside | same way |", "|---|---|---|---|---|---|---|"]
    for s in checked:
        c = s.compared
        side = f"{c.low.get('depth', '')}/{c.low.get('latent', '')} -> {c.high.get('depth', '')}/{c.high.get('latent', '')}"
        lines.append(f"| {c.question} | {c.within} ({side}) | {c.measure} | {c.diff.fmt()} ({c.verdict}) | {s.longer:+.3g} | "
                     f"{'yes' if s.predicted else '**no**'} | {'yes' if s.same_way else '**no**'} |")
    for res, name, m, new, same_way, ok in sampled:
        lines.append(f"| samplers | latent size {res.latent} ({name}) | prior - best, {m} | {res.diffs[m].fmt()} "
                     f"({res.diffs[m].verdict}) | {new:+.3g} | {'yes' if ok else '**no**'} | {'yes' if same_way else '**no**'} |")
    return lines + [""], (inside + s_inside, len(checked) + len(sampled))


def _depth(claim: depth.DepthClaim) -> list[str]:
    lines = ["### B1. Depth, in full", "", doc(depth), ""]
    n = len(claim.matched)
    lines += [f"**Verdict: {claim.verdict}** (it rests on {n} comparison{'s' * (n != 1)}: the held-out bound at the "
              "matched rate at each latent size below; the other columns say what else differs there).", ""]
    if claim.missing:
        lines += ["Not matched: " + "; ".join(claim.missing) + ".", ""]
    if claim.matched:
        lines += ["| latent | matched rate (overlap) | runs | bound, depth 3 - 1 [95%] | distortion | active units | test ELBO |",
                  "|---|---|---|---|---|---|---|"]
        for m in claim.matched:
            cells = [m.diffs[k].fmt() if k in m.diffs else "n/a" for k in (depth.BOUND, depth.DISTORTION, "active_units", "test_elbo")]
            lines.append(f"| {m.latent} | {m.rate:.3g} ({m.overlap[0]:.3g}-{m.overlap[1]:.3g}) | {m.runs} | " + " | ".join(cells) + " |")
        lines += [""]
    lines += [f"At beta = 1 (the grid: depth {depth.DEPTHS[1]} minus depth {depth.DEPTHS[0]}, 95% intervals; "
              "the rate differs, so these do not answer the claim by themselves):", "",
              "| latent | rate (test KL) | bound | population information | active units | test ELBO |", "|---|---|---|---|---|---|"]
    for z in sorted({int(c.within.split()[-1]) for c in claim.at_beta1}):
        cell = {c.measure: c.diff.fmt() for c in claim.at_beta1 if c.within == f"latent size {z}"}
        lines.append(f"| {z} | " + " | ".join(cell.get(k, "n/a") for k in (depth.RATE, depth.BOUND, runs.POPULATION_INFO,
                                                                            "active_units", "test_elbo")) + " |")
    lines += ["", "![depth at beta 1](study_depth.png)", ""]
    if claim.warmup_verdict:
        lines += ["KL warm-up (beta ramped from 0 over the first epochs), active units:", ""]
        lines += [f"- latent size {z}: {text}." for z, text in claim.warmup_verdict.items()] + [""]
    return lines


def _latent(claim: latent.LatentClaim, rows, epochs) -> list[str]:
    grid = latent.with_info_per_unit([r for r in rows if r.part(epochs) == "grid"])
    n = sum(len(t.steps) for t in claim.trends)
    lines = ["### B2. Latent size, in full", "",
             doc(latent), "",
             f"**Verdict: {claim.verdict}** ({n} comparisons: each step to the next latent size, at each depth).", ""]
    if claim.missing:
        lines += ["Not decided: " + "; ".join(claim.missing) + ".", ""]
    for t in claim.trends:
        steps = ", ".join(f"{s.low['latent']}->{s.high['latent']} {s.diff.fmt(2)}" for s in t.steps)
        where = (f"falls up to latent size {t.stop}, no clear change after" if t.stop and t.stop != t.latents[-1]
                 else "falls at every size" if t.stop else "never clearly falls")
        units = (f"active units grow up to latent size {t.units_stop} ({t.units[t.units_stop]:.3g}; "
                 f"{t.units[t.latents[-1]]:.3g} at {t.latents[-1]})" if t.units_stop else "active units never clearly grow")
        lines.append(f"- depth {t.depth}: mean KS of the active dimensions {where}"
                     + (f", rises at {', '.join(map(str, t.rising))}" if t.rising else "") + f"; {units} (steps: {steps}).")
    lines += ["", "| depth | latent | KS, active (per dimension) | held-out bound (joint) | Gaussian KL (joint) | "
              "active units | information per active unit |", "|---|---|---|---|---|---|---|"]
    for d in sorted({r.key.depth for r in grid}):
        for z in sorted({r.key.latent for r in runs.where(grid, depth=d)}):
            here = runs.where(grid, depth=d, latent=z)
            cells = []
            for m in (latent.KS, "kl_q_prior_lower_bound", "gaussian_kl", "active_units", latent.INFO_PER_UNIT):
                v = runs.values(here, m)
                mean, _, k = stats.spread(v) if v else (None, 0, 0)
                half = stats.t_quantile(k - 1) * stats.spread(v)[1] / k**0.5 if k > 1 else None
                cells.append(f"{f(mean)} ± {f(half, 2)}" if half is not None else f(mean))
            lines.append(f"| {d} | {z} | " + " | ".join(cells) + " |")
    lines += ["", "(mean ± half-width of the 95% interval over seeds)", ""]
    return lines


def _sampling(results) -> list[str]:
    lines = ["### B3. Sampling N(0,I), in full", "", doc(sampling), "",
             f"Each latent size rests on {len(sampling.MEASURES)} paired comparisons (fd, precision and recall, against "
             "real digits and against the reconstructions).", ""]
    lines += [f"- {sampling.sentence(s)}" for s in results] + [""]
    lines += ["| latent | measure | prior | best | prior - best [95%] | floor |", "|---|---|---|---|---|---|"]
    for s in results:
        for m in sampling.MEASURES:
            if m in s.diffs:
                lines.append(f"| {s.latent} | {m} | {f(s.prior[m], 4)} | {f(s.best[m], 4)} | {s.diffs[m].fmt()} | {f(s.floor[m], 4)} |")
    return lines + [""]


def _priors(results: list[priors.PriorComparison]) -> list[str]:
    lines = ["### B4. A learned prior, in full", "", doc(priors), "",
             "| latent | runs N(0,I) / learned | test ELBO N(0,I) | N(0,I) ex post | learned (joint) | learned ex post | "
             "IWAE NLL N(0,I) | learned | ex-post gain over the learned prior [95%] |", "|---|---|---|---|---|---|---|---|---|"]
    for c in results:
        m = lambda model, k: f(c.mean.get((model, k)), 5)  # noqa: E731
        learned_expost = (c.mean.get(("learned", "test_elbo"), 0) + c.mean.get(("learned", "kl_q_prior_lower_bound"), 0)
                          if ("learned", "kl_q_prior_lower_bound") in c.mean else None)
        lines.append(f"| {c.latent} | {c.n[0]} / {c.n[1]} | {m('normal', 'test_elbo')} | {m('normal', priors.EXPOST)} | "
                     f"{m('learned', 'test_elbo')} | {f(learned_expost, 5)} | {m('normal', 'iwae_nll')} | {m('learned', 'iwae_nll')} | "
                     f"{c.diffs['expost_gain_learned'].fmt()} |")
    lines += ["", "| latent | learned - N(0,I): test ELBO | IWAE NLL | joint - ex post (ELBO) | fd: learned prior - N(0,I) best "
              "| precision | recall |", "|---|---|---|---|---|---|---|"]
    for c in results:
        d = c.diffs
        lines.append(f"| {c.latent} | {d['test_elbo'].fmt()} | {d['iwae_nll'].fmt()} | {d['joint_vs_expost'].fmt()} | "
                     f"{d['fd.learned_prior_vs_normal_best'].fmt()} | {d['precision.learned_prior_vs_normal_best'].fmt()} | "
                     f"{d['recall.learned_prior_vs_normal_best'].fmt()} |")
    lines += ["", "For scale, published on binarised MNIST with other architectures (docs: References): Bauer & "
              "Mnih (2019, latent 50) test ELBO -89.0 with N(0,I), -87.3 ex post (+1.7), -86.6 joint (+2.4); Tomczak & "
              "Welling's VampPrior (K = 500) NLL 85.79 against 89.78 (-4.0). Our figures are nats on MNIST's grey levels "
              "read as Bernoulli means, so only the differences compare.", ""]
    return lines


def _every(rows: list[runs.Row]) -> list[str]:
    cols = [("test ELBO", "test_elbo"), ("rate", "test_kl"), ("bound", "kl_q_prior_lower_bound"), ("AU", "active_units"),
            ("KS act.", "ks_mean_active"), ("fd prior", "fd.prior"), ("fd gmm", "fd.gmm"), ("vs recon prior", "fd_vs_recon.prior"),
            ("NLL", "iwae_nll"), ("slope", "val_elbo_slope")]
    lines = ["## Appendix C: every experiment", "", "| run | " + " | ".join(c for c, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        lines.append(f"| {r.name} | " + " | ".join(summary.fmt(r.metrics.get(k)) for _, k in cols) + " |")
    return lines


def _table(found: list[answer.Answer]) -> list[str]:
    lines = ["## The answer", "", "| the thread's claim | verdict | what it rests on: difference [95% interval] | caveat |",
             "|---|---|---|---|"]
    for a in found:
        rests = f"{a.rests_on}: {a.number}" if a.diffs else a.rests_on
        lines.append(f"| {a.claim} ([more](#{a.section})) | **{a.verdict}** | {rests} | {a.caveat or ''} |")
    return lines + ["", doc(answer, 1), ""]


def _thread(pictures: list[dict]) -> list[str]:
    shown = ", ".join(p["name"] for p in pictures) or "none yet"
    return ["## The thread's picture", "",
            "The asker's plot, for the asker's encoder (2 x 500) and with the third layer (3 x 500), latent size 2, seed 0 "
            f"(runs: {shown}): the test set's codes coloured by digit over N(0,I)'s 1, 2 and 3 sd circles; beside them "
            "the decoder's reconstructions of the first test digits, 100 draws from N(0,I), and 100 from the density "
            "the validation codes chose, decoded.", "", f"![the thread's picture]({THREAD})", ""]


def _sections(found: list[answer.Answer]) -> list[str]:
    lines = []
    for (title, anchor, extra, method), fig in zip(SECTIONS, CLAIM_FIGURES):
        here = [a for a in found if a.section == anchor]
        lines += [f"## {title}", "", method, ""]
        for a in here:
            lines.append(f"**{a.claim}** {a.verdict[0].upper() + a.verdict[1:]}. {a.rests_on[0].upper() + a.rests_on[1:]}: "
                         f"{a.number}. {a.caveat}".rstrip())
            lines.append("")
        lines += [f"![{title}: each difference with its 95% interval]({fig})", ""]
        if extra:
            lines += [f"![{title}, the runs behind it]({extra})", ""]
    return lines


def _matched_longer(rows, epochs: int, claim1: depth.DepthClaim) -> list[tuple[str, stats.Diff, bool]]:
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


def render(rows: list[runs.Row], epochs: int, components: int, pictures: list[dict] = ()) -> tuple[str, list[str], dict]:
    """(study.md, the brief answer for README, the analyses the figures draw)."""
    used = [r for r in rows if r.converged]
    claim1 = depth.depth_claim(used, epochs)
    claim2 = latent.latent_claim(used, epochs)
    wide = width.width_claim(used, epochs)
    sampled = sampling.sampling([r for r in used if r.part(epochs) == "grid"])
    learned = priors.compare_priors(used, epochs)
    slice_latents = sorted({r.key.latent for r in used if r.part(epochs) == "slice"})
    compared = depth.comparisons(claim1) + latent.comparisons(used, epochs, slice_latents)
    on_slice_sampled = sampling.on_slice(sampled, [r for r in used if r.part(epochs) == "slice"])
    long_lines, checked = _convergence(used, epochs, compared, on_slice_sampled)
    found = [answer.depth_row(claim1, depth.warm_matched(used, epochs)), answer.width_row(wide),
             answer.asker_row(depth.asker(used, epochs)), *answer.latent_rows(used, claim2, epochs),
             answer.scale_row(used, epochs), *answer.sampling_rows(sampled), answer.holes_row(used, epochs),
             *answer.prior_rows(learned), answer.longer_row(*checked, _matched_longer(used, epochs, claim1))]
    head, gone = _header(rows, epochs, components)
    lines = (head + _table(found) + _thread(list(pictures)) + _sections(found) + long_lines
             + ["## Appendix B: the analyses in full", ""] + _depth(claim1) + _latent(claim2, used, epochs)
             + _sampling(sampled) + _priors(learned) + _every(rows) + [""] + gone)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip("\n") + "\n"  # sections with nothing to list leave no gap
    lacking = missing(rows, components)
    partial = ([f"Partial: {len(plan.design(components)) - len(lacking)} of {len(plan.design(components))} planned "
                "experiments so far (`make study` runs the rest); every verdict may change"] if lacking else [])
    brief = partial + [f"{a.short}: **{a.verdict}**" + (f" ({_lead(a)[0]}: {_lead(a)[1].fmt()})" if a.diffs else "")
                       for a in found]
    return text, brief, {"claim1": claim1, "sampled": sampled, "learned": learned, "answers": found,
                         "pictures": list(pictures)}


def _lead(answer) -> tuple:
    """The figure the README quotes for a row: the first one that decides its verdict, so that a
    "no" is never shown beside an interval that includes zero."""
    return next(((w, d) for w, d in answer.diffs if d.decided and d.verdict != "no clear change"), answer.diffs[0])


def readme_with(readme: str, brief: list[str]) -> str:
    if BEGIN not in readme or END not in readme:
        raise PriorgapError(f"README.md has no findings block ({BEGIN} ... {END}); restore it from git")
    head, rest = readme.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    block = "\n".join(f"- {x}." for x in brief)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def _figures(rows, epochs, analyses, out: Path) -> None:
    used = [r for r in rows if r.converged]
    draw = {"study_rate.png": lambda p: plots.rate_distortion(analyses["claim1"], used, epochs, p),
            "study_depth.png": lambda p: plots.depth_at_beta1(analyses["claim1"], p),
            "study_latent.png": lambda p: plots.latent_trend(used, epochs, p),
            "study_samplers.png": lambda p: plots.samplers(analyses["sampled"], p),
            "study_priors.png": lambda p: plots.prior_comparison(analyses["learned"], p),
            THREAD: lambda p: plots.thread(analyses["pictures"], p)}
    for (title, anchor, _, _), name in zip(SECTIONS, CLAIM_FIGURES):
        draw[name] = (lambda here, title: lambda p: plots.answers(here, p, title))(
            [a for a in analyses["answers"] if a.section == anchor], title)
    for name in FIGURES:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.tmp-", suffix=".png", dir=out)
        os.close(fd)
        try:
            draw[name](tmp)
            os.replace(tmp, out / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def pictures(rows: list[runs.Row], folder: Path) -> list[dict]:
    """The thread's picture's data, from the records of PICTURED that have their test codes."""
    import numpy as np

    by_name = {r.name: r for r in rows}
    out = []
    for name in PICTURED:
        codes, grids = folder / name / record.CODES_FILE, folder / name / record.GRIDS_FILE
        if name not in by_name or not (codes.is_file() and grids.is_file()):
            continue
        best = summary.best_fitted(by_name[name].metrics)
        with np.load(codes) as c, np.load(grids) as g:
            shown = {"reconstructions": "reconstruction", "N(0,I) draws": "prior", f"{best} draws": best}
            out.append({"name": name, "mu": c["mu"], "labels": c["labels"],
                        "grids": {label: g[key].reshape(len(g[key]), -1) / record.GREY_LEVELS for label, key in shown.items()}})
    return out


def main(argv=None):
    from ..common import config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=Path("reports/study.csv"))
    ap.add_argument("--records", type=Path, default=Path("reports/runs"), help="the runs' records (make study)")
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--readme", type=Path, default=Path("README.md"), help="whose findings block to rewrite ('' for none)")
    ap.add_argument("--epochs", type=int, default=plan.EPOCHS, help="the study's training epochs")
    args = ap.parse_args(argv)
    if not args.csv.is_file():
        raise PriorgapError(f"{args.csv}: not found; `git checkout {args.csv}`, or `make study` to run the experiments")
    rows = table.read(args.csv)
    if not any(r.part(args.epochs) == "grid" for r in rows):
        raise PriorgapError(f"{args.csv} holds no grid run of {args.epochs} epochs; pass --epochs, or `make study`")
    components = config.load(Path("params.yaml"), "model").prior.components if Path("params.yaml").is_file() else 100
    text, brief, analyses = render(rows, args.epochs, components, pictures(rows, args.records))
    readme = readme_with(args.readme.read_text(), brief) if str(args.readme) not in ("", ".") else None
    args.out.mkdir(parents=True, exist_ok=True)
    _figures(rows, args.epochs, analyses, args.out)
    atomic_write_text(args.out / "study.md", text)
    if readme is not None:
        atomic_write_text(args.readme, readme)
    for line in brief:
        print(f"report: {line}")
    print(f"report: {len(rows)} experiments -> {args.out / 'study.md'}")
