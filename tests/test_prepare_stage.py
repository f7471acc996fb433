import json
import subprocess
import sys

import numpy as np
from conftest import ROOT, mlflow_runs, write_params
import prepare  # stages/ is on the test path (pyproject.toml: pythonpath)


def test_prepare_writes_seeded_splits_and_logs_the_source(tmp_path, raw_dir, mnist_arrays, mlflow_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = write_params(tmp_path / "params.yaml", **{"data.train_size": 1000, "data.val_size": 500})
    out = tmp_path / "data" / "mnist"
    prepare.main([str(raw_dir), str(out), "--params", str(params)])

    meta = json.loads((out / "meta.json").read_text())
    assert meta["source"] == "raw"
    assert meta["sizes"] == {"train": 1000, "val": 500, "test": 10_000}
    train = np.load(out / "train.npz")
    assert train["images"].shape == (1000, 28, 28) and train["images"].dtype == np.uint8
    # every training image is a real MNIST training image with its own label
    idx = [
        int(np.flatnonzero((mnist_arrays["train_images"] == img).all(axis=(1, 2)))[0]) for img in train["images"][:5]
    ]
    np.testing.assert_array_equal(mnist_arrays["train_labels"][idx], train["labels"][:5])
    test = np.load(out / "test.npz")
    np.testing.assert_array_equal(test["labels"], mnist_arrays["test_labels"])
    assert sorted(p.name for p in out.parent.iterdir()) == ["mnist"]  # no temporary folder left

    runs = mlflow_runs(mlflow_store, stage="prepare")
    assert len(runs) == 1
    assert runs[0].data.tags["data_source"] == "raw"
    assert runs[0].data.params["data.train_size"] == "1000"


def test_bad_param_stops_before_any_work(tmp_path, raw_dir, mlflow_store):
    params = write_params(tmp_path / "params.yaml", **{"data.val_size": -1})
    out = tmp_path / "mnist"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "prepare.py"), str(raw_dir), str(out), "--params", str(params)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"prepare: error: {params}: data.val_size must be an integer >= 0, got -1"
    assert not out.exists()
    assert not (tmp_path / "mlflow.db").exists()  # failed before touching the store


def test_corrupt_input_leaves_previous_output_intact(tmp_path, raw_dir, mlflow_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "mnist"
    out.mkdir()
    (out / "train.npz").write_text("previous complete output")
    bad = tmp_path / "raw"
    bad.mkdir()
    for f in raw_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08 truncated")
    params = write_params(tmp_path / "params.yaml", **{"data.train_size": 100})
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "prepare.py"), str(bad), str(out), "--params", str(params)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]  # above it only MLflow's own INFO lines on creating the store
    assert last.startswith("prepare: error: ") and "train-images-idx3-ubyte.gz: corrupt gzip" in last
    assert "Traceback" not in proc.stderr
    assert (out / "train.npz").read_text() == "previous complete output"
    assert not (tmp_path / "mlflow.db").exists()  # a bad input is refused before a run is opened
