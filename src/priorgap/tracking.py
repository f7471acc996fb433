"""MLflow tracking shared by every stage.

Store: `MLFLOW_TRACKING_URI` when set (a server, say), else SQLite `mlflow.db` at the repository
root, as an absolute path. DVC runs queued experiments in a copy under .dvc/tmp/exps/ and sets
DVC_ROOT to the parent repository there, so every copy writes to the one store. Artifacts go to
`mlartifacts/` next to the database (a server chooses its own).

Grouping: one *pipeline run* (parent) per experiment, one *stage run* (child) per stage that
actually executes. DVC skips cached stages without running them, so a stage never assumes its
upstream stages logged anything in this pipeline run; the parent is found again by a key:
the DVC experiment name (when set), the git commit, uncommitted code changes and params.yaml. The
same code and params land in the same row; any change opens a new one.

`import mlflow` costs about 2 s: it is imported only once a stage's params have validated.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import PriorgapError

EXPERIMENT = "priorgap"
PIPELINE_TAG = "priorgap.pipeline"
STAGE_TAG = "priorgap.stage"


class TrackingError(PriorgapError):
    pass


# --- where things go ----------------------------------------------------------------------------


def repo_root() -> Path:
    """The repository whose mlflow.db we share: DVC_ROOT inside a DVC experiment copy, else the
    nearest folder upward from the current one that holds dvc.yaml."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    return here


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def artifact_location(uri: str) -> str | None:
    db = _sqlite_path(uri)
    return (db.parent / "mlartifacts").as_uri() if db is not None else None


def check_reachable(uri: str) -> None:
    """Fail fast, before any work, with a line that says how to fix the store."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as r:
                r.read()
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise TrackingError(
                f"MLflow tracking server {uri} is unreachable ({reason}); start it "
                "(`mlflow server --host 127.0.0.1 --port 5000 ...`) or unset MLFLOW_TRACKING_URI "
                "to use the local mlflow.db"
            ) from None
        return
    db = _sqlite_path(uri)
    if db is not None and not os.access(db.parent if not db.exists() else db, os.W_OK):
        raise TrackingError(
            f"MLflow store {db} is not writable; fix its permissions or set MLFLOW_TRACKING_URI"
        )


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True)
        return out.stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def git_commit() -> str:
    return _commit_at(os.getcwd())


@functools.lru_cache(maxsize=8)  # asked three times per stage; HEAD does not move during one
def _commit_at(cwd: str) -> str:
    return _git("rev-parse", "HEAD").strip() or "unknown"


def pipeline_key(params_path: Path) -> str:
    """Same experiment name, commit, uncommitted code and params -> same pipeline run."""
    h = hashlib.sha256()
    h.update(os.environ.get("DVC_EXP_NAME", "").encode())
    h.update(git_commit().encode())
    # Only code counts: dvc.lock and git-tracked metrics change after every stage and must not
    # split one pipeline run into several.
    h.update(_git("diff", "HEAD", "--", "src", "stages", "dvc.yaml").encode())
    h.update(Path(params_path).read_bytes())
    return h.hexdigest()[:16]


# --- runs ---------------------------------------------------------------------------------------


@dataclass
class StageRun:
    """What a stage logs: to its own run, and (for headline figures) to the pipeline run."""

    client: object
    run_id: str
    parent_id: str
    stage: str

    def log_metrics(self, metrics: dict, step: int | None = None, summary: bool = False) -> None:
        import mlflow

        clean = {k: float(v) for k, v in metrics.items() if v is not None}
        mlflow.log_metrics(clean, step=step)
        if summary:
            self.summarize(clean)

    def summarize(self, metrics: dict, stage: str | None = None) -> None:
        """Headline figures on the pipeline run only, as <stage>.<name> (one row per experiment)."""
        _log_to(self.client, self.parent_id, metrics={f"{stage or self.stage}.{k}": v for k, v in metrics.items()})

    def summarize_params(self, params: dict) -> None:
        _log_to(self.client, self.parent_id, params=params)

    def set_tags(self, tags: dict) -> None:
        import mlflow

        mlflow.set_tags(tags)
        for k, v in tags.items():
            self.client.set_tag(self.parent_id, k, str(v))

    def log_artifact(self, path, folder: str | None = None) -> None:
        import mlflow

        if Path(path).is_dir():
            mlflow.log_artifacts(str(path), artifact_path=folder)
        else:
            mlflow.log_artifact(str(path), artifact_path=folder)


def _log_to(client, run_id: str, metrics: dict | None = None, params: dict | None = None) -> None:
    """One batched write (SQLite commits per call: a hundred single writes take a second)."""
    import time

    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    ms = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v is not None]
    ps = [Param(k, str(v)) for k, v in (params or {}).items()]
    for i in range(0, max(len(ms), len(ps)), 100):  # MLflow's per-request limits
        client.log_batch(run_id, metrics=ms[i : i + 100], params=ps[i : i + 100])


def _experiment_id(client, uri: str) -> str:
    from mlflow.exceptions import MlflowException

    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location(uri))
    except MlflowException:  # another worker created it first
        return client.get_experiment_by_name(name).experiment_id


def ensure_store() -> str:
    """Create the store and experiment now (before parallel workers race on SQLite's migration)."""
    uri = tracking_uri()
    check_reachable(uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    return _experiment_id(mlflow.MlflowClient(), uri)


def _pipeline_run(client, exp_id: str, key: str) -> str:
    found = client.search_runs(
        [exp_id], filter_string=f"tags.`{PIPELINE_TAG}` = '{key}'", max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    if found:
        return found[0].info.run_id
    exp_name = os.environ.get("DVC_EXP_NAME")
    tags = {PIPELINE_TAG: key, "git_commit": git_commit(), "priorgap.kind": "pipeline"}
    if exp_name:
        tags["dvc_exp_name"] = exp_name
    return client.create_run(exp_id, tags=tags, run_name=exp_name or f"repro-{key[:8]}").info.run_id


@contextlib.contextmanager
def stage_run(stage: str, params: dict, params_path: Path = Path("params.yaml"), tags: dict | None = None):
    """A child MLflow run for one stage under its pipeline run; FAILED if the block raises."""
    uri = tracking_uri()
    check_reachable(uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    exp_id = _experiment_id(client, uri)
    parent_id = _pipeline_run(client, exp_id, pipeline_key(params_path))
    run_tags = {STAGE_TAG: stage, "priorgap.kind": "stage", "git_commit": git_commit(), **(tags or {})}
    if os.environ.get("DVC_EXP_NAME"):
        run_tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    status = "FAILED"
    try:
        with mlflow.start_run(experiment_id=exp_id, run_name=stage, parent_run_id=parent_id, tags=run_tags) as run:
            if params:
                mlflow.log_params(params)
                _log_to(client, parent_id, params=params)  # the pipeline row carries every stage's params
            yield StageRun(client, run.info.run_id, parent_id, stage)
        status = "FINISHED"
    finally:
        client.update_run(parent_id, status=status)


if __name__ == "__main__":
    # `python -m priorgap.tracking`: create the store and the experiment now, before parallel
    # workers (`dvc queue start -j N`) would race on SQLite's first schema migration.
    print(f"MLflow store {tracking_uri()}: experiment id {ensure_store()}")
