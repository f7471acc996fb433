"""The study report: every experiment in the MLflow store -> reports/study.{md,csv} and figures.

    python -m priorgap.report [--out reports] [--experiment priorgap] [--epochs N]   (or: make report)

The study's epochs default to params.yaml's train.epochs (the grid sweeps params.yaml); runs at
twice as many are the convergence slice, runs at other counts are counted and left out.

Reads the pipeline runs through MLflow's search API (MLFLOW_TRACKING_URI, else mlflow.db at the
repository root), so it sees the experiments of every machine that logged to the same server.
Not a DVC stage: it spans experiments, while a DVC stage belongs to one; nothing imports it.
Every verdict names the rows it rests on; study.csv holds them all.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from .. import PriorgapError
from ..common import config, store
from ..common.outputs import atomic_dir
from . import claims, plots, runs, sampling, stats, summary

SETTINGS = [("depth", runs.DEPTH), ("latent", runs.LATENT), ("seed", runs.SEED), ("epochs", runs.EPOCHS)]
TABLE = [("test ELBO", "test_elbo"), ("slope", "val_elbo_slope"), ("KL bound", "kl_q_prior_lower_bound"),
         ("KL(q‖p)", "kl_q_prior"), ("info pop.", runs.POPULATION_INFO), ("MI", "mutual_info"), ("AU", "active_units"), ("KS act.", "ks_mean_active"),
         ("holes", "holes_heldout"), ("fd prior", "fd.prior"), ("fd gmm", "fd.gmm"), ("fd flow", "fd.flow"),
         ("fd 2-stage", "fd.two_stage"), ("fd replay", "fd.aggregate"), ("vs recon prior", "fd_vs_recon.prior")]


def store_name(uri: str) -> str:
    """The store in words that hold on any machine: no absolute path of this one."""
    db = store.sqlite_path(uri)
    if db is None:
        return f"the MLflow server `{uri}`"
    try:
        return f"`{db.relative_to(store.repo_root())}` at the repository root"
    except ValueError:
        return f"the SQLite store `{db.name}`"


def _comparisons(claim: claims.Claim, x: str) -> list[str]:
    first = next(iter(claim.tables.values()))
    if not first:
        return []
    c0 = next(iter(first.values()))
    lines = [f"| within | measure | {x} = {c0.low_x:g} | {x} = {c0.high_x:g} | difference ± se | verdict |",
             "|---|---|---|---|---|---|"]
    for measure, table in claim.tables.items():
        for w, c in table.items():
            lines.append(f"| {w:g} | {measure} | {sum(c.low) / len(c.low):.4g} (n={len(c.low)}) | "
                         f"{sum(c.high) / len(c.high):.4g} (n={len(c.high)}) | {c.diff:+.4g} ± {c.se:.2g} | {c.verdict} |")
    return lines + [""]


def _claim_md(claim: claims.Claim, x: str) -> list[str]:
    plain = {"holds": "The data support it.", "does not hold": "The data do not support it.",
             "holds only by keeping less information": "The data support it only in a weak sense: the deeper encoder's q "
             "is closer to N(0,I) because the model kept less information about x, not because q is better shaped.",
             "cannot be decided": "The data cannot decide it."}[claim.verdict]
    return ([f"**{claim.text}: {claim.verdict}.** {plain} Why: {claim.reason}.", ""]
            + [f"- {f}" for f in claim.findings] + [""] + _comparisons(claim, x))


def render(rows, grid, longer, epochs, judged, answers, on_slice, checks, persisting, uri: str, other: int) -> str:
    used = [r for r in grid if r.converged]
    left_out = [r for r in grid if not r.converged]
    values = lambda key: ", ".join(sorted({r.params[key] for r in grid}, key=float))  # noqa: E731
    minutes = sum(r.end_ms - r.start_ms for r in rows) / 60_000
    span = (max(r.end_ms for r in rows) - min(r.start_ms for r in rows)) / 60_000
    seeds = {(r.x(runs.DEPTH), r.x(runs.LATENT)): 0 for r in grid}
    for r in grid:
        seeds[(r.x(runs.DEPTH), r.x(runs.LATENT))] += 1
    lines = [
        "# priorgap study: how well does the aggregate posterior match N(0,I)?", "",
        f"{len(rows)} experiments from {store_name(uri)}: the grid ({len(grid)} runs of {epochs} epochs; encoder depth "
        f"{values(runs.DEPTH)} with the decoder held at {grid[0].params.get('model.decoder.depth')} x "
        f"{grid[0].params.get('model.decoder.width')}; latent size {values(runs.LATENT)}; seeds {values(runs.SEED)}) "
        f"and a convergence slice ({len(longer)} runs of {2 * epochs} epochs, one seed)"
        + (f"; {other} run{'s' * (other > 1)} of the store at other epoch counts "
           f"{'are' if other > 1 else 'is'} not part of it" if other else "") + ". "
        f"Run time summed over the experiments: {minutes:.0f} minutes; from the first one's start to the last one's "
        f"end: {span:.0f} minutes (two run at a time on two cores; the span also counts any pause between sessions). "
        "Regenerate with `make report`; every number below is a row, or a mean over rows, of `study.csv`.", "",
    ]
    short = [f"depth {d:g}, latent {latent:g}: {n} seeds" for (d, latent), n in seeds.items() if n < 3]
    sliced = {(r.x(runs.DEPTH), r.x(runs.LATENT)) for r in longer}
    short += [f"no {2 * epochs}-epoch run at depth {d:g}, latent {latent:g}" for d, latent in seeds if (d, latent) not in sliced]
    if short:
        lines += ["Missing: " + "; ".join(short) + ".", ""]
    lines += ["## Training long enough", "",
              f"A run counts as converged when its validation ELBO gains at most {runs.SLOPE_LIMIT} nats per epoch "
              f"over its last 20% of epochs (`val_elbo_slope`). {len(used)} of {len(grid)} grid runs are; the others "
              "are left out of every verdict" + (": " + ", ".join(f"{r.name} ({summary.fmt(r.metrics.get('val_elbo_slope'))})"
                                                                for r in left_out) if left_out else "") + ".", ""]
    if checks:
        inside = sum(c.within for c in checks)
        lines += [f"At {2 * epochs} epochs, {inside} of {len(checks)} figures lie within the seed spread (mean ± "
                  f"{stats.Z:g} sd over the seeds at {epochs} epochs) of the same setting; those that do not:", ""]
        lines += ["| depth | latent | figure | seeds at " f"{epochs} (mean ± sd, n) | at {2 * epochs} |", "|---|---|---|---|---|"]
        for c in checks:
            if not c.within:
                m, sd, n = c.seeds
                lines.append(f"| {c.depth:g} | {c.latent:g} | {c.metric} | {m:.4g} ± {sd:.2g} ({n}) | {c.longer:.4g} |")
        lines.append("")
    if persisting:
        agree = sum(q.agrees for _, q in persisting)
        lines += [f"Would the verdicts change with more training? Each comparison below is repeated on the slice "
                  f"(one seed at {2 * epochs} epochs): {agree} of {len(persisting)} point the same way (for \"no clear "
                  f"change\": within {stats.Z:g} single-run sd of zero).", "",
                  f"| claim | within | measure | at {epochs} epochs: difference ± se (verdict) | at {2 * epochs} epochs | "
                  "same way |", "|---|---|---|---|---|---|"]
        for claim, q in persisting:
            lines.append(f"| {claim} | {q.grid.within:g} | {q.measure} | {q.grid.diff:+.4g} ± {q.grid.se:.2g} "
                         f"({q.grid.verdict}) | {q.longer:+.4g} | {'yes' if q.agrees else '**no**'} |")
        lines.append("")
    log_n = grid[0].log_n
    lines += ["## Claim 1: encoder depth", "",
              "Closer is judged on the held-out bound (the population's q). Information kept is judged on the "
              f"population information `{runs.POPULATION_INFO}` = avg_kl - kl_q_prior_lower_bound (ELBO surgery "
              "on the population; not capped). The logged `mutual_info` is the index-code information of the "
              f"training mixture, avg_kl - kl_q_prior: it cannot exceed log N = {log_n:.2f} and, once the codes of "
              "the training images no longer overlap, sits just below it whatever the encoder keeps; it is shown "
              "beside, not judged.", ""] + _claim_md(judged[0], "depth")
    lines += ["![ELBO surgery](study_surgery.png)", "",
              "## Claim 2: latent size", ""] + _claim_md(judged[1], "latent size")
    lines += ["![match](study_match.png)", "", "## Does sampling N(0,I) hurt?", ""]
    lines += [f"- latent size {latent:g}: {text}." for latent, text in answers.items()] + [""]
    if not answers:  # runs from before the validation codes: no honest choice of the best fitted density
        lines += ["No run of this grid carries the fitted densities' validation gains (`val_gain.<density>`), which "
                  "choose the best fitted density; re-run the grid with the current code to answer this.", ""]
    elif longer:
        (fd, n), (recon, _) = (on_slice[k] for k in ("fd", "fd_vs_recon"))
        lines += [f"With more training (the slice, one seed at {2 * epochs} epochs), N(0,I) is still worse than the "
                  f"grid's best fitted density of the same setting in {recon} of {n} runs on fd to the "
                  f"reconstructions and in {fd} of {n} on fd to test digits.", ""]
    lines += ["![samplers](study_samplers.png)", "", "## Every experiment", "",
              "| run | " + " | ".join(c for c, _ in SETTINGS + TABLE) + " | converged |",
              "|" + "---|" * (len(SETTINGS) + len(TABLE) + 2)]
    for r in rows:
        cells = [r.params.get(k, "") for _, k in SETTINGS] + [summary.fmt(r.metrics.get(k)) for _, k in TABLE]
        lines.append(f"| {r.name} | " + " | ".join(cells) + f" | {'yes' if r.converged else 'no'} |")
    return "\n".join(lines) + "\n"


def write_csv(rows, path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", *(n for n, _ in SETTINGS), "decoder_depth", "decoder_width", "converged", *summary.HEADLINE,
                    runs.POPULATION_INFO])
        for r in rows:
            w.writerow([r.name, *(r.params.get(k, "") for _, k in SETTINGS), *(r.params.get(k, "") for k in runs.DECODER),
                        r.converged, *(r.metrics.get(k, "") for k in (*summary.HEADLINE, runs.POPULATION_INFO))])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--experiment", default=store.EXPERIMENT)
    ap.add_argument("--epochs", type=int, help="the study's training epochs (default: train.epochs of params.yaml)")
    args = ap.parse_args(argv)
    uri = store.tracking_uri()
    store.check_reachable(uri)
    import mlflow

    rows = runs.fetch_rows(mlflow.MlflowClient(uri), args.experiment)
    if not rows:
        raise PriorgapError(f"no complete pipeline runs in experiment '{args.experiment}' at {store_name(uri)}; "
                            "run `dvc repro` or `dvc exp run` first")
    learned = [r for r in rows if r.prior != "normal"]
    if learned:  # the claims are about the N(0, I) model: a learned prior's runs must not join its seeds
        print(f"report: {len(learned)} runs with a learned prior left out (this report compares N(0,I) models)")
        rows = [r for r in rows if r.prior == "normal"]
    epochs = args.epochs or config.load(store.repo_root() / "params.yaml", "train").epochs
    grid, longer = runs.split_epochs(rows, epochs)
    if not grid:
        raise PriorgapError(f"no complete pipeline runs of {epochs} epochs (of {len(rows)}); pass --epochs, or run the grid")
    other, rows = len(rows) - len(grid) - len(longer), [r for r in rows if r.x(runs.EPOCHS) in (epochs, 2 * epochs)]
    used = [r for r in grid if r.converged]
    judged = [claims.depth_claim(used), claims.latent_claim(used)]
    results = sampling.sampling(used)
    answers, on_slice = sampling.sampling_answers(results), sampling.sampling_on_slice(results, longer)
    checks = stats.convergence(grid, longer)
    persisting = ([("depth", q) for q in claims.persistence(judged[0], longer, runs.DEPTH, runs.LATENT)]
                  + [("latent size", q) for q in claims.persistence(judged[1], longer, runs.LATENT, runs.DEPTH)])
    with atomic_dir(args.out) as tmp:
        if used:
            plots.surgery(used, tmp / "study_surgery.png")
            plots.match(used, tmp / "study_match.png")
            plots.samplers(used, tmp / "study_samplers.png")
        write_csv(rows, tmp / "study.csv")
        (tmp / "study.md").write_text(render(rows, grid, longer, epochs, judged, answers, on_slice, checks, persisting, uri, other))
    for c in judged:
        print(f"report: {c.text}: {c.verdict}")
    for latent, text in answers.items():
        print(f"report: does N(0,I) hurt at latent size {latent:g}? {text.split(':')[0]}")
    print(f"report: {len(rows)} experiments ({len(used)} converged grid runs) -> {args.out / 'study.md'}")

