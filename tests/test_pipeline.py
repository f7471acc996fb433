"""The stages end to end on a small slice of real MNIST, as DVC would run them."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, mlflow_runs, run_fit_posterior, write_params

# the stage scripts themselves (stages/ is on the test path: pyproject.toml)
import classifier
import encode
import evaluate
import prepare
import reference
import summarize
import train

from priorgap.errors import PriorgapError
from priorgap.config import schema
from priorgap.io.outputs import flatten_dict
from priorgap.latent import aggregate, densities
from priorgap.summary import headline

pytestmark = pytest.mark.slow  # every stage end to end, as separate processes

SMALL = {
    "data.train_size": 1500, "data.val_size": 300,
    "model.encoder.width": 64, "model.latent_dim": 3,
    "train.epochs": 2, "train.batch_size": 100,
    "posterior.n_samples": 2000, "posterior.mmd.n_samples": 300, "posterior.mmd.permutations": 50,
    "posterior.flow.steps": 50, "posterior.two_stage.steps": 50, "posterior.two_stage.hidden": 32,
    "posterior.two_stage.importance_samples": 8,
    "classifier.epochs": 4,
    "eval.n_samples": 400, "eval.nn_samples": 100, "eval.iwae_k": 20, "eval.iwae_images": 50,
}


def run_evaluate(data, params):
    """reference, evaluate and the stage after them, as `dvc repro` runs them when only eval.* changed."""
    reference.main([str(data / "mnist"), str(data / "classifier"), str(data / "reference"), "--params", str(params)])
    evaluate.main([str(data / "mnist"), str(data / "vae"), str(data / "posterior"), str(data / "classifier"),
                   str(data / "reference"), str(data / "eval"), "--params", str(params)])
    summarize.main([str(data / "vae"), str(data / "posterior"), str(data / "classifier"), str(data / "reference"),
                    str(data / "eval"), str(data / "summary"), "--params", str(params)])


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
    run_fit_posterior(data / "codes", data / "match", data / "fits", data / "posterior", params)
    classifier.main([str(data / "mnist"), str(data / "classifier"), "--params", str(params)])
    run_evaluate(data, params)
    yield root, data, f"sqlite:///{root / 'mlflow.db'}"
    mp.undo()


def test_train_outputs(pipeline):
    _, data, _ = pipeline
    metrics = json.loads((data / "vae" / "metrics.json").read_text())
    assert set(metrics) == {"val_elbo", "val_recon", "val_kl", "test_elbo", "test_recon", "test_kl", "train_elbo",
                            "val_elbo_slope"}
    assert -300 < metrics["test_elbo"] < -100  # nats; an untrained model sits at -543
    assert metrics["test_elbo"] == pytest.approx(-(metrics["test_recon"] + metrics["test_kl"]))
    history = (data / "vae" / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,train_elbo,train_recon,train_kl,val_elbo,val_recon,val_kl,beta"  # no timings
    assert len(history) == 3
    ckpt = torch.load(data / "vae" / "model.pt", weights_only=True)
    assert ckpt["config"] == {"latent_dim": 3, "encoder_depth": 2, "encoder_width": 64, "decoder_depth": 2,
                              "decoder_width": 500,  # the decoder is held at 2 x 500
                              "prior": "normal", "prior_components": 0}
    assert (data / "vae" / "learning_curves.png").stat().st_size > 10_000


def test_codes_come_from_the_inputs_the_elbo_sees(pipeline):
    """encode feeds the encoder the fixed binarisation the ELBO uses, so the mean closed-form KL
    of the test codes is train's test KL term (float32 sums of 10,000 terms: 1e-4 relative)."""
    _, data, _ = pipeline
    from priorgap.model.vae import kl_to_standard_normal

    test = aggregate.Codes.load(data / "codes" / "test.npz")
    test_kl = json.loads((data / "vae" / "metrics.json").read_text())["test_kl"]
    assert kl_to_standard_normal(test.mu.double(), test.logvar.double()).mean().item() == pytest.approx(
        test_kl, rel=1e-4
    )


def test_codes_file_contract(pipeline):
    _, data, _ = pipeline
    for split, n in (("train", 1500), ("val", 300), ("test", 10_000)):
        with np.load(data / "codes" / f"{split}.npz") as f:
            assert sorted(f.files) == ["labels", "logvar", "mu"]
            assert f["mu"].dtype == f["logvar"].dtype == np.float32
            assert f["mu"].shape == f["logvar"].shape == (n, 3)
            assert np.all(np.isfinite(f["mu"]))
    with np.load(data / "mnist" / "train.npz") as m, np.load(data / "codes" / "train.npz") as c:
        np.testing.assert_array_equal(m["labels"], c["labels"])
    with np.load(data / "codes" / "prior.npz") as f:  # N(0, I): one standard component
        assert f["mu"].shape == (1, 3) and not f["mu"].any() and not f["logvar"].any()


def test_one_pipeline_run_with_a_child_per_stage(pipeline):
    _, _, uri = pipeline
    parents = mlflow_runs(uri, kind="pipeline")
    assert len(parents) == 1
    assert (
        parents[0].info.status == "FINISHED" and parents[0].info.run_name == "d2-w64-z3-s0-e2-cb"
    )  # naming.Setting: width 64, 2 epochs
    children = mlflow_runs(uri, kind="stage")
    assert [r.data.tags["priorgap.stage"] for r in children] == [
        "prepare",
        "train",
        "encode",
        "match",
        *(f"fit@{n}" for n in densities.names()),
        "fit_posterior",
        "classifier",
        "reference",
        "evaluate",
        "summarize",
    ]
    assert all(r.info.status == "FINISHED" for r in children)
    trained = children[1]
    assert trained.data.params["model.encoder.width"] == "64"
    assert trained.data.params["train.epochs"] == "2"
    import mlflow

    client = mlflow.MlflowClient(uri)
    curve = client.get_metric_history(trained.info.run_id, "val_elbo")
    assert [m.step for m in curve] == [1, 2]  # learning curves in the MLflow UI
    assert "seconds" in trained.data.metrics and "wall_seconds" in trained.data.metrics  # timings: MLflow only
    artifacts = {a.path for a in client.list_artifacts(trained.info.run_id)}
    assert {"model.pt", "metrics.json", "history.csv", "learning_curves.png"} <= artifacts
    assert [a.path for a in client.list_artifacts(parents[0].info.run_id)] == ["summary.html"]


def test_bad_model_param_fails_before_any_work(tmp_path):
    """A stage's exit on a bad param: one line naming the --params file, exit 1, nothing contacted.
    Which values are bad, and each message, is test_config's (in process)."""
    message = "model.latent_dim must be an integer >= 1, got 0"
    params = write_params(tmp_path / "sweep.yaml", **{"model.latent_dim": 0})
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "stages" / "train.py"),
            str(tmp_path / "nowhere"),
            str(tmp_path / "vae"),
            "--params",
            str(params),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},  # never contacted
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"train: error: {params}: {message}"


def test_classifier_and_evaluate_outputs(pipeline):
    _, data, _ = pipeline
    acc = json.loads((data / "classifier" / "metrics.json").read_text())["test_accuracy"]
    assert acc > 0.85  # four epochs on 1,500 images; the default run reaches 0.99 (docs/method/samples.md)
    m = json.loads((data / "eval" / "metrics.json").read_text())
    assert 80 < m["iwae_nll"] < 300
    for name in (*densities.names(), "floor", "reconstruction"):
        assert {
            "fd",
            "precision",
            "recall",
            "density",
            "coverage",
            "class_kl",
            "confident",
            "nn_train_distance",
        } <= set(m[name])
    for name in densities.names():  # the decoder held fixed: against the reconstructions
        assert set(m[name]["vs_recon"]) == {"fd", "precision", "recall", "coverage"}
    assert m["floor"]["fd"] < m["prior"]["fd"]  # real digits are closer to real digits than samples are
    table = (data / "eval" / "table.csv").read_text().splitlines()
    assert table[0].startswith("sampler,fd,precision,recall") and "vs_recon.fd" in table[0]
    assert len(table) == len(densities.names()) + 3
    # only images in samples/ (dvc.yaml shows the folder as images; DVC warns on anything else)
    assert {p.name for p in (data / "eval" / "samples").iterdir()} == {
        *(f"{n}.png" for n in (*densities.names(), "mnist_test"))
    }
    with np.load(data / "eval" / "grids.npz") as grids:  # the pixels a study run's record keeps
        assert set(grids.files) == {*densities.names(), "reconstruction"}
        assert all(grids[n].shape[1:] == (28, 28) and grids[n].dtype == np.uint8 for n in grids.files)
    assert (data / "eval" / "comparison.png").stat().st_size > 10_000


def test_reference_is_what_evaluate_scores_against(pipeline):
    """The test set's features and radii, computed once by the reference stage, are what the
    classifier gives now; the floor evaluate reports is the reference stage's, unchanged."""
    from priorgap.config.device import to_tensor
    from priorgap.data.files import read_split
    from priorgap.samples import classifier
    from priorgap.samples.quality import knn_radii
    from priorgap.samples.reference import read_real, reference_settings

    root, data, _ = pipeline
    images, _ = read_split(data / "mnist", "test")
    settings = reference_settings(schema.load(root / "params.yaml", "eval"))
    feats, radii = read_real(data / "reference" / "test.npz", len(images), settings)
    expected = classifier.apply(classifier.load(data / "classifier" / "model.pt"), to_tensor(images, "cpu"))[0]
    assert torch.equal(torch.from_numpy(feats), expected)
    assert torch.equal(torch.from_numpy(radii), knn_radii(expected, 5))
    floor = json.loads((data / "reference" / "metrics.json").read_text())
    assert json.loads((data / "eval" / "metrics.json").read_text())["floor"] == floor
    assert 0.5 < floor["precision"] <= 1 and floor["fd"] < 5  # two sets of real digits


@pytest.mark.parametrize("override", [{"eval.k": 3}, {"eval.n_samples": 300}])
def test_evaluate_refuses_a_reference_made_for_other_settings(pipeline, tmp_path, override):
    """A reference run by hand with other params: its radii (k) or its floor (n_samples) would
    not be the ones this evaluate reports against."""
    from priorgap.data.files import read_split

    root, data, uri = pipeline
    n = len(read_split(data / "mnist", "test")[0])
    params = write_params(tmp_path / "params.yaml", **{**SMALL, **override})
    before = len(mlflow_runs(uri))
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "stages" / "evaluate.py"),
            *(str(data / d) for d in ("mnist", "vae", "posterior", "classifier", "reference")),
            str(tmp_path / "eval"),
            "--params",
            str(params),
        ],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": uri},
    )
    assert proc.returncode == 1 and not (tmp_path / "eval").exists()
    error = proc.stderr.strip()
    assert error.startswith(f"evaluate: error: {data / 'reference' / 'test.npz'}: made for {n} test images and {{")
    assert error.endswith("; re-run `dvc repro reference`") and "\n" not in error
    key, value = next(iter(override.items()))
    assert f"'{key.split('.')[1]}': {value}" in error
    assert len(mlflow_runs(uri)) == before


def logged_headline(data) -> set:
    values = flatten_dict(json.loads((data / "summary" / "metrics.json").read_text()))
    assert set(values) == set(headline.HEADLINE)
    return {k for k, v in values.items() if v is not None} | set(headline.view_figures(values))  # and fd.best_fitted


def test_pipeline_row_is_every_param_and_the_headline(pipeline):
    root, data, uri = pipeline
    import mlflow

    parent = mlflow.MlflowClient(uri).get_run(mlflow_runs(uri, kind="pipeline")[0].info.run_id)
    # the dashboard, nothing else (a figure the run could not have, such as the KS statistic of
    # active units when none is active, stays null in the file and absent from the row)
    assert set(parent.data.metrics) == logged_headline(data)
    # the saved view (VIEW_METRICS) fits a screen; the rest of the headline is one "Columns" click
    # away: per sampler, fd, precision and recall against real digits and against the reconstructions,
    # and what the study reads of every run (rate and distortion, the bound's se, both kinds of match,
    # scale against shape, the prior's holes, the ex-post likelihood)
    assert 15 <= len(headline.HEADLINE) <= 80
    every = schema.load_all(root / "params.yaml")
    assert parent.data.params == {k: str(v) for k, v in every.items()}
    fp = json.loads((data / "posterior" / "metrics.json").read_text())
    assert parent.data.metrics["kl_q_prior"] == pytest.approx(fp["kl_q_prior"])
    ev = json.loads((data / "eval" / "metrics.json").read_text())
    assert parent.data.metrics["fd_vs_recon.gmm"] == pytest.approx(ev["gmm"]["vs_recon"]["fd"])
    summary = json.loads((data / "summary" / "metrics.json").read_text())
    assert (
        summary["fd"]["prior"] == pytest.approx(ev["prior"]["fd"])
        and summary["test_elbo"] == parent.data.metrics["test_elbo"]
    )
    page = (data / "summary" / "summary.html").read_text()
    assert page.count("data:image/png;base64,") == 10 and "kl_q_prior_lower_bound" in page
    assert f"best fitted density ({headline.best_fitted(parent.data.metrics)}, chosen on validation codes)" in page
    # the multi-panel figures get the page's width; the square ones half of it
    assert re.search(r'<figure class="wide"><img [^>]*alt="precision of the prior', page)
    assert re.search(r'<figure><img [^>]*alt="the training codes', page)
    # the saved views' column beside the headline: the best fitted density's FD
    best = headline.best_fitted(parent.data.metrics)
    assert parent.data.metrics[headline.BEST_FD] == parent.data.metrics[f"fd.{best}"]


def test_metrics_files_hold_results_only(pipeline):
    """Timings and settings change without the results changing: they stay out of git-tracked files."""
    _, data, _ = pipeline
    for path in (
        "vae/metrics.json",
        "posterior/metrics.json",
        "classifier/metrics.json",
        "reference/metrics.json",
        "eval/metrics.json",
    ):
        keys = set(flatten_dict(json.loads((data / path).read_text())))
        assert not {
            k for k in keys if "second" in k or k.split(".")[-1] in {"epochs", "latent_dim", "n_codes", "iwae_k"}
        }, path


def test_row_is_complete_when_upstream_stages_were_cached(pipeline, tmp_path, monkeypatch):
    """DVC restores cached stages without running them: only reference, evaluate and summarize
    run in the new pipeline run, and its row must still carry the upstream figures and every param."""
    root, data, uri = pipeline
    monkeypatch.chdir(root)
    params = write_params(root / "params.yaml", **{**SMALL, "eval.seed": 1})
    try:
        run_evaluate(data, params)
    finally:
        write_params(root / "params.yaml", **SMALL)
    rows = mlflow_runs(uri, kind="pipeline")
    assert len(rows) == 2
    import mlflow

    new = mlflow.MlflowClient(uri).get_run(rows[-1].info.run_id)
    assert [
        r.data.tags["priorgap.stage"]
        for r in mlflow_runs(uri, kind="stage")
        if r.data.tags["mlflow.parentRunId"] == new.info.run_id
    ] == ["reference", "evaluate", "summarize"]
    assert set(new.data.metrics) == logged_headline(data) and new.info.status == "FINISHED"
    assert new.data.params["eval.seed"] == "1" and new.data.params["model.latent_dim"] == "3"
    old = mlflow.MlflowClient(uri).get_run(rows[0].info.run_id)
    assert new.data.metrics["test_elbo"] == old.data.metrics["test_elbo"]


def test_a_mistyped_command_changes_nothing_in_mlflow(pipeline):
    """Inputs are checked before a run opens: no new run, and the finished row stays FINISHED."""
    root, data, uri = pipeline
    before = [(r.info.run_id, r.info.status) for r in mlflow_runs(uri)]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train.py"), str(data / "nonexistent"), str(root / "out")],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": uri},
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"train: error: {data / 'nonexistent' / 'train.npz'}: prepared MNIST split not found; "
        "run `dvc repro prepare` first"
    )
    assert [(r.info.run_id, r.info.status) for r in mlflow_runs(uri)] == before


def test_diverging_training_fails_cleanly(pipeline, tmp_path, monkeypatch):
    root, data, uri = pipeline
    monkeypatch.chdir(root)
    params = write_params(tmp_path / "params.yaml", **{**SMALL, "train.lr": 1e30, "train.epochs": 1})
    with pytest.raises(train.training.TrainingError, match="non-finite .* lower train.lr"):
        train.main([str(data / "mnist"), str(tmp_path / "vae"), "--params", str(params)])
    assert not (tmp_path / "vae").exists()  # nothing half-written
    failed = mlflow_runs(uri, stage="train")[-1]
    assert failed.info.status == "FAILED"
    import mlflow

    assert mlflow.MlflowClient(uri).get_run(failed.data.tags["mlflow.parentRunId"]).info.status == "FAILED"


METRIC_KEYS = {
    "kl_q_prior",
    "kl_q_prior_se",
    "kl_q_prior_active",
    "kl_prior_q",
    "kl_prior_q_se",
    "avg_kl",
    "mutual_info",
    "mi_margin",
    "mean_norm",
    "cov_eig_min",
    "cov_eig_max",
    "gaussian_kl",
    "ks_max",
    "ks_mean",
    "ks_mean_active",
    "mmd2",
    "mmd_pvalue",
    "active_units",
    "holes",
    "holes_heldout",
    "kl_q_prior_lower_bound",
    "kl_q_prior_lower_bound_se",
    "kl_q_prior_lower_bound_density",
    "bound_saturated",
}


def test_fit_posterior_outputs(pipeline):
    _, data, uri = pipeline
    out = data / "posterior"
    metrics = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics)
    assert "latent_dim" not in metrics and "n_codes" not in metrics  # settings, not results
    assert metrics["mi_margin"] >= -4 * metrics["kl_q_prior_se"]  # mutual information <= log N
    assert set(metrics["densities"]) == set(densities.names())
    scores = metrics["densities"]
    chosen = max(scores, key=lambda name: scores[name]["val_gain"])  # on the validation codes
    assert scores["prior"]["heldout_gain"] == scores["prior"]["val_gain"] == 0.0
    assert (
        metrics["kl_q_prior_lower_bound_density"] == chosen
        and metrics["kl_q_prior_lower_bound"] == scores[chosen]["heldout_gain"]
    )
    curve = scores["gmm"]["curve"]  # every capacity tried, scored on both held-out splits
    assert list(curve) == ["10", "30", "100", "200"] and str(scores["gmm"]["capacity"]) in curve
    assert scores["gmm"]["val_gain"] == curve[str(scores["gmm"]["capacity"])]["val_gain"]
    assert metrics["bound_saturated"] == scores["gmm"]["saturated"]
    assert (out / "capacity.csv").read_text().splitlines()[0] == (
        "density,capacity,val_gain,val_gain_se,heldout_gain,heldout_gain_se,step,step_se"
    )
    assert metrics["densities"]["prior"]["kl_q_g"] == metrics["kl_q_prior"]
    for name in densities.names():
        g = densities.load(out / "densities" / f"{name}.pt")
        assert g.sample(10, seed=0).shape == (10, 3)
    assert (out / "ks.csv").read_text().splitlines()[0] == "dim,ks,pvalue,mu_var,mean_square,active"
    assert {p.name for p in (out / "figures").iterdir()} == {
        "latent_mu.png",
        "latent_pairs.png",
        "marginals.png",
        "qq.png",
        "cov_spectrum.png",
        "capacity.png",
    }
    run = mlflow_runs(uri, stage="fit_posterior")[-1]
    # each fit@<density> run carries the params it declares, and no other density's
    gmm = mlflow_runs(uri, stage="fit@gmm")[-1].data.params
    assert gmm["posterior.gmm.components"] == "[10, 30, 100, 200]" and not any(".flow." in k for k in gmm)
    assert "densities.gmm.kl_q_g" in run.data.metrics and "kl_q_prior" in run.data.metrics
    assert run.data.tags["bound_density"] == chosen
    import mlflow

    history = mlflow.MlflowClient(uri).get_metric_history(run.info.run_id, "capacity_gmm.heldout_gain")
    assert [(m.step, m.value) for m in history] == [(int(c), r["heldout_gain"]) for c, r in curve.items()]


def test_fit_posterior_runs_on_codes_a_test_wrote(tmp_path, mlflow_store, monkeypatch):
    """Any codes file of the contract's format will do, whatever produced it."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    codes = tmp_path / "codes"
    codes.mkdir()
    for split, n in (("train", 3000), ("val", 500), ("test", 500)):
        np.savez(
            codes / f"{split}.npz",
            mu=rng.normal(0, 0.8, (n, 1)).astype(np.float32),
            logvar=np.full((n, 1), np.log(0.36), np.float32),
            labels=rng.integers(0, 10, n).astype(np.uint8),
        )
    np.savez(codes / "prior.npz", mu=np.zeros((1, 1), np.float32), logvar=np.zeros((1, 1), np.float32), labels=[-1])
    params = write_params(tmp_path / "params.yaml", **{**SMALL, "posterior.gmm.components": [2]})
    run_fit_posterior(codes, tmp_path / "match", tmp_path / "fits", tmp_path / "posterior", params)
    m = json.loads((tmp_path / "posterior" / "metrics.json").read_text())
    # q -> N(0, 0.64 + 0.36) = N(0, 1): nothing to see
    assert abs(m["kl_q_prior"]) < 4 * m["kl_q_prior_se"] + 0.01
    assert m["densities"]["gaussian"]["kl_q_g"] < 0.02


def test_fit_posterior_refuses_missing_codes(tmp_path, mlflow_store):
    params = write_params(tmp_path / "params.yaml")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "stages" / "match.py"),
            str(tmp_path / "codes"),
            str(tmp_path / "out"),
            "--params",
            str(params),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"match: error: {tmp_path / 'codes' / 'train.npz'}: codes file (mu, logvar, labels) not found; "
        "run `dvc repro encode` first"
    )
    assert not (tmp_path / "out").exists()


def test_sigterm_is_handled_like_ctrl_c(pipeline, tmp_path):
    """`timeout`, schedulers and process managers stop a stage with SIGTERM: no output, the stage
    run and the pipeline run KILLED (stopped, not broken), exit status 143."""
    import signal
    import time

    root, data, uri = pipeline
    params = write_params(tmp_path / "params.yaml", **{**SMALL, "train.epochs": 500})
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "stages" / "train.py"),
            str(data / "mnist"),
            str(tmp_path / "vae"),
            "--params",
            str(params),
        ],
        cwd=root,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": uri},
    )
    deadline = time.monotonic() + 120
    while not any(r.info.status == "RUNNING" for r in mlflow_runs(uri, stage="train")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.5)
    time.sleep(2)  # into the epochs
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert "train: terminated (SIGTERM)" in err
    assert not (tmp_path / "vae").exists() and not list(tmp_path.glob(".vae.tmp-*"))
    run = mlflow_runs(uri, stage="train")[-1]
    assert run.info.status == "KILLED"
    import mlflow

    assert mlflow.MlflowClient(uri).get_run(run.data.tags["mlflow.parentRunId"]).info.status == "KILLED"


def test_the_saved_view_lists_headline_figures():
    assert set(headline.VIEW_METRICS) <= set(headline.HEADLINE) | {headline.BEST_FD}


def test_fit_posterior_needs_validation_codes(tmp_path, mlflow_store, monkeypatch):
    """Every choice is made on the validation codes: without them the stage stops before any work."""
    monkeypatch.chdir(tmp_path)
    codes = tmp_path / "codes"
    codes.mkdir()
    for split, n in (("train", 300), ("val", 1), ("test", 50), ("prior", 1)):
        np.savez(
            codes / f"{split}.npz",
            mu=np.zeros((n, 2), np.float32),
            logvar=np.zeros((n, 2), np.float32),
            labels=np.zeros(n, np.uint8),
        )
    params = write_params(tmp_path / "params.yaml", **SMALL)
    import match

    with pytest.raises(PriorgapError, match="1 validation codes; .* set data.val_size to 1000 or more"):
        match.main([str(codes), str(tmp_path / "match"), "--params", str(params)])
    assert not (tmp_path / "match").exists()


def test_a_vamp_prior_runs_end_to_end_against_its_own_prior(pipeline, tmp_path):
    """model.prior.kind vamp through train, encode, fit_posterior, evaluate and summarize (on the
    module's prepared data and classifier): the prior file is the encoder at the pseudo-inputs,
    every gain and KL is against it, the prior sampler draws from it, and the row names it."""
    root, data, uri = pipeline
    params = write_params(
        tmp_path / "params.yaml", **{**SMALL, "model.prior.kind": "vamp", "model.prior.components": 7}
    )
    out = tmp_path / "data"
    out.mkdir()
    for folder in ("mnist", "classifier", "reference"):
        (out / folder).symlink_to(data / folder)
    train.main([str(out / "mnist"), str(out / "vae"), "--params", str(params)])
    encode.main([str(out / "mnist"), str(out / "vae"), str(out / "codes"), "--params", str(params)])
    run_fit_posterior(out / "codes", out / "match", out / "fits", out / "posterior", params)
    run_evaluate(out, params)

    from priorgap.model import training, vae

    model = vae.load(out / "vae" / "model.pt")
    assert model.cfg.prior == "vamp" and model.vamp.pseudo_logits.shape == (7, 784)
    prior_codes = aggregate.Codes.load(out / "codes" / "prior.npz")
    mu, logvar = training.prior_components(model)
    np.testing.assert_array_equal(prior_codes.mu.numpy(), mu)
    np.testing.assert_array_equal(prior_codes.logvar.numpy(), logvar)
    prior = densities.load(out / "posterior" / "densities" / "prior.pt")
    assert isinstance(prior, aggregate.Codes) and prior.name == "prior" and len(prior.mu) == 7
    z = torch.randn(20, 3)
    torch.testing.assert_close(prior.log_prob(z), model.log_prior(z).double(), atol=1e-4, rtol=1e-5)

    m = json.loads((out / "posterior" / "metrics.json").read_text())
    assert m["densities"]["prior"]["heldout_gain"] == m["densities"]["prior"]["val_gain"] == 0.0
    assert m["densities"]["prior"]["kl_q_g"] == pytest.approx(
        m["kl_q_prior"], abs=1e-12
    )  # KL(q || p) against the VampPrior
    assert m["avg_kl_se"] > 0 and m["mutual_info"] == pytest.approx(m["avg_kl"] - m["kl_q_prior"])
    ev = json.loads((out / "eval" / "metrics.json").read_text())
    assert 50 < ev["iwae_nll"] < 400 and ev["prior"]["fd"] > 0
    row = mlflow_runs(uri, kind="pipeline")[-1]
    assert row.info.run_name == "d2-w64-z3-vamp7-s0-e2-cb"
    assert row.data.params["model.prior.kind"] == "vamp" and row.data.params["model.prior.components"] == "7"
    assert "a VampPrior of 7 pseudo-inputs" in (out / "summary" / "summary.html").read_text()
