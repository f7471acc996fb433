"""The study report: reports/study.csv and reports/runs/ -> reports/study.md, its figures, and
README's findings.

    python -m priorgap.report [--csv reports/study.csv] [--records reports/runs] [--out reports]
                              [--readme README.md]                                    (make report)

Reads the committed runs file and the runs' records alone (runs_file.py, record.py), so any clone
rebuilds the committed report byte for byte, with no MLflow store. Every number in the prose is
computed here from them; design.py's design says which runs each section needs, and the report
lists the ones missing. The page opens with the answer, one row per claim of the thread
(answer.py), then the thread's own picture, one short section per claim with its figure, and the
appendices: convergence, the analyses in full, every experiment.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from pathlib import Path

from ..errors import PriorgapError
from ..io.outputs import atomic_write_text
from ..analysis import (answer, bound, decision, depth, known_families, latent_size, learned_prior, longer,
                        prior_sampling, sampling_answer, stats, width)
from ..study import design, record, runs, runs_file
from . import appendix, bound_section, decision_section, long_enough, opening, study_figures, thread_section

# (section title, anchor (answer.Answer.section), its detail figure or None, how it is measured)
SECTIONS = [
    ("Claim 1: depth", "claim-1-depth", "study_rate.png",
     "Depth changes the rate at beta = 1, so each depth's beta sweep traces a curve on the rate-distortion plane and "
     "the depths are compared at the middle of the rates both reach (`analysis/depth.py`)."),
    ("Claim 2: width", "claim-2-width", None,
     "The same matched-rate comparison for widths 125 and 1000 at depth 2 and latent size 10, with width at beta = 1 "
     "and depth at a narrow width beside it (`analysis/width.py`)."),
    ("Claim 3: the asker's third layer", "claim-3-the-askers-third-layer", None,
     "The asker's own runs: depth 2 against 3 at width 500 and latent size 2, beta = 1, five seeds each."),
    ("Claim 4: latent size", "claim-4-latent-size", "study_latent.png",
     "Per dimension: the mean KS statistic of q's active dimensions against N(0,1); jointly: the held-out lower bound "
     "on KL(q || N(0,I)) (`analysis/latent_size.py`)."),
    ("Claim 5: scale or shape", "claim-5-scale-or-shape", None,
     "The KL of q's moment-matched Gaussian to N(0,I) (its scale and correlation) as a share of the held-out bound: "
     "near 1 would be the thread's N(0, 2I); near 0, a mismatch of shape."),
    ("Claim 6: sampling N(0,I)", "claim-6-sampling-n0i", "study_samplers.png",
     "Each run's N(0,I) draws against the draws of the density its validation codes chose, paired within the run "
     "(`analysis/prior_sampling.py`)."),
    ("Claim 7: which draws go wrong", "claim-7-which-draws-go-wrong", None,
     "For each N(0,I) draw, the chosen density's log ratio to the prior; a draw in a hole (ratio below 1/10) is "
     "checked for landing on real digits (precision), against the draws outside holes."),
    ("Claim 8: a learned prior", "claim-8-a-learned-prior", "study_priors.png",
     "A VampPrior learned with the model at depth 2, against the N(0,I) model with its fitted density as the prior, "
     "the decoder fixed (`analysis/learned_prior.py`)."),
]
CLAIM_FIGURES = tuple(f"study_claim{i}.png" for i in range(1, len(SECTIONS) + 1))  # each claim's differences
FIGURES = ("study_rate.png", "study_depth.png", "study_latent.png", "study_samplers.png", "study_priors.png",
           thread_section.FILE, *CLAIM_FIGURES)
BEGIN, END = "<!-- study findings: written by `make report`, do not edit -->", "<!-- end of study findings -->"


def missing(rows: list[runs.Row], components: int) -> list[design.Planned]:
    have = {r.key for r in rows}
    return [p for p in design.design(components) if p.key not in have]


def _header(rows: list[runs.Row], epochs: int, components: int) -> tuple[list[str], list[str]]:
    """The runs the page rests on (Appendix C's opening: the answer needs no count of them), and the
    list of missing runs."""
    planned = design.design(components)
    lacking = missing(rows, components)
    count = {part: sum(r.part(epochs) == part for r in rows) for part in (*design.PARTS, "other")}
    of = {part: sum(p.part == part for p in planned) for part in design.PARTS}
    hours = sum(r.end_ms - r.start_ms for r in rows) / 3_600_000
    lines = [f"{len(rows)} of {len(planned)} planned experiments: "
             + "; ".join(f"{part} {count[part]} of {of[part]}" for part in design.PARTS)
             + (f"; {count['other']} at other settings, not used" if count["other"] else "")
             + f" ({epochs} epochs, the slice {2 * epochs}; {hours:.1f} hours of run time"
             + ("; missing runs are listed in Appendix C, and every verdict may change as they land" if lacking else "")
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


def _sections() -> list[str]:
    lines = []
    for (title, _, extra, method), fig in zip(SECTIONS, CLAIM_FIGURES):
        # its verdicts, figures and caveats are the answer table's rows (and its figure's titles): not repeated here
        lines += [f"## {title}", "", method, ""]
        lines += [f"![each difference with its 95% interval]({fig})", ""]
        if extra:
            lines += [f"![the runs behind it]({extra})", ""]
    return lines


def grid_instrument(rows: list[runs.Row], epochs: int) -> str:
    """The instrument that measured most of the grid's runs: the answer table's verdicts rest on it
    alone (the committed study's: the fixed-step one)."""
    grid = [r.key.instrument for r in rows if r.part(epochs) == "grid"]
    return max(sorted(set(grid)), key=grid.count) if grid else runs.FIXED


def _decision(rows: list[runs.Row], epochs: int, components: int, families: dict | None) -> tuple:
    """The decision's arms (its runs alone, measured by the converging instrument), how many of its
    planned runs are measured, its known answers, and the real bound of the encoders they used."""
    planned = {p.key for p in design.design(components) if p.part == "decision"}
    used = {r["encoder"] for r in (families or {}).get("rows", [])}
    real = {
        r.name: r.metrics[decision.BOUND] for r in rows if r.name in used and r.metrics.get(decision.BOUND) is not None
    }
    return decision.arms(rows, epochs), sum(r.key in planned for r in rows), len(planned), families, real


def render(
    rows: list[runs.Row],
    epochs: int,
    components: int,
    pictures: list[dict] = (),
    bounds: dict | None = None,
    fd_spread: tuple | None = None,
    known: dict | None = None,
    families: dict | None = None,
) -> tuple[str, list[str], dict]:
    """(study.md, the brief answer for README, the analyses the figures draw)."""
    # one instrument per verdict: the one the grid's runs were measured by (the decision part has its own)
    instrument = grid_instrument(rows, epochs)
    used = [r for r in rows if r.converged and r.key.instrument == instrument]
    claim1 = depth.depth_claim(used, epochs)
    claim2 = latent_size.latent_claim(used, epochs)
    wide = width.width_claim(used, epochs)
    sampled = prior_sampling.sampling([r for r in used if r.part(epochs) == "grid"])
    learned = learned_prior.compare_priors(used, epochs)
    slice_latents = sorted({r.key.latent for r in used if r.part(epochs) == "slice"})
    compared = depth.comparisons(claim1) + latent_size.comparisons(used, epochs, slice_latents)
    on_slice_sampled = prior_sampling.on_slice(sampled, [r for r in used if r.part(epochs) == "slice"])
    long_lines, checked = long_enough.convergence(used, epochs, compared, on_slice_sampled)
    sens = bound.sensitivity(used, bounds or {}, epochs)
    brackets = bound.brackets(used, epochs)
    # the decision's row rests on its own runs alone (the converging instrument), beside the grid's
    arms = decision.arms(rows, epochs)
    pairs = known_families.under_families(families["rows"]) if families else None
    decided = decision.answer_row(arms, pairs)
    found = [
        answer.depth_row(claim1, depth.warm_matched(used, epochs), decided is not None),
        *([decided] if decided else []),
        answer.width_row(wide),
        answer.asker_row(
            depth.asker(used, epochs),
            opening.grid_mean(used, epochs, depth.BOUND, depth=2, latent=2),
            answer.meet(brackets, depth.ASKER["latent"], depth.ASKER_DEPTHS),
        ),
        *answer.latent_rows(used, claim2, epochs),
        answer.scale_row(used, epochs),
        *sampling_answer.sampling_rows(sampled),
        sampling_answer.holes_row(used, epochs),
        *sampling_answer.prior_rows(learned),
        longer.longer_row(
            *checked, longer.matched_longer(used, epochs, claim1), longer.elbo_gain_when_longer(used, epochs)
        ),
    ]
    opening.under_every_density(found, sens)
    head, gone = _header(rows, epochs, components)
    lines = (
        ["# priorgap study: does the aggregate posterior q(z) match N(0, I)?", ""]
        + opening.in_short(found, used, epochs, decision.in_plain_words(decided, arms, pairs))
        + opening.answer_table(found)
        + thread_section.lines(list(pictures))
        + _sections()
        + long_lines
        + ["## Appendix B: the analyses in full", ""]
        + decision_section.in_full(*_decision(rows, epochs, components, families))
        + appendix.depth_in_full(claim1)
        + appendix.latent_in_full(claim2, used, epochs)
        + appendix.sampling_in_full(sampled, fd_spread)
        + appendix.priors_in_full(learned)
        + bound_section.bound_in_full(brackets, sens, known, claim1.at_beta1)
        + appendix.every_experiment(rows, head)
        + [""]
        + gone
    )
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip("\n") + "\n"  # sections with nothing to list leave no gap
    lacking = missing(rows, components)
    # the status closes the findings: a reader meets the answers first
    partial = (
        [
            f"Partial: {len(design.design(components)) - len(lacking)} of {len(design.design(components))} planned "
            "experiments so far (`make study` runs the rest); every verdict may change"
        ]
        if lacking
        else []
    )
    brief = [
        f"{a.short}: **{a.verdict}**"
        + (f" ({a.rests_on}, {opening.lead(a)[0]}: {opening.lead(a)[1].fmt()})" if a.diffs else "")
        for a in found
    ] + partial
    return (
        text,
        brief,
        {"claim1": claim1, "sampled": sampled, "learned": learned, "answers": found, "pictures": list(pictures)},
    )


def readme_with(readme: str, brief: list[str]) -> str:
    if BEGIN not in readme or END not in readme:
        raise PriorgapError(f"README.md has no findings block ({BEGIN} ... {END}); restore it from git")
    head, rest = readme.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    block = "\n".join(f"- {x}." for x in brief)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def _figures(rows, epochs, analyses, out: Path) -> None:
    used = [r for r in rows if r.converged]
    draw = {
        "study_rate.png": lambda p: study_figures.rate_distortion(analyses["claim1"], used, epochs, p),
        "study_depth.png": lambda p: study_figures.depth_at_beta1(analyses["claim1"], p),
        "study_latent.png": lambda p: study_figures.latent_trend(used, epochs, p),
        "study_samplers.png": lambda p: study_figures.samplers(analyses["sampled"], p),
        "study_priors.png": lambda p: study_figures.prior_comparison(analyses["learned"], p),
        thread_section.FILE: lambda p: thread_section.figure(analyses["pictures"], p),
    }
    for (title, anchor, _, _), name in zip(SECTIONS, CLAIM_FIGURES):
        draw[name] = (lambda here, title: lambda p: study_figures.answers(here, p, title))(
            [a for a in analyses["answers"] if a.section == anchor], title
        )
    for name in FIGURES:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.tmp-", suffix=".png", dir=out)
        os.close(fd)
        try:
            draw[name](tmp)
            os.replace(tmp, out / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def fd_spread(path: Path) -> tuple[float, float, int] | None:
    """How far each sampler's FD moves with the classifier's seed alone (sd over mean): the smallest
    and largest over samplers, and the seeds; None without a committed classifier spread."""
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    shares = [stats.spread(v)[1] / stats.spread(v)[0] for k, v in record["figures"].items() if k.startswith("fd.")]
    return (min(shares), max(shares), len(record["seeds"])) if shares else None


def main(argv=None):
    from ..config import schema

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=Path("reports/study.csv"))
    ap.add_argument("--records", type=Path, default=Path("reports/runs"), help="the runs' records (make study)")
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument(
        "--readme", type=Path, default=Path("README.md"), help="whose findings block to rewrite ('' for none)"
    )
    ap.add_argument("--epochs", type=int, default=design.EPOCHS, help="the study's training epochs")
    args = ap.parse_args(argv)
    if not args.csv.is_file():
        raise PriorgapError(f"{args.csv}: not found; `git checkout {args.csv}`, or `make study` to run the experiments")
    rows = runs_file.read(args.csv)
    if not any(r.part(args.epochs) == "grid" for r in rows):
        raise PriorgapError(f"{args.csv} holds no grid run of {args.epochs} epochs; pass --epochs, or `make study`")
    components = schema.load(Path("params.yaml"), "model").prior.components if Path("params.yaml").is_file() else 100
    bounds = {
        r.name: bound.bounds_of(record.read(args.records / r.name)["metrics"]["fit_posterior"])
        for r in rows
        if record.exists(args.records, r.name)
    }
    known, families = (args.out / f"{name}.json" for name in ("known_answer", "known_families"))
    text, brief, analyses = render(
        rows,
        args.epochs,
        components,
        thread_section.pictures(rows, args.records),
        bounds,
        fd_spread(args.out / "classifier_spread.json"),
        json.loads(known.read_text()) if known.is_file() else None,
        json.loads(families.read_text()) if families.is_file() else None,
    )
    readme = readme_with(args.readme.read_text(), brief) if str(args.readme) not in ("", ".") else None
    args.out.mkdir(parents=True, exist_ok=True)
    instrument = grid_instrument(rows, args.epochs)
    _figures([r for r in rows if r.key.instrument == instrument], args.epochs, analyses, args.out)
    atomic_write_text(args.out / "study.md", text)
    if readme is not None:
        atomic_write_text(args.readme, readme)
    for line in brief:
        print(f"report: {line}")
    print(f"report: {len(rows)} experiments -> {args.out / 'study.md'}")
