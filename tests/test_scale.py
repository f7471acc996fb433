"""The sweep and the multi-machine set-up, end to end with real DVC, git and an MLflow server.

Each test works in a copy of one clone of this repository (its committed HEAD) with tiny params
(1,000 training images, one epoch, small metric sample sizes) and the shared upstream stages
(prepare, classifier, reference) already run, as docs/experiments.md says to before a sweep: under three minutes in all
on 2 CPU cores.
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, mlflow_runs, mlflow_server

pytestmark = pytest.mark.slow  # real DVC queues and two simulated machines, minutes each

BIN = str(Path(sys.executable).parent)  # the environment's dvc, mlflow and python
TINY = {
    ("data", "train_size"): 1000, ("data", "val_size"): 200, ("model", "encoder", "width"): 32,
    ("train", "epochs"): 1, ("posterior", "n_samples"): 500, ("posterior", "mmd", "n_samples"): 200,
    ("posterior", "mmd", "permutations"): 20, ("posterior", "flow", "steps"): 20, ("posterior", "two_stage", "steps"): 20,
    ("posterior", "two_stage", "importance_samples"): 4, ("classifier", "epochs"): 1,
    ("eval", "n_samples"): 200, ("eval", "nn_samples"): 50, ("eval", "iwae_k"): 5, ("eval", "iwae_images"): 20,
}


def sh(cmd: str, cwd: Path, env: dict, timeout: int = 600) -> str:
    proc = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def environment(tracking_uri: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_"))}
    env.update(PATH=f"{BIN}:{env['PATH']}", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", DVC_NO_ANALYTICS="1")
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def tiny_clone(src, dest: Path, env: dict) -> Path:
    sh(f"git clone -q {src} {dest}", dest.parent, env)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    for keys, value in TINY.items():
        node = params
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git commit -qam 'tiny params for the test'", dest, env)
    return dest


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> Path:
    """A tiny clone with the shared upstream stages run and committed, once for the module; each
    test copies it (DVC re-hashes the copied outputs and finds them up to date)."""
    env = environment()
    repo = tiny_clone(ROOT, tmp_path_factory.mktemp("upstream") / "repo", env)
    sh("dvc repro -q reference && git add -A && git commit -qm upstream", repo, env)
    (repo / "mlflow.db").unlink(missing_ok=True)  # each test starts with its own store
    return repo


def test_queue_with_two_workers_loses_no_run(tmp_path, upstream):
    env = environment()
    repo = Path(shutil.copytree(upstream, tmp_path / "repo", symlinks=True))
    # as docs/experiments.md says: the shared upstream stages once (the fixture), and the store before the workers start
    sh("python -m priorgap.common.store", repo, env)
    # two experiments for two workers: enough to race them on the store and the queue
    sh("dvc exp run --queue -q -S model.latent_dim=2,3", repo, env)
    sh("OMP_NUM_THREADS=1 dvc queue start -j 2", repo, env)  # as docs/experiments.md runs a queue: one thread per worker
    deadline = time.monotonic() + 480
    while "Queued" in (status := sh("dvc queue status", repo, env)) or "Running" in status:
        assert time.monotonic() < deadline, status
        time.sleep(3)
    assert status.count("Success") == 2, status
    names = set(sh("dvc exp list --name-only", repo, env).split())
    assert len(names) == 2

    uri = f"sqlite:///{repo / 'mlflow.db'}"  # the parent repository's store, not the queue's copies
    rows = mlflow_runs(uri, kind="pipeline")
    exp_rows = {r.data.tags.get("dvc_exp_name"): r for r in rows if r.data.tags.get("dvc_exp_name")}
    assert set(exp_rows) == names
    for row in exp_rows.values():
        assert row.info.status == "FINISHED"
        assert "fd.prior" in row.data.metrics and "test_elbo" in row.data.metrics
    assert {r.data.params["model.latent_dim"] for r in exp_rows.values()} == {"2", "3"}
    assert len(mlflow_runs(uri, stage="evaluate")) == 2
    assert {r.info.run_name for r in exp_rows.values()} == names  # rows named for their experiment
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db"))


def test_two_machines_share_one_server_and_remotes(tmp_path, upstream):
    with mlflow_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts", environment()) as uri:
        env = environment(uri)
        # the shared git remote (bare) and DVC remote (a folder), set up once from a first clone
        seed = Path(shutil.copytree(upstream, tmp_path / "seed", symlinks=True))
        sh(f"git init -q --bare {tmp_path / 'origin.git'} && git remote set-url origin {tmp_path / 'origin.git'}", seed, env)
        sh(f"dvc remote add -d shared {tmp_path / 'dvc-remote'} && dvc push -q "
           "&& git add -A && git commit -qm 'the shared remote' && git push -q origin HEAD:main", seed, env)

        # two machines at once, as two people would: each clones, pulls the shared stages, runs and pushes
        machines, procs = {}, {}
        for name, latent in (("a", 2), ("b", 3)):
            repo = machines[name] = tmp_path / f"machine-{name}"
            sh(f"git clone -q -b main {tmp_path / 'origin.git'} {repo}", tmp_path, env)
            procs[name] = subprocess.Popen(
                f"dvc pull -q --with-deps reference && dvc exp run -q -n exp-{name} -S model.latent_dim={latent} "
                f"&& dvc exp push -q origin exp-{name}", shell=True, cwd=repo, text=True,
                env={**env, "OMP_NUM_THREADS": "1"},  # two machines on one 2-core box: a core each
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for name, proc in procs.items():
            out = proc.communicate(timeout=600)[0]
            assert proc.returncode == 0, f"machine {name} failed:\n{out[-3000:]}"
        sh("dvc exp pull -q origin exp-b", machines["a"], env)
        sh("dvc exp pull -q origin exp-a", machines["b"], env)
        for repo in machines.values():
            assert set(sh("dvc exp list --name-only", repo, env).split()) == {"exp-a", "exp-b"}
            shown = sh("dvc exp show --no-pager --csv", repo, env)
            assert "exp-a" in shown and "exp-b" in shown

        import mlflow

        client = mlflow.MlflowClient(uri)
        exp = client.get_experiment_by_name("priorgap")
        rows = client.search_runs([exp.experiment_id], "tags.`priorgap.kind` = 'pipeline'")
        assert {r.data.tags.get("dvc_exp_name") for r in rows} >= {"exp-a", "exp-b"}
        # collect: the server's runs into a runs file; the report from that file alone (these runs train 1 epoch)
        runs_file = tmp_path / "reports" / "study.csv"
        sh(f"python -m priorgap.study.table --csv {runs_file}", machines["a"], env)
        sh(f"python -m priorgap.report --csv {runs_file} --out {tmp_path / 'reports'} --readme '' --epochs 1",
           machines["a"], {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"})
        report = (tmp_path / "reports" / "study.md").read_text()
        assert "| exp-a |" in report and "| exp-b |" in report
        assert report.count("**Verdict: cannot be decided**") == 2  # one depth, one seed: the report must not conclude
