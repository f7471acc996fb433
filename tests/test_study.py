"""The study report on synthetic MLflow runs whose conclusions are known."""
import pytest

from priorgap import study, tracking

from priorgap import report


def _log_rows(uri, rows):
    """Pipeline runs as the stages leave them: params plus headline metrics."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment(tracking.EXPERIMENT)
    for i, (depth, latent, seed, kl, ks) in enumerate(rows):
        run = client.create_run(exp, tags={"priorgap.kind": "pipeline"}, run_name=f"exp-{i}")
        rid = run.info.run_id
        for k, v in {"model.encoder.depth": depth, "model.latent_dim": latent, "train.seed": seed}.items():
            client.log_param(rid, k, v)
        metrics = {"kl_q_prior": kl, "ks_mean_active": ks, "iwae_nll": 100.0, "test_elbo": -100.0,
                   "kl_prior_q": kl, "mutual_info": 5.0, "active_units": latent, "holes_heldout": 0.01}
        for sampler in ("prior", "gmm", "aggregate"):
            metrics.update({f"fd.{sampler}": 10.0 * latent, f"precision.{sampler}": 0.9, f"recall.{sampler}": 0.5})
        for k, v in metrics.items():
            client.log_metric(rid, k, v)
        client.set_terminated(rid)
    # a row whose pipeline never finished (summarize did not run) is left out of the study
    client.create_run(exp, tags={"priorgap.kind": "pipeline"}, run_name="unfinished")


@pytest.fixture
def grid_store(mlflow_store):
    rows = []
    for depth in (1, 3):
        for latent in (2, 10):
            for seed, noise in ((0, 0.01), (1, -0.01)):
                kl = (2.0 if depth == 1 else 1.0) + noise  # deeper: clearly lower KL -> claim 1 holds
                ks = 0.05 + 0.01 * latent + noise / 10  # more dims: higher KS -> claim 2 does not hold
                rows.append((depth, latent, seed, kl, ks))
    _log_rows(mlflow_store, rows)
    return mlflow_store


def test_claims_on_a_grid_with_known_answers(grid_store):
    import mlflow

    rows = study.fetch_rows(mlflow.MlflowClient(grid_store), tracking.EXPERIMENT)
    assert len(rows) == 8  # the unfinished run is not a row
    depth_claim, latent_claim = study.claims(rows)
    assert depth_claim.verdict == "holds"
    assert [c.verdict for c in depth_claim.comparisons] == ["lower", "lower"]
    assert depth_claim.comparisons[0].diff == pytest.approx(-1.0)
    assert latent_claim.verdict == "does not hold"
    assert [c.verdict for c in latent_claim.comparisons] == ["higher", "higher"]


def test_noise_without_a_trend_does_not_support_a_claim(mlflow_store):
    rows = [(d, 2, s, 1.0 + (0.3 if s else -0.3), 0.1) for d in (1, 2) for s in (0, 1)]
    _log_rows(mlflow_store, rows)
    import mlflow

    claim = study.claims(study.fetch_rows(mlflow.MlflowClient(mlflow_store), tracking.EXPERIMENT))[0]
    assert [c.verdict for c in claim.comparisons] == ["no clear change"]
    assert claim.verdict == "does not hold"


def test_one_seed_cannot_decide(mlflow_store, tmp_path, monkeypatch):
    _log_rows(mlflow_store, [(d, l, 0, 1.0 / d, 0.1 / l) for d in (1, 2) for l in (2, 5)])
    monkeypatch.chdir(tmp_path)
    report.main(["--out", str(tmp_path / "reports")])
    text = (tmp_path / "reports" / "study.md").read_text()
    assert text.count(": cannot be decided.**") == 2
    assert "two seeds at each end" in text
    assert (tmp_path / "reports" / "study_match.png").stat().st_size > 10_000
    assert (tmp_path / "reports" / "study_samplers.png").stat().st_size > 10_000
    assert text.count("| exp-") == 4  # every experiment in the table
    assert str(tmp_path) not in text  # the store is named without a path of this machine


def test_report_states_the_verdicts_with_numbers(grid_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report.main(["--out", str(tmp_path / "reports")])
    text = (tmp_path / "reports" / "study.md").read_text()
    assert "A deeper encoder brings q(z) closer to N(0,I) (lower KL(q || N(0,I))): holds.**" in text
    assert ": does not hold.**" in text
    assert "| 2 | 2 (1, n=2) | 1 (3, n=2) | -1 ± 0.014 | lower |" in text
    assert "8 experiments" in text


def test_report_without_runs_fails_clearly(mlflow_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(report.PriorgapError, match="no complete pipeline runs"):
        report.main(["--out", str(tmp_path / "reports")])
    assert not (tmp_path / "reports").exists()
