"""MLflow runs shared by every stage (the store itself: store.py).

Grouping: one *pipeline run* (parent) per experiment, one *stage run* (child) per stage that
actually executes. DVC skips cached stages without running them, so no stage relies on another
having logged in this pipeline run: the last stage, summarize, fills the row from the metrics
files. The parent is found again by a key: the DVC experiment name (when set), the parsed
params and the content of the code DVC tracks. The same code and params land in the same row;
any change that DVC would re-run something for opens a new one.

`import mlflow` costs about 2 s: it is imported only once a stage's params have validated.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from . import store
from .naming import Setting
from ..io.shell import sh

PIPELINE_TAG = "priorgap.pipeline"
STAGE_TAG = "priorgap.stage"
KIND_TAG = "priorgap.kind"
VIEW_TAG = "mlflow.sharedViewState."
ROW_NAME_ENV = "PRIORGAP_ROW_NAME"  # the name of a pipeline row that is no one experiment's
CURRENT_TAG = "priorgap.current"  # "false" on a pipeline row a later run of the same name replaced


def git_commit() -> str:
    return _commit_at(os.getcwd())


@functools.lru_cache(maxsize=8)  # asked three times per stage; HEAD does not move during one
def _commit_at(cwd: str) -> str:
    return sh(["git", "rev-parse", "HEAD"], check=False, timeout=10) or "unknown"


CODE_ROOT = Path(__file__).resolve().parents[3]  # the checkout (or DVC experiment copy) this code runs from


def code_files(root: Path = CODE_ROOT) -> list[Path]:
    """dvc.yaml and every code file a stage of it depends on: the code DVC tracks."""
    import yaml

    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    deps = {d for s in stages.values() for d in s.get("deps", []) if not d.startswith("data/")}
    return [root / "dvc.yaml", *sorted(root / d for d in deps)]


def pipeline_key(params_path: Path, root: Path = CODE_ROOT) -> str:
    """Same experiment name, parsed params and tracked code -> same pipeline run.

    Parsed params, not bytes: a comment or a reformatted params.yaml re-runs nothing in DVC, so
    it must not open a new row either. Code by content: committing it, or anything DVC does not
    track (README, tests, outputs), leaves the row where it is.
    """
    from ..config.schema import canonical

    h = hashlib.sha256()
    h.update(os.environ.get("DVC_EXP_NAME", "").encode() + b"\0")
    h.update(canonical(params_path).encode() + b"\0")
    for path in code_files(root):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes() if path.is_file() else b"<missing>")
    return h.hexdigest()[:16]


def run_name(params_path: Path) -> str:
    """The name naming.Setting gives these params, the one the study's design gives the same
    setting: d2-z2-s0-e20-cb for params.yaml as committed (a params file that lacks a key, a
    test's, names its usual value). A `dvc exp run`'s own name (DVC_EXP_NAME, lumpy-ziti) goes to
    the tag dvc_exp_name, not the row's name. A row that is no one experiment (the study's shared
    stages) is named by ROW_NAME_ENV instead."""
    if os.environ.get(ROW_NAME_ENV):
        return os.environ[ROW_NAME_ENV]
    from ..config.schema import read_yaml
    from ..io.outputs import flatten_dict

    return Setting.of(flatten_dict(read_yaml(params_path))).name


# --- runs ---------------------------------------------------------------------------------------


@dataclass
class StageRun:
    """What a stage logs to its own run; only the summarize stage writes to the pipeline run."""

    client: object
    run_id: str
    parent_id: str
    stage: str
    experiment_id: str

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None}, step=step)

    def set_tags(self, tags: dict) -> None:
        import mlflow

        mlflow.set_tags(tags)

    def log_artifact(self, path, folder: str | None = None, run_id: str | None = None) -> None:
        """To this stage's run, or to `run_id` (the pipeline run, for its summary)."""
        if Path(path).is_dir():
            self.client.log_artifacts(run_id or self.run_id, str(path), artifact_path=folder)
        else:
            self.client.log_artifact(run_id or self.run_id, str(path), artifact_path=folder)

    def log_pipeline_row(self, params: dict, metrics: dict) -> None:
        """The pipeline run's row: every param and the headline figures, in one batched write."""
        _log_to(self.client, self.parent_id, metrics=metrics, params=params)

    def save_view(self, name: str, metrics: list[str], params: list[str]) -> None:
        """The saved view of the pipeline rows, newest first (written on every summarize, so it
        follows the headline as the code changes)."""
        save_view(self.client, self.experiment_id, name, "pipeline", metrics, params, newest_first=True)


def save_view(client, experiment_id: str, name: str, kind: str, metrics: list[str], params: list[str],
              newest_first: bool) -> None:
    """A saved view of the runs table: the rows of this kind (KIND_TAG), the metrics first in the
    order given, then the params. MLflow's UI keeps shared views as experiment tags
    (`mlflow.sharedViewState.<name>`, the state as JSON) and opens one at store.view_url(); it
    sorts the selected columns by name unless `columnOrder` says otherwise."""
    import json

    columns = [f"metrics.`{m}`" for m in metrics] + [f"params.`{p}`" for p in params]
    state = {
        "searchFilter": f"tags.`{KIND_TAG}` = '{kind}'",
        "orderByKey": "attributes.start_time",
        "orderByAsc": not newest_first,
        "selectedColumns": columns,
        "columnOrder": columns,
        "runsHiddenMode": "SHOW_ALL",
    }
    client.set_experiment_tag(experiment_id, f"{VIEW_TAG}{name}", json.dumps(state))


def _log_to(client, run_id: str, metrics: dict | None = None, params: dict | None = None) -> None:
    """One batched write (SQLite commits per call: a hundred single writes take a second)."""
    import time

    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    ms = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v is not None]
    ps = [Param(k, str(v)) for k, v in (params or {}).items()]
    for i in range(0, max(len(ms), len(ps)), 100):  # MLflow's per-request limits
        client.log_batch(run_id, metrics=ms[i : i + 100], params=ps[i : i + 100])


def _pipeline_run(client, exp_id: str, key: str, name: str) -> str:
    found = client.search_runs(
        [exp_id], filter_string=f"tags.`{PIPELINE_TAG}` = '{key}'", max_results=1,
        order_by=["attributes.start_time DESC"],
    )
    if found:
        return found[0].info.run_id
    tags = {PIPELINE_TAG: key, "git_commit": git_commit(), KIND_TAG: "pipeline", CURRENT_TAG: "true"}
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    run_id = client.create_run(exp_id, tags=tags, run_name=name).info.run_id
    supersede(client, exp_id, name, run_id)
    return run_id


def supersede(client, exp_id: str, name: str, current_id: str) -> list[str]:
    """Earlier pipeline rows of the same name (the same setting, run again on other code or params)
    are marked as such: renamed `<name> (superseded)` and tagged priorgap.current = false, with the
    current row's id, so the UI never shows two rows of one name without saying which is current."""
    older = client.search_runs([exp_id], f"tags.`{KIND_TAG}` = 'pipeline' and attributes.run_name = '{name}'")
    ids = [r.info.run_id for r in older if r.info.run_id != current_id]
    for run_id in ids:
        client.set_tag(run_id, CURRENT_TAG, "false")
        client.set_tag(run_id, "priorgap.superseded_by", current_id)
        client.set_tag(run_id, "mlflow.runName", f"{name} (superseded)")
    return ids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def mark_stale_runs_killed(client, exp_id: str, parent_id: str) -> list[str]:
    """Stage runs of this pipeline left RUNNING by a process that no longer exists (SIGKILL, a
    power cut): KILLED, so the UI shows no ghost run. Only runs started on this host can be
    checked; one from another host is left as it is."""
    running = client.search_runs(
        [exp_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}' and attributes.status = 'RUNNING'")
    stale = [r.info.run_id for r in running if r.data.tags.get("priorgap.host") == socket.gethostname()
             and r.data.tags.get("priorgap.pid", "").isdigit() and not _alive(int(r.data.tags["priorgap.pid"]))]
    for run_id in stale:
        client.set_terminated(run_id, status="KILLED")
    return stale


def end_running(uri: str, name: str, status: str, pipeline_only: bool = False) -> list[str]:
    """Ends as `status` every run of the experiment `name` (its pipeline row and its stage runs,
    by their dvc_exp_name tag) that still reads RUNNING, or its pipeline row alone; returns their
    ids. For rows no stage will end: a study attempt that died (KILLED, before it is retried), and
    the study's shared stages, which never reach summarize (FINISHED, once they have all
    succeeded: their own stage runs have ended, so a stage run still RUNNING under that name is
    another study's, started beside this one, and is left to end itself)."""
    store.check_reachable(uri)
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(os.environ.get("MLFLOW_EXPERIMENT_NAME", store.EXPERIMENT))
    if exp is None:
        return []
    which = f"tags.dvc_exp_name = '{name}' and attributes.status = 'RUNNING'"
    if pipeline_only:
        which += f" and tags.`{KIND_TAG}` = 'pipeline'"
    running = client.search_runs([exp.experiment_id], which)
    for r in running:
        client.set_terminated(r.info.run_id, status=status)
    return [r.info.run_id for r in running]


@contextlib.contextmanager
def stage_run(stage: str, params: dict, params_path: Path = Path("params.yaml"), tags: dict | None = None):
    """A child MLflow run for one stage under its pipeline run.

    The pipeline run reads RUNNING while a stage runs, FAILED as soon as one fails (the child
    too), KILLED when one is interrupted (Ctrl-C, SIGTERM), and FINISHED when a stage finishes:
    a `dvc repro` that stops before summarize (`dvc repro fit_posterior`, a stage restored from
    the cache) leaves no row RUNNING for good. The headline arrives with summarize. Each
    end stamps the end time, so the row's duration runs from its first stage to its latest. Call
    this after the stage has checked its inputs: a mistyped command must leave MLflow untouched.
    """
    uri = store.tracking_uri()
    store.check_reachable(uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    exp_id = store.experiment_id(client, uri)
    parent_id = _pipeline_run(client, exp_id, pipeline_key(params_path), run_name(params_path))
    mark_stale_runs_killed(client, exp_id, parent_id)
    client.update_run(parent_id, status="RUNNING")
    run_tags = {STAGE_TAG: stage, KIND_TAG: "stage", "git_commit": git_commit(),
                "priorgap.host": socket.gethostname(), "priorgap.pid": str(os.getpid()), **(tags or {})}
    if os.environ.get("DVC_EXP_NAME"):
        run_tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    child_id = None
    try:
        with mlflow.start_run(experiment_id=exp_id, run_name=stage, parent_run_id=parent_id, tags=run_tags) as run:
            child_id = run.info.run_id
            if params:
                mlflow.log_params(params)
            yield StageRun(client, child_id, parent_id, stage, exp_id)
    except KeyboardInterrupt:  # Ctrl-C, and SIGTERM (cli.Terminated): stopped, not broken
        for run_id in (child_id, parent_id):
            if run_id is not None:
                client.set_terminated(run_id, status="KILLED")
        raise
    except BaseException:
        client.set_terminated(parent_id, status="FAILED")
        raise
    # set_terminated, not update_run: it stamps the end time the UI's Duration column reads
    client.set_terminated(parent_id, status="FINISHED")


