"""The stages end to end on a small slice of real MNIST, as DVC would run them."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, mlflow_runs, write_params

sys.path.insert(0, str(ROOT / "stages"))
import encode  # noqa: E402
import prepare  # noqa: E402
import train  # noqa: E402

SMALL = {
    "data.train_size": 1500, "data.val_size": 300,
    "model.encoder.width": 64, "model.latent_dim": 3,
    "train.epochs": 2, "train.batch_size": 100,
}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, raw_dir):
    """prepare -> train -> encode once for the module, with its own MLflow store."""
    root = tmp_path_factory.mktemp("repo")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.delenv("DVC_EXP_NAME", raising=False)
    params = write_params(root / "params.yaml", **SMALL)
    data = root / "data"
    prepare.main([str(raw_dir), str(data / "mnist"), "--params", str(params)])
    train.main([str(data / "mnist"), str(data / "vae"), "--params", str(params)])
    encode.main([str(data / "mnist"), str(data / "vae"), str(data / "codes"), "--params", str(params)])
    yield root, data, f"sqlite:///{root / 'mlflow.db'}"
    mp.undo()


def test_train_outputs(pipeline):
    _, data, _ = pipeline
    metrics = json.loads((data / "vae" / "metrics.json").read_text())
    assert metrics["epochs"] == 2
    assert -300 < metrics["test_elbo"] < -100  # nats; an untrained model sits at -543
    assert metrics["test_elbo"] == pytest.approx(-(metrics["test_recon"] + metrics["test_kl"]))
    history = (data / "vae" / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,train_elbo,train_recon,train_kl,val_elbo")
    assert len(history) == 3
    ckpt = torch.load(data / "vae" / "model.pt", weights_only=True)
    assert ckpt["config"] == {"latent_dim": 3, "encoder_depth": 2, "encoder_width": 64,
                              "decoder_depth": 2, "decoder_width": 64}
    assert (data / "vae" / "learning_curves.png").stat().st_size > 10_000


def test_codes_file_contract(pipeline):
    _, data, _ = pipeline
    for split, n in (("train", 1500), ("test", 10_000)):
        with np.load(data / "codes" / f"{split}.npz") as f:
            assert sorted(f.files) == ["labels", "logvar", "mu"]
            assert f["mu"].dtype == f["logvar"].dtype == np.float32
            assert f["mu"].shape == f["logvar"].shape == (n, 3)
            assert np.all(np.isfinite(f["mu"]))
    with np.load(data / "mnist" / "train.npz") as m, np.load(data / "codes" / "train.npz") as c:
        np.testing.assert_array_equal(m["labels"], c["labels"])


def test_one_pipeline_run_with_a_child_per_stage(pipeline):
    _, _, uri = pipeline
    parents = mlflow_runs(uri, kind="pipeline")
    assert len(parents) == 1
    children = mlflow_runs(uri, kind="stage")
    assert [r.data.tags["priorgap.stage"] for r in children] == ["prepare", "train", "encode"]
    assert all(r.info.status == "FINISHED" for r in children)
    trained = children[1]
    assert trained.data.params["model.encoder.width"] == "64"
    assert trained.data.params["train.epochs"] == "2"
    import mlflow

    client = mlflow.MlflowClient(uri)
    curve = client.get_metric_history(trained.info.run_id, "val_elbo")
    assert [m.step for m in curve] == [1, 2]  # learning curves in the MLflow UI
    parent = client.get_run(parents[0].info.run_id)
    assert "train.test_elbo" in parent.data.metrics and parent.data.params["model.latent_dim"] == "3"
    artifacts = {a.path for a in client.list_artifacts(trained.info.run_id)}
    assert {"model.pt", "metrics.json", "history.csv", "learning_curves.png"} <= artifacts


@pytest.mark.parametrize("override, message", [
    ({"model.latent_dim": 0}, "train: error: params.yaml: model.latent_dim must be an integer >= 1, got 0"),
    ({"model.encoder.depth": -1}, "train: error: params.yaml: model.encoder.depth must be an integer >= 1, got -1"),
])
def test_bad_model_param_fails_before_any_work(tmp_path, override, message):
    params = write_params(tmp_path / "params.yaml", **override)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train.py"), str(tmp_path / "nowhere"), str(tmp_path / "vae"),
         "--params", str(params)],
        capture_output=True, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},  # never contacted
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == message


def test_diverging_training_fails_cleanly(pipeline, tmp_path, monkeypatch):
    root, data, uri = pipeline
    monkeypatch.chdir(root)
    params = write_params(tmp_path / "params.yaml", **{**SMALL, "train.lr": 1e30, "train.epochs": 1})
    with pytest.raises(train.training.TrainingError, match="non-finite .* lower train.lr"):
        train.main([str(data / "mnist"), str(tmp_path / "vae"), "--params", str(params)])
    assert not (tmp_path / "vae").exists()  # nothing half-written
    assert mlflow_runs(uri, stage="train")[-1].info.status == "FAILED"
