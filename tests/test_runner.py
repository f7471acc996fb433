"""The study runner on Dask (execution/runner.py, execution/worker.py): real schedulers and workers on
127.0.0.1, each worker with its own scratch folder (a machine). The fast tests hand out stand-in
tasks; the slow ones run tiny real experiments, kill a machine in the middle of one, and check
that every experiment lands once in the runs file, in MLflow and in `dvc exp show`."""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
import yaml
from conftest import ROOT, dask_cluster, environment, mlflow_runs, sh

from priorgap.study import design, record, runs_file
from priorgap.study.design import Experiment
from priorgap.execution import clusters, runner, worker

CODE = worker.Code("0" * 40, b"", "sqlite:///unused.db", "/nonexistent")


def where_it_ran(exp, code, shared):
    from distributed import get_worker

    return get_worker().name


def forever(exp, code, shared):
    """A stand-in experiment that never ends; it says it started by a file named in code.cache_dir."""
    Path(code.cache_dir, f"started-{exp.name}").touch()
    time.sleep(600)


@pytest.mark.slow  # a scheduler and workers as processes
def test_experiments_go_to_the_workers_with_a_gpu(tmp_path):
    from distributed import Client

    with dask_cluster(tmp_path, environment(), [[], ["--resources", "GPU=1"]]) as (address, _, _), \
            Client(address, timeout="20s") as client:
        client.wait_for_workers(2, timeout=60)
        assert runner.gpu_resources(client) == {"GPU": 1}
        exps = [Experiment(f"e{i}", ()) for i in range(4)]
        futures = runner.submit(client, exps, CODE, b"", task=where_it_ran)
        assert set(client.gather(list(futures))) == {"machine-1"}


@pytest.mark.slow  # a scheduler and workers as processes
def test_every_experiment_is_in_one_dask_task_group(tmp_path):
    """Keys named by the experiment alone (d1-z2-s0-...) made a task group per depth, and a worker
    that came free sat idle until work stealing moved a task queued behind a long one (86 s in a
    real slice). How long it waits now is a figure of benchmarks/idle_gaps.py, not of a test."""
    from dask.utils import key_split
    from distributed import Client

    with dask_cluster(tmp_path, environment(), [[], []]) as (address, _, _), Client(address, timeout="20s") as client:
        client.wait_for_workers(2, timeout=60)
        exps = [Experiment(name, ()) for name in ("d1-z2-s0", "d2-z2-s0", "d3-z2-s0", "d1-z5-s0")]
        futures = runner.submit(client, exps, CODE, b"", task=where_it_ran)
        assert {key_split(f.key) for f in futures} == {runner.TASK_GROUP}
        client.gather(list(futures))  # and Dask runs them under those keys


@pytest.mark.parametrize("has_filter", [True, False])
def test_the_shared_outputs_unpack_with_or_without_tarfiles_filter(tmp_path, monkeypatch, has_filter):
    """Python 3.11.2 (Debian 12) has no extraction filters: the workers check the members
    themselves, and refuse a member outside the folder or a link, as the "data" filter does."""
    import io
    import tarfile

    from priorgap.errors import PriorgapError

    if has_filter and not hasattr(tarfile, "data_filter"):
        pytest.skip(f"Python {sys.version.split()[0]} has no tarfile extraction filters")
    if not has_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)

    def packed(*members):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, kind in members:
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, "/etc/passwd" if kind == tarfile.SYMTYPE else ""
                info.size = 3 if kind == tarfile.REGTYPE else 0
                tar.addfile(info, io.BytesIO(b"abc") if kind == tarfile.REGTYPE else None)
        return tarfile.open(fileobj=io.BytesIO(buf.getvalue()))

    worker._extract(packed(("data/mnist", tarfile.DIRTYPE), ("data/mnist/test.npz", tarfile.REGTYPE)), tmp_path / "ok")
    assert (tmp_path / "ok/data/mnist/test.npz").read_bytes() == b"abc"
    for bad in (("../outside", tarfile.REGTYPE), ("data/link", tarfile.SYMTYPE)):
        with pytest.raises((PriorgapError, tarfile.FilterError) if has_filter else PriorgapError):
            worker._extract(packed(bad), tmp_path / "bad")
        assert not (tmp_path / "outside").exists()


def test_the_stages_import_the_experiments_own_library(tmp_path):
    """Not the checkout the worker's environment has installed editable: a worker on the driver's
    machine would otherwise run files edited after the study started, and one elsewhere its own."""
    attempt = tmp_path / "attempt"
    (attempt / "src" / "priorgap").mkdir(parents=True)
    (attempt / "src" / "priorgap" / "__init__.py").write_text("")
    env = worker._environment(CODE, 1, attempt)
    found = subprocess.run([sys.executable, "-c", "import priorgap; print(priorgap.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(found) == attempt / "src" / "priorgap" / "__init__.py"


def test_submit_puts_every_experiment_in_one_task_group_in_process():
    """The fast tier's Dask: an in-process cluster (threads, no processes) runs what submit hands out."""
    from dask.utils import key_split
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        exps = [Experiment(name, ()) for name in ("d1-z2-s0", "d2-z2-s0", "d3-z2-s0")]
        futures = runner.submit(client, exps, CODE, b"", task=lambda exp, code, shared: exp.name)
        assert {key_split(f.key) for f in futures} == {runner.TASK_GROUP}
        assert sorted(client.gather(list(futures))) == ["d1-z2-s0", "d2-z2-s0", "d3-z2-s0"]


def test_without_a_gpu_worker_nothing_is_constrained():
    class Info:
        def scheduler_info(self):
            return {"workers": {"a": {"resources": {}}, "b": {}}}

    assert runner.gpu_resources(Info()) is None


def _background_settings():
    import dask
    import distributed  # noqa: F401  (loads its config defaults)

    return dask.config.get("distributed.worker.profile.enabled"), dask.config.get("distributed.admin.tick.interval")


@pytest.mark.slow  # the embedded cluster's worker processes
def test_the_embedded_workers_run_without_dasks_profiler_and_fast_tick():
    """Their background work took 18% of a core from the experiments (benchmarks/runner_overhead.py):
    the settings must reach the worker processes, and leave this process's config as it was."""
    before = _background_settings()
    with clusters.Embedded(1, 1) as client:
        on_workers = list(client.run(_background_settings).values())
    assert on_workers == [(False, "1s")]
    assert _background_settings() == before != (False, "1s")


def test_the_shared_stages_log_under_their_own_row_which_the_study_ends(tmp_path, mlflow_store, monkeypatch):
    """`dvc repro` of the shared stages in the workspace used to open the workspace's experiment's
    row and leave it RUNNING for ever (only summarize ends a row). Here the repro is a stand-in
    that logs a stage the way a real one does, with the environment the runner gives it."""
    from priorgap.tracking import stage_runs

    params = tmp_path / "params.yaml"
    params.write_text("data: {seed: 0}\n")

    class Stop(Exception):
        pass

    def fake_sh(cmd, cwd=None, env=None, check=True, what="", timeout=None):
        assert cmd[:3] == ["dvc", "repro", "-q"], cmd
        with mock.patch.dict(os.environ, env or {}):
            with stage_runs.stage_run("prepare", {}, params):
                pass

    monkeypatch.setattr(runner, "sh", fake_sh)
    monkeypatch.setattr(runner, "snapshot", lambda root, uri: (_ for _ in ()).throw(Stop()))
    with pytest.raises(Stop):
        runner.run_study([], tmp_path, tmp_path / "runs.csv", tmp_path / "runs", contextlib.nullcontext())
    rows = mlflow_runs(mlflow_store, kind="pipeline")
    assert [(r.info.run_name, r.info.status) for r in rows] == [(runner.SHARED_ROW, "FINISHED")]
    assert [r.info.status for r in mlflow_runs(mlflow_store, kind="stage")] == ["FINISHED"]


@pytest.mark.slow  # a scheduler and a worker as processes
def test_a_scheduler_that_goes_away_stops_the_study_in_one_line(tmp_path):
    """The scheduler is killed once an experiment has started (no timer to race the submission)."""
    from distributed import Client

    csv = tmp_path / "study.csv"
    code = worker.Code("0" * 40, b"", "sqlite:///unused.db", str(tmp_path))  # forever() marks its start here

    def kill_once_started(pid):
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("started-*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(pid, signal.SIGKILL)

    with dask_cluster(tmp_path, environment(), [[]]) as (address, scheduler, _):
        client = Client(address, timeout="20s")
        client.wait_for_workers(1, timeout=60)
        threading.Thread(target=kill_once_started, args=(scheduler.pid,), daemon=True).start()
        with pytest.raises(clusters.StudyError, match=f"the Dask scheduler at {address} went away with 2 experiments "
                                                    "unfinished; start it again and re-run `make study`"):
            runner.keep_as_finished(client, [Experiment("a", ()), Experiment("b", ())], code, b"",
                                    ROOT, csv, tmp_path / "runs", task=forever)
        client.close(timeout=5)
    assert list(tmp_path.glob("started-*")) and not csv.exists()  # killed mid-experiment; nothing half-written


@pytest.mark.slow  # Dask retries the address for its 10 s connect timeout
def test_an_unreachable_scheduler_is_one_line_and_a_nonzero_exit(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "priorgap.execution.runner", "--scheduler", "tcp://127.0.0.1:9",
                           "--csv", str(tmp_path / "study.csv"), "--limit", "1", "--part", "decision"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("study: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9 ("), proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_failed_experiment_keeps_its_whole_log(tmp_path):
    """The worker removes the attempt's folder; the log travels back with the exception (pickled,
    as Dask sends it) and the driver writes it where the failure line says."""
    import pickle

    sent = worker.ExperimentFailed("t-nan: train: error: the loss is NaN", "Running stage 'train'\nline 2\n")
    exc = pickle.loads(pickle.dumps(sent))
    assert str(exc) == "t-nan: train: error: the loss is NaN"
    assert runner.keep_log("t-nan", exc, tmp_path) == " (its whole log: .dvc/tmp/study-logs/t-nan.log)"
    assert (tmp_path / runner.LOGS / "t-nan.log").read_text() == sent.log
    assert runner.keep_log("t-x", RuntimeError("a bug"), tmp_path) == ""  # nothing to keep: no line about it



# --- real experiments (slow) -------------------------------------------------------------------


def _attempts(scratch: Path) -> list[Path]:
    return [p for p in scratch.glob("**/priorgap/*") if p.is_dir() and not p.name.endswith("-shared")]


@pytest.mark.slow
def test_two_machines_a_killed_worker_and_a_nan_loss(tmp_path, upstream, monkeypatch):
    """Three tiny experiments and one whose loss goes NaN, on two 'machines'; the first machine is
    killed (its whole process group) while one of its experiments has a stage running."""
    env = environment()
    repo = Path(shutil.copytree(upstream, tmp_path / "repo", symlinks=True))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    csv, records = repo / "reports" / "runs.csv", repo / "reports" / "runs"
    good = [Experiment(f"t{z}", (f"model.latent_dim={z}",)) for z in (2, 3, 4)]
    bad = Experiment("t-nan", ("train.lr=1e30",))
    with dask_cluster(tmp_path, env, [[], []]) as (address, _, (first, _second)):
        outcome = {}
        study = threading.Thread(target=lambda: outcome.update(failed=runner.run_study(
            [*good, bad], repo, csv, records, clusters.Remote(address))))
        study.start()
        deadline = time.monotonic() + 300
        while True:  # a stage of one of the first machine's experiments running in MLflow
            assert study.is_alive() and time.monotonic() < deadline, outcome
            names = {p.name.rsplit("-", 1)[0] for p in _attempts(tmp_path / "machine-0")}
            running = [r for r in mlflow_runs(uri, kind="stage") if r.info.status == "RUNNING"
                       and r.data.tags.get("dvc_exp_name") in names - {"t-nan"}] if Path(uri[10:]).exists() else []
            if running:
                break
            time.sleep(0.5)
        killed = running[0]
        os.killpg(first.pid, signal.SIGKILL)
        study.join(timeout=600)
        assert not study.is_alive()

    assert outcome["failed"] == ["t-nan"]
    assert "Running stage 'train'" in (repo / runner.LOGS / "t-nan.log").read_text()  # the driver kept its whole log
    rows = runs_file.read(csv)
    assert sorted(r.name for r in rows) == ["t2", "t3", "t4"]  # each exactly once
    for r in rows:
        rec = record.read(records / r.name)
        assert rec["params"]["model.latent_dim"] == r.name[1:]
        assert record.row(rec).metrics == r.metrics
        assert "train" in rec["stage_seconds"] and "machine-" in rec["worker"]
        assert (records / r.name / "grids.npz").is_file()
        assert (records / r.name / "test_codes.npz").is_file() == (r.name == "t2")
    killed_record = json.loads((records / killed.data.tags["dvc_exp_name"] / "record.json").read_text())
    assert killed_record["worker"].startswith("machine-1")
    assert not [p for p in (repo / "reports").rglob("*") if ".tmp-" in p.name]

    assert {"t2", "t3", "t4"} <= set(sh("dvc exp list --name-only", repo, env).split())
    shown = sh("dvc exp show --no-pager --csv", repo, env)
    assert all(f"\nt{z}," in shown for z in (2, 3, 4))

    pipelines = mlflow_runs(uri, kind="pipeline")
    for name in ("t2", "t3", "t4"):
        mine = [r for r in pipelines if r.data.tags.get("dvc_exp_name") == name]
        assert [r.info.status for r in mine] == ["FINISHED"], name
        assert mine[0].data.metrics["test_elbo"] == next(r for r in rows if r.name == name).metrics["test_elbo"]
    assert [r.info.status for r in pipelines if r.data.tags.get("dvc_exp_name") == "t-nan"] == ["FAILED"]
    import mlflow

    assert mlflow.MlflowClient(uri).get_run(killed.info.run_id).info.status == "KILLED"
    assert not [r for r in mlflow_runs(uri) if r.info.status == "RUNNING"]


@pytest.mark.slow
def test_make_study_runs_a_slice_on_the_embedded_cluster_and_resumes(tmp_path, upstream):
    env = {**environment(), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    repo = Path(shutil.copytree(upstream, tmp_path / "repo", symlinks=True))
    csv = tmp_path / "study.csv"
    out = sh(
        f"python -m priorgap.execution.runner --part decision --limit 1 --csv {csv} --records {tmp_path / 'runs'}",
        repo,
        env,
    )
    part = sum(p.part == "decision" for p in design.design())
    assert f"plan: 0 of {part} planned experiments" in out and "study: 1 finished, 0 failed" in out
    assert [r.name for r in runs_file.read(csv)] == ["d1-z10-wu10-s0-cb"]
    listed = sh(
        f"python -m priorgap.execution.runner --part decision --list --csv {csv} --records {tmp_path / 'runs'}",
        repo,
        env,
    )
    assert f"plan: 1 of {part} planned experiments" in listed and "d1-z10-wu10-s0-cb" not in listed
    assert "d1-z10-wu10-s0-cb" in sh("dvc exp list --name-only", repo, env).split()
    # the grid was planned for the fixed-step instrument, which this code no longer measures with
    proc = subprocess.run(
        f"python -m priorgap.execution.runner --part grid --list --csv {csv}",
        shell=True,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert (
        proc.returncode == 1
        and "are for the fixed-step instrument, which this code does not measure with" in proc.stderr
    )


def test_a_record_holds_every_stage_and_gives_the_row_summarize_wrote(tmp_path):
    """Built from this checkout's own stage outputs: the row it gives is the headline that the
    summarize stage wrote from the same metrics (data/summary/metrics.json), figure for figure."""
    import numpy as np

    from priorgap.io.outputs import flatten_dict

    folder = tmp_path / "exp"
    for rel in ["params.yaml", *record.METRICS.values(), *record.TABLES.values()]:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, folder / rel)
    pixels = np.arange(2 * 784, dtype=np.int64).reshape(2, 28, 28) % 256
    (folder / record.GRIDS).parent.mkdir(parents=True, exist_ok=True)
    np.savez(folder / record.GRIDS, prior=pixels.astype(np.uint8))
    (folder / record.CODES).parent.mkdir(parents=True)
    mu = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    np.savez(folder / record.CODES, mu=mu, logvar=mu, labels=np.arange(50, dtype=np.uint8) % 10)

    rec, files = record.build(folder, {"train": 12.34, "evaluate": 5.0}, 1000, 2000, "machine-0")
    kept = record.write(tmp_path / "runs", "d2-z2-s0", rec, files)
    back = record.read(kept)
    assert back["metrics"]["fit_posterior"] == json.loads((ROOT / record.METRICS["fit_posterior"]).read_text())
    assert len(back["tables"]["history"]) == len(table_rows(ROOT / record.TABLES["history"]))
    assert back["stage_seconds"] == {"train": 12.3, "evaluate": 5.0}
    headline = flatten_dict(json.loads((ROOT / "data/summary/metrics.json").read_text()))
    row = record.row(back)
    assert {k: v for k, v in row.metrics.items() if k in headline} == {
        k: v for k, v in headline.items() if v is not None
    }
    assert row.params["model.latent_dim"] == "2" and row.key.latent == 2
    with np.load(kept / "grids.npz") as g:  # 16 grey levels, each within 8 of the 8-bit pixel
        assert g["prior"].max() == 15 and np.abs(g["prior"].astype(int) * 17 - pixels).max() == 8
    with np.load(kept / "test_codes.npz") as c:
        assert sorted(c.files) == ["labels", "mu"] and np.array_equal(c["mu"], mu)
    # above latent size 2 no codes are kept
    params = yaml.safe_load((folder / "params.yaml").read_text())
    params["model"]["latent_dim"] = 10
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    assert set(record.build(folder, {}, 0, 0, "w")[1]) == {"grids.npz"}


def table_rows(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_runners_help_names_its_command_and_its_environment(capsys):
    with pytest.raises(SystemExit) as done:
        runner.main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and out.startswith("usage: python -m priorgap.execution.runner")
    assert all(v in out for v in ("STUDY_SCHEDULER", "STUDY_JOBQUEUE", "STUDY_JOBS", "STUDY_LIMIT", "STUDY_PARTS"))


@pytest.mark.parametrize(
    "address, why", [("not-an-address", "missing port number"), ("tcp://host:port", "invalid literal")]
)
def test_a_scheduler_address_dask_cannot_parse_is_one_line(address, why):
    with pytest.raises(clusters.StudyError, match=f"'{address}' is not a Dask scheduler address \\({why}"):
        clusters.check_address(address)
    clusters.check_address("tcp://127.0.0.1:8786")  # a good one passes
