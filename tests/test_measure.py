"""priorgap.measure on anyone's codes: the stage's own figures, a sampler that saves as config and
tensors, codes from any encoder, and one line for each bad input."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import priorgap
from priorgap.errors import PriorgapError
from priorgap.config import schema
from priorgap.instruments import inputs
from conftest import ROOT, write_params

QUICK = {"posterior.n_samples": 2000, "posterior.mmd.n_samples": 300, "posterior.mmd.permutations": 50,
         "posterior.gmm.components": [1, 3], "posterior.flow.steps": 50, "posterior.two_stage.steps": 50,
         "posterior.two_stage.hidden": 16, "posterior.two_stage.importance_samples": 4}


def split(rng, n, d=2, scale=0.8):
    return rng.normal(0, scale, (n, d)).astype(np.float32), np.full((n, d), -2.0, np.float32)


@pytest.fixture(scope="module")
def quick_params(tmp_path_factory):
    return schema.load(write_params(tmp_path_factory.mktemp("p") / "params.yaml", **QUICK), "posterior")


@pytest.fixture(scope="module")
def report(quick_params):
    rng = np.random.default_rng(0)
    return priorgap.measure(split(rng, 3000), split(rng, 500), split(rng, 500), densities=("gaussian", "gmm"),
                            params=quick_params)


def test_the_report_holds_the_bracket_each_gain_and_a_reading(report):
    b = report.bracket
    # q = N(0, 0.64 + e^-2 = 0.775 I): KL to N(0, I) = 2 * (0.775 - 1 - log 0.775) / 2 = 0.030 nats
    truth = 0.775 - 1 - math.log(0.775)
    assert b["lower"] <= truth + 4 * b["lower_se"] and b["upper"] >= truth - 4 * b["upper_se"]
    assert set(report.gains) == {"prior", "gaussian", "gmm"} and report.gains["prior"] == 0.0
    assert "the bracket pins KL(q || N(0,I)) between" in report.reading()
    text = report.to_markdown()
    assert "| active units | 2 of 2 |" in text and "| gmm |" in text
    assert report.to_html().startswith("<!doctype html>")


def test_the_sampler_saves_as_tensors_and_loads_back(report, tmp_path):
    report.save(tmp_path / "out")
    assert {"report.md", "report.html", "sampler.pt", "metrics.json", "figures", "densities"} <= {
        p.name for p in (tmp_path / "out").iterdir()}
    assert "data:image/png;base64," in (tmp_path / "out" / "report.html").read_text()
    back = priorgap.load_sampler(tmp_path / "out" / "sampler.pt")
    torch.load(tmp_path / "out" / "sampler.pt", weights_only=True)  # no pickled code in it
    z = torch.randn(7, 2)
    torch.testing.assert_close(back.log_prob(z), report.sampler.log_prob(z), rtol=0, atol=0)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    torch.testing.assert_close(back.sample(5, g1), report.sampler.sample(5, g2))
    assert back.sample(1000, 1).shape == (1000, 2)


def test_the_report_logs_to_the_store_that_is_set(report, mlflow_store):
    import mlflow

    run_id = report.log_to_mlflow("my vae")
    run = mlflow.MlflowClient(mlflow_store).get_run(run_id)
    assert run.info.run_name == "my vae" and run.info.status == "FINISHED"
    assert run.data.metrics["kl_q_prior_lower_bound"] == report.bracket["lower"]
    assert run.data.tags["sampler"] == report.sampler.name
    names = {a.path for a in mlflow.MlflowClient(mlflow_store).list_artifacts(run_id)}
    assert {"report.md", "report.html", "sampler.pt", "metrics.json", "figures"} <= names


def test_a_saved_report_is_logged_from_its_folder(report, mlflow_store, tmp_path):
    import mlflow

    report.save(tmp_path / "out")
    (tmp_path / "out" / "note.txt").write_text("mine")  # logged as it is: the folder, not a new rendering
    run_id = report.log_to_mlflow(saved=tmp_path / "out")
    assert "note.txt" in {a.path for a in mlflow.MlflowClient(mlflow_store).list_artifacts(run_id)}


def test_without_a_store_nothing_is_logged(report, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert report.log_to_mlflow() is None


def test_a_file_that_is_not_ours_is_refused(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    with pytest.raises(
        PriorgapError, match=r"junk.pt: not a priorgap sampler file \(torch.load cannot read it\); save one with"
    ):
        priorgap.load_sampler(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(PriorgapError, match="other.pt: not a priorgap sampler file \\(no 'priorgap-sampler-1' mark\\)"):
        priorgap.load_sampler(tmp_path / "other.pt")


@pytest.mark.slow  # the stage and measure, each with every density
def test_measure_gives_the_fit_posterior_stage_figures_exactly(tmp_path, mlflow_store, monkeypatch):
    """One implementation: the stages (match, each fit@, fit_posterior) and priorgap.measure on the
    same codes and params."""
    from conftest import run_fit_posterior

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    codes = tmp_path / "codes"
    codes.mkdir()
    arrays = {}
    for name, n in (("train", 2000), ("val", 400), ("test", 400)):
        arrays[name] = split(rng, n, d=3)
        np.savez(codes / f"{name}.npz", mu=arrays[name][0], logvar=arrays[name][1], labels=np.zeros(n, np.uint8))
    np.savez(codes / "prior.npz", mu=np.zeros((1, 3), np.float32), logvar=np.zeros((1, 3), np.float32), labels=[-1])
    params = write_params(tmp_path / "params.yaml", **QUICK)
    run_fit_posterior(codes, tmp_path / "match", tmp_path / "fits", tmp_path / "posterior", params)
    stage = json.loads((tmp_path / "posterior" / "metrics.json").read_text())
    report = priorgap.measure(arrays["train"], arrays["val"], arrays["test"], params=schema.load(params, "posterior"))
    report.save(tmp_path / "measured")
    assert json.loads((tmp_path / "measured" / "metrics.json").read_text()) == stage



def test_the_pipelines_codes_folder_reads_as_the_npz_does(tmp_path):
    """`priorgap measure data/codes`: the encode stage's folder gives the same splits as the npz of
    the same arrays, and a folder without a split says which file and which stage."""
    rng = np.random.default_rng(2)
    arrays = {name: split(rng, n, d=3) for name, n in (("train", 300), ("val", 120), ("test", 110))}
    folder = tmp_path / "codes"
    folder.mkdir()
    for name, (mu, logvar) in arrays.items():
        np.savez(folder / f"{name}.npz", mu=mu, logvar=logvar, labels=np.zeros(len(mu), np.uint8))
    np.savez(
        tmp_path / "codes.npz", **{f"{n}_{a}": v for n, pair in arrays.items() for a, v in zip(("mu", "logvar"), pair)}
    )
    from_folder, from_npz = inputs.read(folder), inputs.read(tmp_path / "codes.npz")
    for name in inputs.SPLITS:
        assert torch.equal(from_folder[name].mu, from_npz[name].mu) and len(from_folder[name].mu) == len(
            arrays[name][0]
        )
        assert torch.equal(from_folder[name].logvar, from_npz[name].logvar)
    (folder / "val.npz").unlink()
    with pytest.raises(
        PriorgapError, match=r"^\S*codes/val.npz: codes file \(mu, logvar, labels\) not found; run `dvc repro encode`"
    ):
        inputs.read(folder)


def test_encode_takes_any_callable_and_a_loader():
    from torch.utils.data import DataLoader, TensorDataset

    x = torch.randn(70, 5)
    net = torch.nn.Linear(5, 4)
    loader = DataLoader(TensorDataset(x, torch.zeros(70)), batch_size=16)
    mu, logvar = priorgap.encode(lambda b: net(b).chunk(2, dim=1), loader, progress=False)
    assert mu.shape == (70, 2) and logvar.shape == (70, 2)
    torch.testing.assert_close(mu, net(x)[:, :2].detach())
    with pytest.raises(PriorgapError, match="returned Tensor, not \\(mu, logvar\\)"):
        priorgap.encode(net, loader, progress=False)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda s: {**s, "val": (s["val"][0][:, :1], s["val"][1][:, :1])},
            "the splits differ in latent size (train 2, val 1, test 2); encode all three with the same model",
        ),
        (
            lambda s: {**s, "train": (np.where(np.arange(2)[None] == 0, np.nan, s["train"][0]), s["train"][1])},
            "train.mu: 3000 values are NaN or infinite; drop those images' codes or fix the encoder that produced them",
        ),
        (
            lambda s: {**s, "test": (s["test"][0], np.exp(0.5 * s["test"][1]))},
            "test.logvar: every value is positive (0.368 to 0.368), as standard deviations or variances are; pass "
            "log(std ** 2), or allow_positive_logvar=True (--allow-positive-logvar) if every posterior really is wider "
            "than N(0, I)",
        ),
        (
            lambda s: {**s, "val": (s["val"][0][:50], s["val"][1][:50])},
            "val: 50 codes, fewer than the 100 the densities asked need; encode more images, or ask for "
            "smaller capacities",
        ),
    ],
)
def test_bad_codes_get_one_line_naming_the_array(change, message):
    rng = np.random.default_rng(2)
    s = change({"train": split(rng, 3000), "val": split(rng, 500), "test": split(rng, 500)})
    with pytest.raises(PriorgapError) as err:
        inputs.splits(s["train"], s["val"], s["test"])
    assert str(err.value) == message


@pytest.mark.slow  # the command end to end in a subprocess; the API's refusals are fast above
def test_the_command_reads_an_npz_and_refuses_a_bad_one_in_one_line(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"junk")
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "half.npz", train_mu=split(rng, 10)[0], train_logvar=split(rng, 10)[1])
    for name, message in (
        ("junk.npz", "junk.npz: not an npz file (ValueError); write it with numpy.savez"),
        (
            "half.npz",
            "half.npz: lacks val_mu, val_logvar, test_mu, test_logvar (it holds train_logvar, "
            "train_mu); save each split's mu and logvar under those names",
        ),
    ):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "priorgap.instruments.cli",
                "measure",
                str(tmp_path / name),
                "--out",
                str(tmp_path / "out"),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert message in proc.stderr
    assert not (tmp_path / "out").exists()
    help_text = subprocess.run(
        [sys.executable, "-m", "priorgap.instruments.cli", "measure", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    assert "priorgap measure codes.npz --out my-vae/" in help_text


def test_the_codes_a_density_needs_come_from_the_density_not_its_name():
    """measure asks each density how many training codes its capacities need (the mixture: ten
    per component at its largest), so a density added later brings its own rule."""
    from priorgap.instruments import measure

    params = schema.load(measure.REPOSITORY_PARAMS, "posterior")
    largest = max(params.gmm.components)
    assert measure.least_codes(params, ["prior", "gmm", "flow"]) == {"train": 10 * largest}
    assert measure.least_codes(params, ["prior", "flow", "widened"]) == {}


def test_where_the_held_out_end_sits_above_the_training_end_the_reading_says_they_meet(report):
    """The two ends bound two populations (test codes below, training codes above): on the default
    model's codes the lower end is 0.347 and the upper 0.341, which is no bracket to "pin" between."""
    import dataclasses

    m = {**report.metrics, "kl_q_prior": report.metrics["kl_q_prior_lower_bound"] - 0.006, "mi_margin": 4.4}
    said = dataclasses.replace(report, fitted=dataclasses.replace(report.fitted, metrics=m)).reading()
    assert "the two ends meet" in said and "pins" not in said
