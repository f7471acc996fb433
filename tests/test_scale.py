"""The sweep and the multi-machine set-up, end to end with real DVC, git and an MLflow server.

Each test works in a copy of one clone of this repository (its committed HEAD) with tiny params
(1,000 training images, one epoch, small metric sample sizes) and the shared upstream stages
(prepare, classifier, reference) already run, as docs/experiments.md says to before a sweep: under three minutes in all
on 2 CPU cores.
"""
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import environment, mlflow_runs, mlflow_server, sh

from priorgap.tracking.naming import Setting
from priorgap.study import runs

pytestmark = pytest.mark.slow  # real DVC queues and two simulated machines, minutes each

def test_queue_with_two_workers_loses_no_run(tmp_path, upstream):
    env = environment()
    repo = Path(shutil.copytree(upstream, tmp_path / "repo", symlinks=True))
    # as docs/experiments.md says: the shared upstream stages once (the fixture), and the store before the workers start
    sh("python -m priorgap.tracking.store", repo, env)
    # two experiments for two workers: enough to race them on the store and the queue
    sh("dvc exp run --queue -q -S model.latent_dim=2,3", repo, env)
    # as docs/experiments.md runs a queue: one thread per worker. The workers it detaches inherit its stdout, so a
    # captured pipe would stay open until they end: their output goes to a file and the loop below waits for them
    sh(f"OMP_NUM_THREADS=1 dvc queue start -j 2 >{tmp_path}/queue-start.log 2>&1", repo, env)
    deadline = time.monotonic() + 900  # tiny runs take about 2 minutes; CI machines can be 2x slower and shared
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
    # rows named for their settings, DVC's name a tag
    assert {r.info.run_name for r in exp_rows.values()} == {Setting.of(r.data.params).name for r in exp_rows.values()}
    assert not list((repo / ".dvc" / "tmp").rglob("mlflow.db"))


def test_two_machines_share_one_server_and_remotes(tmp_path, upstream):
    with mlflow_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts", environment()) as uri:
        env = environment(uri)
        # the shared git remote (bare) and DVC remote (a folder), set up once from a first clone
        seed = Path(shutil.copytree(upstream, tmp_path / "seed", symlinks=True))
        sh(
            f"git init -q --bare {tmp_path / 'origin.git'} && git remote set-url origin {tmp_path / 'origin.git'}",
            seed,
            env,
        )
        sh(
            f"dvc remote add -d shared {tmp_path / 'dvc-remote'} && dvc push -q "
            "&& git add -A && git commit -qm 'the shared remote' && git push -q origin HEAD:main",
            seed,
            env,
        )

        # two machines at once, as two people would: each clones, pulls the shared stages, runs and pushes. At the
        # grid's encoder width (not TINY's), so that the report below finds grid runs in the runs file
        machines, procs = {}, {}
        for name, latent in (("a", 2), ("b", 3)):
            repo = machines[name] = tmp_path / f"machine-{name}"
            sh(f"git clone -q -b main {tmp_path / 'origin.git'} {repo}", tmp_path, env)
            procs[name] = subprocess.Popen(
                f"dvc pull -q --with-deps reference && dvc exp run -q -n exp-{name} -S model.latent_dim={latent} "
                f"-S model.encoder.width={runs.GRID_WIDTH} "
                f"&& dvc exp push -q origin exp-{name}",
                shell=True,
                cwd=repo,
                text=True,
                env={**env, "OMP_NUM_THREADS": "1"},  # two machines on one 2-core box: a core each
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
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
        sh(f"python -m priorgap.study.runs_file --csv {runs_file}", machines["a"], env)
        sh(
            f"python -m priorgap.report --csv {runs_file} --out {tmp_path / 'reports'} --readme '' --epochs 1",
            machines["a"],
            {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"},
        )
        report = (tmp_path / "reports" / "study.md").read_text()
        named = {r.data.tags["dvc_exp_name"]: r.info.run_name for r in rows}  # rows are named for their settings
        assert f"| {named['exp-a']} |" in report and f"| {named['exp-b']} |" in report
        assert report.count("**Verdict: cannot be decided**") == 2  # one depth, one seed: the report must not conclude
