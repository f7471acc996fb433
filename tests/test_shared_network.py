"""The study on a network others share (docs/study-runner.md), on 127.0.0.1: certificates made by
the page's own commands, a TLS scheduler and worker, and a tracking server with accounts over
HTTPS. The scheduler refuses a client without a certificate, or with one another CA signed; the
tracking server refuses a wrong password; with both right, a tiny experiment runs, and its
password is in none of the study's output."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, dask_cluster, environment, mlflow_runs, mlflow_server

from priorgap.tracking import store
from priorgap.execution import clusters, runner
from priorgap.study import runs_file
from priorgap.study.design import Experiment

PASSWORD = "study-pw-7f3a9c"  # the study account's, looked for in every line the study prints
ADMIN = "admin-pw-51e0b2"


def certificate_block() -> str:
    """The page's block that makes the CA and the study's certificate."""
    text = (ROOT / "docs" / "study-runner.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    found = [b for b in blocks if b.startswith("# certificates")]
    assert len(found) == 1, "docs/study-runner.md has no block starting '# certificates'"
    return found[0]


def make_certificates(folder: Path) -> dict:
    folder.mkdir(parents=True)
    subprocess.run(["bash", "-euo", "pipefail", "-c", certificate_block()], cwd=folder, check=True, capture_output=True,
                   env={**environment(), "SAN": "IP:127.0.0.1"})
    tls = folder / "tls"
    return {"ca_file": str(tls / "ca.pem"), "cert": str(tls / "study.pem"), "key": str(tls / "study.key")}


def test_tls_settings_are_checked_before_any_connection(tmp_path):
    assert clusters.security() is None  # nothing given: Dask's own config decides
    with pytest.raises(
        clusters.StudyError, match=r"TLS needs the CA file and this client's certificate: give --tls-cert"
    ):
        clusters.security(ca_file=str(tmp_path))
    with pytest.raises(
        clusters.StudyError, match=r"no TLS file at .*missing.pem \(--tls-ca-file / STUDY_TLS_CA_FILE\)"
    ):
        clusters.security(ca_file=str(tmp_path / "missing.pem"), cert=str(tmp_path / "missing.pem"))


def test_a_password_in_the_tracking_uri_is_never_shown():
    assert store.shown("https://study:s3cret@host.example:5000/x") == "https://study:***@host.example:5000/x"
    assert store.shown("http://host:5000") == "http://host:5000"
    assert store.shown("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"


def study_cli(address, repo, env, tmp_path):
    """`python -m priorgap.execution.runner` against a scheduler, as a user types it, with env's credentials."""
    return subprocess.run(
        [sys.executable, "-m", "priorgap.execution.runner", "--scheduler", address, "--csv", str(tmp_path / "none.csv"),
         "--limit", "1", "--part", "decision"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.slow  # a scheduler, a worker and a tracking server as processes, and a real experiment
def test_only_our_certificates_and_account_get_in(tmp_path, upstream, monkeypatch, capfd):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: the page's certificate commands need it")
    ours, theirs = make_certificates(tmp_path / "ours"), make_certificates(tmp_path / "theirs")
    tls_args = ["--tls-ca-file", ours["ca_file"], "--tls-cert", ours["cert"], "--tls-key", ours["key"]]
    repo = Path(shutil.copytree(upstream, tmp_path / "repo", symlinks=True))
    server_env = {
        **environment(),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-key",
        "MLFLOW_AUTH_CONFIG_PATH": str(_auth_config(tmp_path)),
    }
    with mlflow_server(
        f"sqlite:///{tmp_path / 'server.db'}",
        tmp_path / "artifacts",
        server_env,
        ("--app-name", "basic-auth", "--uvicorn-opts", f"--ssl-keyfile {ours['key']} --ssl-certfile {ours['cert']}"),
        ca_file=Path(ours["ca_file"]),
    ) as uri:
        client_env = {**environment(uri), "MLFLOW_TRACKING_SERVER_CERT_PATH": ours["ca_file"]}
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from mlflow.server.auth.client import AuthServiceClient as A; "
                f"A({uri!r}).create_user('study', {PASSWORD!r})",
            ],
            check=True,
            capture_output=True,
            env={**client_env, "MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": ADMIN},
        )
        study_env = {**client_env, "MLFLOW_TRACKING_USERNAME": "study", "MLFLOW_TRACKING_PASSWORD": PASSWORD}
        with dask_cluster(tmp_path, study_env, [tls_args], scheduler=("--protocol", "tls", *tls_args)) as (
            address,
            _,
            _,
        ):
            assert address.startswith("tls://127.0.0.1:")
            # no account: one line before any work
            cli = study_cli(address, repo, client_env, tmp_path)
            assert cli.returncode == 1 and cli.stderr.strip().splitlines()[-1] == (
                f"study: error: MLflow tracking server {uri} asks for credentials (HTTP 401); set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an account of the server"
            ), cli.stderr
            # no certificate: one line before any connection
            cli = study_cli(address, repo, study_env, tmp_path)
            assert cli.returncode == 1 and "Traceback" not in cli.stderr and PASSWORD not in cli.stdout + cli.stderr
            assert (
                cli.stderr.strip()
                .splitlines()[-1]
                .startswith(f"study: error: the Dask scheduler at {address} speaks TLS: give this client's files")
            ), cli.stderr
            # a certificate another CA signed: refused
            with pytest.raises(clusters.StudyError, match="refuses a client whose certificate its CA did not sign"):
                with clusters.Remote(address, security=clusters.security(**theirs)):
                    pass
            for k, v in {
                **client_env,
                "MLFLOW_TRACKING_USERNAME": "study",
                "MLFLOW_TRACKING_PASSWORD": "wrong",
            }.items():
                monkeypatch.setenv(k, v)
            with pytest.raises(store.TrackingError, match="refused the credentials of user 'study' \\(HTTP 401\\)"):
                store.check_reachable(uri)
            # ours: a tiny experiment runs through the TLS scheduler and logs to the server
            for k, v in study_env.items():
                monkeypatch.setenv(k, v)
            csv, records = repo / "reports" / "runs.csv", repo / "reports" / "runs"
            failed = runner.run_study(
                [Experiment("t-tls", ())],
                repo,
                csv,
                records,
                clusters.Remote(address, security=clusters.security(**ours)),
            )
        assert failed == [] and [r.name for r in runs_file.read(csv)] == ["t-tls"]
        pipelines = [r for r in mlflow_runs(uri, kind="pipeline") if r.data.tags.get("dvc_exp_name") == "t-tls"]
        assert [r.info.status for r in pipelines] == ["FINISHED"]
    out, err = capfd.readouterr()
    assert PASSWORD not in out + err
    logs = [p for p in repo.rglob("*.log")] + list((tmp_path / "machine-0").rglob("*.log"))
    assert not [p for p in logs if PASSWORD in p.read_text(errors="replace")]


def _auth_config(tmp: Path) -> Path:
    """MLflow's basic-auth config with its user store in the test's folder (by default it is
    basic_auth.db in the server's working directory)."""
    path = tmp / "basic_auth.ini"
    path.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{tmp / 'basic_auth.db'}\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return path
