"""The committed study in the user's own MLflow: every run's record (reports/runs/) as a row of its
own experiment, so the study's runs can be compared in the MLflow UI like any `dvc repro`.

    python -m priorgap.study.to_mlflow [--records reports/runs] [--experiment priorgap-study]   (make study-mlflow)

Into the tracking store (MLFLOW_TRACKING_URI, else the repository's mlflow.db). Each run gets its
params, the headline the summarize stage logged (the runs file's columns), every other metric of
its record under its stage's name (`fit_posterior.densities.gmm.heldout_gain`), its stages'
seconds (`seconds.train`), its start and end, and its sample grids as images (at latent size 2
also the thread's picture of its test codes). A row is found again by its name, so a second call
adds nothing; a saved view ("study") shows the settings the study varies and the figures that
answer the question. One more run, "the answer", holds the study's answer: the answer table of
reports/study.md as an MLflow table (its Evaluation/Artifacts tab shows it), each verdict as a
tag, and study.md with its figures as artifacts. It is logged anew whenever study.md changes.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from ..tracking import stage_runs, store
from ..summary import headline
from ..io.outputs import flatten_dict
from . import record

EXPERIMENT = "priorgap-study"
ANSWER = "the answer"  # the study-level run's name
ANSWER_HEADING = "## The answer, claim by claim"
RUN_TAG = "priorgap.study_run"  # the run's name: how a second call finds it
VIEW = "study"
# The study compares runs: the figures that answer the question first, so that at 1,400 px, with
# MLflow's assistant panel open, they are in view beside the run's name, which spells its
# settings (depth, width, latent size, beta, seed; a default left out); the settings follow.
VIEW_METRICS = [
    "kl_q_prior_lower_bound",
    "fd.prior",
    headline.BEST_FD,
    *(m for m in headline.VIEW_METRICS if m not in ("kl_q_prior_lower_bound", "fd.prior", headline.BEST_FD)),
]


def metrics_of(rec: dict) -> dict[str, float]:
    """The headline (as the runs file holds it), the best fitted density's FD, every stage's
    figures by their stage, and the stages' seconds: numbers only (MLflow's metrics)."""
    values = record.row(rec).metrics
    out = {k: v for k, v in {**values, **headline.view_figures(values)}.items() if v is not None}
    for stage, figures in rec["metrics"].items():
        for k, v in flatten_dict(figures).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
                out[f"{stage}.{k}"] = float(v)
    out.update({f"seconds.{stage}": s for stage, s in rec["stage_seconds"].items()})
    return {k: float(v) for k, v in out.items() if v is not None}


def pictures(folder: Path, out: Path) -> list[Path]:
    """The run's sample grids (and its test codes at latent size 2) as PNG files in `out`."""
    import matplotlib.pyplot as plt

    from ..samples.sample_figures import tile

    made = []
    with np.load(folder / record.GRIDS_FILE) as grids:
        for name in grids.files:
            path = out / f"{name}.png"
            plt.imsave(
                path, tile(grids[name].reshape(len(grids[name]), -1) / record.GREY_LEVELS), cmap="gray", vmin=0, vmax=1
            )
            made.append(path)
    codes = folder / record.CODES_FILE
    if codes.is_file():
        with np.load(codes) as c:
            fig, ax = plt.subplots(figsize=(5, 5))
            ax.scatter(c["mu"][:, 0], c["mu"][:, 1], c=c["labels"], cmap="tab10", s=1, alpha=0.5)
            ax.set_title(f"{folder.name}: test codes by digit")
            ax.set_aspect("equal")
            fig.savefig(out / "test_codes.png", dpi=100)
            plt.close(fig)
        made.append(out / "test_codes.png")
    return made


def log_run(client, experiment_id: str, folder: Path) -> bool:
    """One record as one finished row; False when the store already holds it."""
    from mlflow.entities import Metric, Param

    rec = record.read(folder)
    name = rec["name"]
    if client.search_runs([experiment_id], f"tags.`{RUN_TAG}` = '{name}'", max_results=1):
        return False
    run = client.create_run(
        experiment_id,
        start_time=rec["start_ms"],
        run_name=name,
        tags={RUN_TAG: name, stage_runs.KIND_TAG: "study", "worker": rec["worker"]},
    )
    rid = run.info.run_id
    metrics = [Metric(k, v, rec["end_ms"], 0) for k, v in metrics_of(rec).items()]
    params = [Param(k, str(v)) for k, v in rec["params"].items()]
    for i in range(0, max(len(metrics), len(params)), 100):  # MLflow's per-request limits
        client.log_batch(rid, metrics=metrics[i : i + 100], params=params[i : i + 100])
    with tempfile.TemporaryDirectory() as tmp:
        for path in pictures(folder, Path(tmp)):
            client.log_artifact(rid, str(path), artifact_path="samples")
    client.log_text(rid, json.dumps(rec, indent=1, sort_keys=True), "record.json")
    client.set_terminated(rid, status="FINISHED", end_time=rec["end_ms"])
    return True


def answer_table(study_md: str) -> dict[str, list[str]]:
    """The answer table of study.md, column -> cells (what mlflow.log_table takes), links dropped."""
    import re

    lines = study_md.split(ANSWER_HEADING, 1)[1].lstrip("\n").splitlines()
    rows = [line for line in lines[: next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))]]
    cells = [[re.sub(r" ?\(\[more\]\([^)]*\)\)|\*\*", "", c).strip() for c in r.strip("|").split(" | ")] for r in rows]
    header, body = cells[0], cells[2:]  # cells[1] is the |---| rule
    return {h: [row[i] for row in body] for i, h in enumerate(header)}


def log_answer(client, experiment_id: str, reports: Path) -> bool:
    """The study-level run, once per version of study.md (found by the text's hash)."""
    import hashlib

    text = (reports / "study.md").read_text()
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    if client.search_runs([experiment_id], f"tags.`{RUN_TAG}` = '{ANSWER}' and tags.`priorgap.study_md` = '{key}'"):
        return False
    table = answer_table(text)
    tags = {RUN_TAG: ANSWER, "priorgap.study_md": key, stage_runs.KIND_TAG: "answer"}
    tags.update({f"verdict.{i + 1:02d}": v[:250] for i, v in enumerate(table.get("verdict", []))})
    run = client.create_run(experiment_id, run_name=ANSWER, tags=tags)
    client.log_table(run.info.run_id, table, "answer_table.json")
    client.log_artifact(run.info.run_id, str(reports / "study.md"))
    for figure in sorted(reports.glob("study_*.png")):
        client.log_artifact(run.info.run_id, str(figure), artifact_path="figures")
    client.set_terminated(run.info.run_id, status="FINISHED")
    return True


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=Path, default=Path("reports/runs"), help="the committed runs' records")
    ap.add_argument("--experiment", default=EXPERIMENT, help="the MLflow experiment the rows go to")
    ap.add_argument("--reports", type=Path, default=Path("reports"), help="where study.md and its figures are")
    args = ap.parse_args(argv)
    folders = (
        sorted(p for p in args.records.iterdir() if record.exists(args.records, p.name))
        if args.records.is_dir()
        else []
    )
    if not folders:
        from ..errors import PriorgapError

        raise PriorgapError(f"{args.records}: no run records; `git checkout {args.records}`, or `make study`")
    uri = store.tracking_uri()
    store.check_reachable(uri)
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp_id = store.experiment_id(client, uri, args.experiment)
    added = sum(log_run(client, exp_id, folder) for folder in folders)
    answered = log_answer(client, exp_id, args.reports) if (args.reports / "study.md").is_file() else False
    stage_runs.save_view(client, exp_id, VIEW, "study", VIEW_METRICS, headline.VIEW_PARAMS, newest_first=False)
    print(
        f"study_mlflow: {added} runs added, {len(folders) - added} already there, in {store.shown(uri)} (experiment "
        f"{args.experiment}){f'; the answer table as the run {ANSWER!r}' if answered else ''}; "
        f"`make ui`, then {store.view_url(exp_id, VIEW)}"
    )


if __name__ == "__main__":
    from ..config.cli import run_stage

    run_stage("study_mlflow", main)
