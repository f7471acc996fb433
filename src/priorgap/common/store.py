"""Where MLflow keeps the runs: the store every stage, the report and the UI share.

Store: `MLFLOW_TRACKING_URI` when set (a server, say), else SQLite `mlflow.db` at the repository
root, as an absolute path. DVC runs queued experiments in a copy under .dvc/tmp/exps/ and sets
DVC_ROOT to the parent repository there, so every copy writes to the one store. Artifacts go to
`mlartifacts/` next to the database (a server chooses its own).

    python -m priorgap.common.store   # create the store and experiment now (before parallel
                                      # workers race on SQLite's first migration); print the view
"""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from .. import PriorgapError

EXPERIMENT = "priorgap"
# MLflow 3 opens an experiment without this tag on its GenAI overview; with it, on the runs table
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


class TrackingError(PriorgapError):
    pass


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


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def artifact_location(uri: str) -> str | None:
    db = sqlite_path(uri)
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
    db = sqlite_path(uri)
    if db is not None and not os.access(db.parent if not db.exists() else db, os.W_OK):
        raise TrackingError(
            f"MLflow store {db} is not writable; fix its permissions or set MLFLOW_TRACKING_URI"
        )


def experiment_id(client, uri: str, name: str | None = None) -> str:
    """The experiment `name` (else MLFLOW_EXPERIMENT_NAME, else priorgap), created if need be."""
    from mlflow.exceptions import MlflowException

    name = name or os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if not set(EXPERIMENT_KIND.items()) <= set(exp.tags.items()):  # a store made before this tag
            for k, v in EXPERIMENT_KIND.items():
                client.set_experiment_tag(exp.experiment_id, k, v)
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location(uri), tags=EXPERIMENT_KIND)
    except MlflowException:  # another worker created it first
        return client.get_experiment_by_name(name).experiment_id


def ensure_store(uri: str | None = None) -> str:
    """Create the store and experiment now (before parallel workers race on SQLite's migration);
    returns the experiment's id."""
    uri = uri or tracking_uri()
    check_reachable(uri)
    import mlflow

    return experiment_id(mlflow.MlflowClient(uri), uri)


def view_url(experiment_id: str, name: str = "headline", ui: str = "http://127.0.0.1:5000") -> str:
    """Where `make ui` shows the saved view (a server: its own address in place of `ui`)."""
    return f"{ui}/#/experiments/{experiment_id}/runs?viewStateShareKey={name}"


if __name__ == "__main__":
    # `python -m priorgap.common.store`: create the store and the experiment now, before parallel
    # workers (`dvc queue start -j N`) would race on SQLite's first schema migration.
    exp_id = ensure_store()
    print(f"MLflow store {tracking_uri()}: experiment id {exp_id}; the pipeline rows: {view_url(exp_id)}")
