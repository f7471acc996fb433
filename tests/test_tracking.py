import socket
import time

import mlflow
import pytest
from conftest import mlflow_runs, write_params

from priorgap.tracking import stage_runs, store
from priorgap.study.design import plan
from priorgap.study.runs import CONVERGING


def test_store_is_the_parent_repository_from_a_dvc_experiment_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    repo = tmp_path / "repo"
    copy = repo / ".dvc" / "tmp" / "exps" / "tmpabc123"  # where `dvc exp run --queue` runs
    (copy / "stages").mkdir(parents=True)
    (repo / "dvc.yaml").write_text("stages: {}\n")
    (copy / "dvc.yaml").write_text("stages: {}\n")

    monkeypatch.chdir(repo / ".dvc")  # any folder inside the repository
    assert store.tracking_uri() == f"sqlite:///{repo.resolve()}/mlflow.db"

    monkeypatch.chdir(copy / "stages")
    monkeypatch.setenv("DVC_ROOT", str(repo))
    assert store.tracking_uri() == f"sqlite:///{repo.resolve()}/mlflow.db"
    assert store.artifact_location(store.tracking_uri()) == (repo.resolve() / "mlartifacts").as_uri()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://example.invalid:5000")
    assert store.tracking_uri() == "http://example.invalid:5000"
    assert store.artifact_location(store.tracking_uri()) is None  # the server decides


def test_unreachable_server_fails_fast_with_a_fix():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(store.TrackingError, match=f"127.0.0.1:{port} is unreachable .* unset MLFLOW_TRACKING_URI"):
        store.check_reachable(f"http://127.0.0.1:{port}")
    assert time.monotonic() - start < 5


def _status(uri, run_id):
    return mlflow.MlflowClient(uri).get_run(run_id).info.status


def test_pipeline_run_is_running_only_while_a_stage_runs_and_failed_when_one_fails(tmp_path, mlflow_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text("data: {seed: 0}\n")

    with stage_runs.stage_run("prepare", {"data.seed": 0}, params, tags={"data_source": "raw"}) as run:
        run.log_metrics({"n_train": 100})
        assert _status(mlflow_store, run.parent_id) == "RUNNING"
    (parent,) = mlflow_runs(mlflow_store, kind="pipeline")
    pid = parent.info.run_id
    assert _status(mlflow_store, pid) == "FINISHED"  # a repro that stops here leaves no row RUNNING
    with pytest.raises(RuntimeError):
        with stage_runs.stage_run("train", {"train.epochs": 3}, params):
            raise RuntimeError("boom")
    assert _status(mlflow_store, pid) == "FAILED"
    failed_at = mlflow.MlflowClient(mlflow_store).get_run(pid).info.end_time
    assert failed_at is not None  # a failed pipeline shows how long it ran before failing
    with stage_runs.stage_run("train", {"train.epochs": 3}, params):  # fixed and re-run
        assert _status(mlflow_store, pid) == "RUNNING"
    assert _status(mlflow_store, pid) == "FINISHED"
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C (and SIGTERM, cli.Terminated): stopped, not failed
        with stage_runs.stage_run("encode", {}, params):
            raise KeyboardInterrupt
    assert _status(mlflow_store, pid) == "KILLED"
    with stage_runs.stage_run("summarize", {}, params) as run:
        run.log_pipeline_row({"data.seed": 0}, {"test_elbo": -99.0})
    assert _status(mlflow_store, pid) == "FINISHED"

    stages = mlflow_runs(mlflow_store, kind="stage")
    assert [(r.data.tags["priorgap.stage"], r.info.status) for r in stages] == [
        ("prepare", "FINISHED"),
        ("train", "FAILED"),
        ("train", "FINISHED"),
        ("encode", "KILLED"),
        ("summarize", "FINISHED"),
    ]
    assert {r.data.tags["mlflow.parentRunId"] for r in stages} == {pid}
    # the runs table's Duration: the pipeline row ends when its last stage does, not before
    info = mlflow.MlflowClient(mlflow_store).get_run(pid).info
    assert info.end_time is not None and info.end_time >= stages[-1].info.end_time >= info.start_time
    assert info.end_time >= failed_at
    assert stages[0].data.params == {"data.seed": "0"} and stages[0].data.tags["data_source"] == "raw"
    parent = mlflow.MlflowClient(mlflow_store).get_run(pid)
    assert parent.data.params == {"data.seed": "0"} and parent.data.metrics == {"test_elbo": -99.0}
    assert parent.info.run_name == "dNone-zNone-sNone"  # named from the params (absent here)

    # a comment edit is the same pipeline; another value opens a new row
    params.write_text("# the seed of the split\ndata:   {seed: 0}\n")
    with stage_runs.stage_run("prepare", {}, params):
        pass
    assert len(mlflow_runs(mlflow_store, kind="pipeline")) == 1
    params.write_text("data: {seed: 1}\n")
    with stage_runs.stage_run("prepare", {}, params):
        pass
    rows = mlflow_runs(mlflow_store, kind="pipeline")
    assert len(rows) == 2
    # the same name (the data seed is not in it): the older row says it was replaced, and by which
    older, newer = sorted(rows, key=lambda r: r.info.start_time)
    assert older.info.run_name == "dNone-zNone-sNone (superseded)" and newer.info.run_name == "dNone-zNone-sNone"
    assert (
        older.data.tags["priorgap.current"] == "false"
        and older.data.tags["priorgap.superseded_by"] == newer.info.run_id
    )
    assert newer.data.tags["priorgap.current"] == "true"


def stage_under_each(names, tmp_path, monkeypatch):
    """One pipeline row under each DVC experiment name, each left RUNNING (as by a process killed
    mid-stage) for end_running to find."""
    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text("data: {seed: 0}\n")
    for name in names:
        monkeypatch.setenv("DVC_EXP_NAME", name)
        with stage_runs.stage_run("prepare", {}, params) as run:
            pid = run.parent_id
        mlflow.MlflowClient(store.tracking_uri()).update_run(pid, status="RUNNING")


def test_dvc_experiment_name_is_a_tag_and_splits_rows(tmp_path, mlflow_store, monkeypatch):
    """A `dvc exp run` row is named for its settings; DVC's own name (lumpy-ziti) is its tag."""
    stage_under_each(("lumpy-ziti", "exp-b"), tmp_path, monkeypatch)
    runs = mlflow_runs(mlflow_store)
    pipeline = [r for r in runs if r.data.tags.get("priorgap.kind") == "pipeline"]
    assert sorted(r.data.tags["dvc_exp_name"] for r in pipeline) == ["exp-b", "lumpy-ziti"]
    assert {r.info.run_name.removesuffix(" (superseded)") for r in pipeline} == {"dNone-zNone-sNone"}
    assert {r.data.tags["dvc_exp_name"] for r in runs} == {"lumpy-ziti", "exp-b"}


def test_ending_an_experiments_running_rows_leaves_the_others(tmp_path, mlflow_store, monkeypatch):
    stage_under_each(("dead", "alive"), tmp_path, monkeypatch)
    ended = stage_runs.end_running(mlflow_store, "dead", "KILLED")
    assert len(ended) == 1  # its pipeline row; its stage run ended when the stage did
    rows = {r.data.tags["dvc_exp_name"]: r.info.status for r in mlflow_runs(mlflow_store, kind="pipeline")}
    assert rows == {"dead": "KILLED", "alive": "RUNNING"}
    assert stage_runs.end_running(mlflow_store, "dead", "KILLED") == []


def test_ending_only_the_pipeline_row_leaves_a_running_stage_of_the_same_name(tmp_path, mlflow_store, monkeypatch):
    """The study's shared stages: a second study, started beside the first, logs its stages under
    the same row; the first one ending that row must not end the second one's running stage."""
    params = tmp_path / "params.yaml"
    params.write_text("data: {seed: 0}\n")
    monkeypatch.setenv("DVC_EXP_NAME", "shared")
    with stage_runs.stage_run("prepare", {}, params):  # the other study's stage, still running
        ended = stage_runs.end_running(mlflow_store, "shared", "FINISHED", pipeline_only=True)
        assert [r.info.status for r in mlflow_runs(mlflow_store, kind="stage")] == ["RUNNING"]
    assert [r.info.status for r in mlflow_runs(mlflow_store, kind="pipeline")] == ["FINISHED"]
    assert len(ended) == 1


def test_pipeline_key_is_the_parsed_params_and_the_code_dvc_tracks(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lib.py").write_text("x = 1\n")
    (tmp_path / "dvc.yaml").write_text("stages:\n  a:\n    deps: [src/lib.py, data/in]\n")
    (tmp_path / "metrics.json").write_text("{}\n")
    params = tmp_path / "params.yaml"
    params.write_text("a: 1\n")
    key = stage_runs.pipeline_key(params, root=tmp_path)
    (tmp_path / "metrics.json").write_text('{"elbo": -99}\n')  # a stage wrote its metrics
    (tmp_path / "README.md").write_text("notes\n")  # not code DVC tracks
    params.write_text("a: 1  # a comment\n")
    assert stage_runs.pipeline_key(params, root=tmp_path) == key
    (tmp_path / "src" / "lib.py").write_text("x = 2\n")  # changed code: a new pipeline run
    assert stage_runs.pipeline_key(params, root=tmp_path) != key
    (tmp_path / "src" / "lib.py").write_text("x = 1\n")
    (tmp_path / "src" / "new.py").write_text("y = 1\n")  # a new file, in no commit, that a stage uses
    (tmp_path / "dvc.yaml").write_text("stages:\n  a:\n    deps: [src/lib.py, src/new.py, data/in]\n")
    new = stage_runs.pipeline_key(params, root=tmp_path)
    assert new != key
    (tmp_path / "src" / "new.py").write_text("y = 2\n")
    assert stage_runs.pipeline_key(params, root=tmp_path) != new
    params.write_text("a: 2\n")
    assert stage_runs.pipeline_key(params, root=tmp_path) not in (key, new)


def test_a_stage_killed_outright_is_marked_killed_by_the_next_stage(tmp_path, mlflow_store, monkeypatch):
    """SIGKILL (or a power cut) leaves no chance to log: the next stage of the same pipeline
    finds the run RUNNING with a dead process and marks it KILLED."""
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text("data: {seed: 0}\n")
    code = (
        "import time; from pathlib import Path; from priorgap.tracking import stage_runs\n"
        "with stage_runs.stage_run('train', {}, Path('params.yaml')):\n    print('running', flush=True)\n"
        "    time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "running"  # the store exists and the run is open
    finally:
        proc.kill()
        proc.wait()
    assert mlflow_runs(mlflow_store, stage="train")[0].info.status == "RUNNING"  # the ghost
    with stage_runs.stage_run("train", {}, params):
        pass
    assert [r.info.status for r in mlflow_runs(mlflow_store, stage="train")] == ["KILLED", "FINISHED"]


def test_a_plain_repro_is_named_as_the_design_names_its_setting(tmp_path, monkeypatch):
    """One naming function: a `dvc repro` at width 125 used to be named like the width-500 run."""
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    narrow = write_params(tmp_path / "narrow.yaml", **{"model.encoder.width": 125})
    assert stage_runs.run_name(narrow) == "d2-w125-z2-s0-e20-cb"  # -cb: measured by the converging instrument
    assert stage_runs.run_name(narrow) == plan("width", 2, 2, 0, epochs=20, width=125, instrument=CONVERGING).name
    study = write_params(
        tmp_path / "study.yaml",
        **{
            "train.epochs": 40,
            "train.beta": 0.5,
            "model.latent_dim": 10,
            "model.prior.kind": "vamp",
            "train.kl_warmup_epochs": 10,
        },
    )
    assert stage_runs.run_name(study) == "d2-z10-b0.5-wu10-vamp100-s0-cb"
    monkeypatch.setenv("DVC_EXP_NAME", "mine")
    assert stage_runs.run_name(narrow) == "d2-w125-z2-s0-e20-cb"  # DVC's name is a tag, not the row's name


def test_the_committed_study_loads_into_mlflow_once(tmp_path, mlflow_store, monkeypatch):
    """make study-mlflow: each record a FINISHED row with its params, headline, stage seconds and
    sample grids; a second call adds nothing; the saved view names the study's settings."""
    import json
    import shutil

    from conftest import ROOT

    from priorgap.study import record, to_mlflow

    records = tmp_path / "runs"
    for name in ("d2-z2-s0", "d1-z10-s0"):
        shutil.copytree(ROOT / "reports" / "runs" / name, records / name)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    to_mlflow.main(["--records", str(records)])
    to_mlflow.main(["--records", str(records)])
    client = mlflow.MlflowClient(mlflow_store)
    exp = client.get_experiment_by_name(to_mlflow.EXPERIMENT)
    rows = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(rows) == {"d2-z2-s0", "d1-z10-s0", to_mlflow.ANSWER}  # once each
    # the study-level run: the answer table as a table the UI shows, each verdict a tag, study.md and its figures
    answer = rows.pop(to_mlflow.ANSWER)
    table = to_mlflow.answer_table((ROOT / "reports" / "study.md").read_text())
    assert answer.info.status == "FINISHED" and answer.data.tags["verdict.01"] == table["verdict"][0]
    assert table["the question"][0].startswith("Does a deeper encoder") and len(table["verdict"]) >= 10
    logged = {a.path for a in client.list_artifacts(answer.info.run_id)}
    assert {"answer_table.json", "study.md", "figures"} <= logged
    shown = json.loads(open(client.download_artifacts(answer.info.run_id, "answer_table.json", str(tmp_path))).read())
    assert shown["columns"] == list(table) and len(shown["data"]) == len(table["verdict"])
    rec = record.read(records / "d2-z2-s0")
    row = rows["d2-z2-s0"]
    assert (
        row.info.status == "FINISHED" and row.info.start_time == rec["start_ms"] and row.info.end_time == rec["end_ms"]
    )
    assert (
        row.data.params["model.latent_dim"] == "2"
        and row.data.metrics["test_elbo"] == record.row(rec).metrics["test_elbo"]
    )
    assert row.data.metrics["seconds.train"] == rec["stage_seconds"]["train"]
    assert (
        row.data.metrics["fit_posterior.kl_q_prior_lower_bound"]
        == rec["metrics"]["fit_posterior"]["kl_q_prior_lower_bound"]
    )
    shown = {a.path for a in client.list_artifacts(row.info.run_id, "samples")}
    assert {"samples/prior.png", "samples/reconstruction.png", "samples/test_codes.png"} <= shown
    assert "samples/test_codes.png" not in {
        a.path for a in client.list_artifacts(rows["d1-z10-s0"].info.run_id, "samples")
    }
    view = json.loads(exp.tags[f"mlflow.sharedViewState.{to_mlflow.VIEW}"])
    assert view["columnOrder"] == view["selectedColumns"]  # the UI's own order is alphabetical
    # the study compares runs: the bound and both FDs first (in view at 1,400 px: tests/test_ui.py)
    assert view["columnOrder"][:4] == [
        "metrics.`kl_q_prior_lower_bound`",
        "metrics.`fd.prior`",
        "metrics.`fd.best_fitted`",
        "metrics.`test_elbo`",
    ]
    assert "params.`model.encoder.width`" in view["columnOrder"] and "params.`train.beta`" in view["columnOrder"]
