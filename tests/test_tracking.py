import socket
import time

import mlflow
import pytest
from conftest import mlflow_runs

from priorgap import tracking


def test_store_is_the_parent_repository_from_a_dvc_experiment_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    repo = tmp_path / "repo"
    copy = repo / ".dvc" / "tmp" / "exps" / "tmpabc123"  # where `dvc exp run --queue` runs
    (copy / "stages").mkdir(parents=True)
    (repo / "dvc.yaml").write_text("stages: {}\n")
    (copy / "dvc.yaml").write_text("stages: {}\n")

    monkeypatch.chdir(repo / ".dvc")  # any folder inside the repository
    assert tracking.tracking_uri() == f"sqlite:///{repo.resolve()}/mlflow.db"

    monkeypatch.chdir(copy / "stages")
    monkeypatch.setenv("DVC_ROOT", str(repo))
    assert tracking.tracking_uri() == f"sqlite:///{repo.resolve()}/mlflow.db"
    assert tracking.artifact_location(tracking.tracking_uri()) == (repo.resolve() / "mlartifacts").as_uri()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://example.invalid:5000")
    assert tracking.tracking_uri() == "http://example.invalid:5000"
    assert tracking.artifact_location(tracking.tracking_uri()) is None  # the server decides


def test_unreachable_server_fails_fast_with_a_fix():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(tracking.TrackingError, match=f"127.0.0.1:{port} is unreachable .* unset MLFLOW_TRACKING_URI"):
        tracking.check_reachable(f"http://127.0.0.1:{port}")
    assert time.monotonic() - start < 5


def test_stage_runs_group_under_one_pipeline_run(tmp_path, mlflow_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text("data: {seed: 0}\n")

    with tracking.stage_run("prepare", {"data.seed": 0}, params) as run:
        run.log_metrics({"n_train": 100}, summary=True)
        run.set_tags({"data_source": "raw"})
    with pytest.raises(RuntimeError):
        with tracking.stage_run("train", {"train.epochs": 3}, params):
            raise RuntimeError("boom")

    parents = mlflow_runs(mlflow_store, kind="pipeline")
    stages = {r.data.tags["priorgap.stage"]: r for r in mlflow_runs(mlflow_store, kind="stage")}
    assert len(parents) == 1
    parent = parents[0]
    assert {r.data.tags["mlflow.parentRunId"] for r in stages.values()} == {parent.info.run_id}
    assert stages["prepare"].info.status == "FINISHED"
    assert stages["train"].info.status == "FAILED"
    assert stages["prepare"].data.params == {"data.seed": "0"}
    assert stages["prepare"].data.tags["data_source"] == "raw"
    # the pipeline row holds every stage's params and headline metrics
    parent = mlflow.MlflowClient(mlflow_store).get_run(parent.info.run_id)
    assert parent.data.params == {"data.seed": "0", "train.epochs": "3"}
    assert parent.data.metrics == {"prepare.n_train": 100.0}
    assert parent.info.status == "FAILED"  # the last stage to run failed

    # other params -> another pipeline run (another row in the MLflow UI)
    params.write_text("data: {seed: 1}\n")
    with tracking.stage_run("prepare", {"data.seed": 1}, params):
        pass
    assert len(mlflow_runs(mlflow_store, kind="pipeline")) == 2


def test_dvc_experiment_name_is_a_tag_and_splits_rows(tmp_path, mlflow_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text("data: {seed: 0}\n")
    for name in ("exp-a", "exp-b"):
        monkeypatch.setenv("DVC_EXP_NAME", name)
        with tracking.stage_run("prepare", {}, params):
            pass
    runs = mlflow_runs(mlflow_store)
    names = sorted(r.info.run_name for r in runs if r.data.tags.get("priorgap.kind") == "pipeline")
    assert names == ["exp-a", "exp-b"]
    assert {r.data.tags["dvc_exp_name"] for r in runs} == {"exp-a", "exp-b"}


def test_pipeline_key_ignores_outputs_but_not_code(tmp_path, monkeypatch):
    import subprocess

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lib.py").write_text("x = 1\n")
    (tmp_path / "metrics.json").write_text("{}\n")
    (tmp_path / "params.yaml").write_text("a: 1\n")
    for cmd in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *cmd], check=True)
    key = tracking.pipeline_key(tmp_path / "params.yaml")
    (tmp_path / "metrics.json").write_text('{"elbo": -99}\n')  # a stage wrote its git-tracked metrics
    assert tracking.pipeline_key(tmp_path / "params.yaml") == key
    (tmp_path / "src" / "lib.py").write_text("x = 2\n")  # uncommitted code change: a new pipeline run
    assert tracking.pipeline_key(tmp_path / "params.yaml") != key
    (tmp_path / "src" / "lib.py").write_text("x = 1\n")
    (tmp_path / "params.yaml").write_text("a: 2\n")
    assert tracking.pipeline_key(tmp_path / "params.yaml") != key
