"""Where MLflow keeps the runs: the store every stage, the report and the UI share.

Store: `MLFLOW_TRACKING_URI` when set (a server, say), else SQLite `mlflow.db` at the repository
root, as an absolute path. DVC runs queued experiments in a copy under .dvc/tmp/exps/ and sets
DVC_ROOT to the parent repository there, so every copy writes to the one store. Artifacts go to
`mlartifacts/` next to the database (a server chooses its own).

    python -m priorgap.tracking.store   # create the store and experiment now (before parallel
                                      # workers race on SQLite's first migration); print the view
"""
from __future__ import annotations

import base64
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import PriorgapError

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


def existing_uri() -> str:
    """The store to read, which must exist: MLflow would otherwise create an empty mlflow.db
    wherever Python runs and find no runs in it (docs/tracking.md's snippet)."""
    uri = tracking_uri()
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise TrackingError(f"no MLflow store at {db}; run this inside the repository (after `make repro`) or set "
                            "MLFLOW_TRACKING_URI")
    return uri


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def artifact_location(uri: str) -> str | None:
    db = sqlite_path(uri)
    return (db.parent / "mlartifacts").as_uri() if db is not None else None


def shown(uri: str) -> str:
    """The URI as it may be printed: a password written into it (http://user:pw@host) is not."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.hostname}"
                                                  + (f":{parts.port}" if parts.port else "")))


def check_reachable(uri: str) -> None:
    """Fail fast, before any work, with a line that says how to fix the store. A server with
    authentication (mlflow server --app-name basic-auth) is asked with the credentials MLflow
    itself reads (MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD), which no message repeats."""
    if uri.startswith(("http://", "https://")):
        base = uri.rstrip("/")
        try:
            with urllib.request.urlopen(base + "/health", timeout=5, context=_tls_context()) as r:
                r.read()
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise TrackingError(f"MLflow tracking server {shown(uri)}: its certificate is not signed by a CA this "
                                    f"machine trusts ({reason.verify_message}); set MLFLOW_TRACKING_SERVER_CERT_PATH "
                                    "to your CA's certificate") from None
            raise TrackingError(
                f"MLflow tracking server {shown(uri)} is unreachable ({reason}); start it "
                "(`mlflow server --host 127.0.0.1 --port 5000 ...`) or unset MLFLOW_TRACKING_URI "
                "to use the local mlflow.db"
            ) from None
        _check_credentials(base)
        return
    db = sqlite_path(uri)
    if db is not None and not os.access(db.parent if not db.exists() else db, os.W_OK):
        raise TrackingError(
            f"MLflow store {db} is not writable; fix its permissions or set MLFLOW_TRACKING_URI"
        )


def _tls_context():
    """An https server signed by a CA of your own: the CA MLflow's client trusts (MLFLOW_TRACKING_SERVER_CERT_PATH)."""
    return ssl.create_default_context(cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None)


def _check_credentials(base: str) -> None:
    request = urllib.request.Request(base + "/api/2.0/mlflow/experiments/search?max_results=1")
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=_tls_context()) as r:
            r.read()
    except urllib.error.HTTPError as e:
        if e.code == 401:
            said = f"refused the credentials of user {user!r}" if user and password else "asks for credentials"
            raise TrackingError(
                f"MLflow tracking server {shown(base)} {said} (HTTP 401); set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an account of the server"
            ) from None
        if e.code == 403:
            raise TrackingError(
                f"MLflow tracking server {shown(base)}: user {user!r} may not read experiments "
                "(HTTP 403); ask its admin for the permission"
            ) from None
        # any other answer (an older server without this route, say) is left to MLflow's client
    except (urllib.error.URLError, OSError):
        pass  # /health answered: a slow search is no reason to stop here


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


UI_HOST, UI_PORT = "127.0.0.1", int(os.environ.get("PRIORGAP_UI_PORT", "5000"))  # where `make ui` serves a local store


def ui_address(uri: str | None = None) -> str:
    """The UI that shows the store `uri`: a tracking server serves its own; a local store is served
    by `make ui` on UI_HOST:UI_PORT."""
    uri = uri or tracking_uri()
    if uri.startswith(("http://", "https://")):
        return shown(uri.rstrip("/"))
    return f"http://{UI_HOST}:{UI_PORT}"


def view_url(experiment_id: str, name: str = "headline", uri: str | None = None) -> str:
    """Where the saved view of the store `uri` (None: tracking_uri()) opens, in the UI's
    model-training mode (MLflow 3 opens in its GenAI mode)."""
    return (
        f"{ui_address(uri)}/#/experiments/{experiment_id}/runs?viewStateShareKey={name}&workflowType=machine_learning"
    )


def serve(argv: list[str] | None = None) -> None:
    """`make ui`: the UI on the very store the stages write to (MLFLOW_TRACKING_URI, else the
    repository's mlflow.db). A tracking server already serves its own UI: its address is printed."""
    uri = tracking_uri()
    exp_id = ensure_store(uri)
    print(
        f"MLflow store {shown(uri)}: experiment id {exp_id}; the pipeline rows: {view_url(exp_id, uri=uri)}", flush=True
    )
    if uri.startswith(("http://", "https://")):
        print(f"ui: {shown(uri)} is a tracking server, which serves its own UI: open the address above")
        return
    # mlflow ui is mlflow server: the stages' store as the backend; each experiment names its own
    # artifact location (experiment_id), so the artifacts resolve wherever the UI runs
    os.execvp(
        "mlflow", ["mlflow", "ui", "--backend-store-uri", uri, "--host", UI_HOST, "--port", str(UI_PORT), *(argv or [])]
    )


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2:])
    else:
        # create the store and the experiment now, before parallel workers (`dvc queue start
        # -j N`) would race on SQLite's first schema migration
        exp_id = ensure_store()
        print(f"MLflow store {shown(tracking_uri())}: experiment id {exp_id}; the pipeline rows: {view_url(exp_id)}")
