"""The study report on synthetic MLflow runs whose conclusions are known."""
import csv

import pytest

from priorgap.common import store
from priorgap.study import claims, report, runs, sampling, stats, summary


def _log_rows(uri, rows):
    """Pipeline runs as summarize leaves them: params plus the headline, and a finished summarize child.

    rows: dicts with depth, latent, seed and any headline figure to override."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment(store.EXPERIMENT)
    for i, row in enumerate(rows):
        run = client.create_run(exp, tags={"priorgap.kind": "pipeline"}, run_name=f"exp-{i}")
        rid = run.info.run_id
        params = {"model.encoder.depth": row["depth"], "model.latent_dim": row["latent"], "train.seed": row["seed"],
                  "train.epochs": row.get("epochs", 20), "model.decoder.depth": 2, "model.decoder.width": 500,
                  "data.train_size": None, "data.val_size": 5000}
        if "prior" in row:  # runs logged before model.prior existed have no such params: N(0, I)
            params.update({"model.prior.kind": row["prior"], "model.prior.components": 50})
        for k, v in params.items():
            client.log_param(rid, k, v)
        latent = row["latent"]
        metrics = {k: 1.0 for k in summary.HEADLINE}
        metrics.update({"val_elbo_slope": 0.01, "kl_q_prior_lower_bound": 1.0, "kl_q_prior": 2.0, "mutual_info": 8.0,
                        "test_elbo": -100.0, "ks_mean_active": 0.05, "active_units": latent})
        for s in ("prior", "aggregate", "gmm", "flow", "two_stage"):
            metrics[f"fd.{s}"] = {"prior": 100.0, "aggregate": 20.0, "gmm": 40.0}.get(s, 60.0) + row["seed"]
            metrics[f"fd_vs_recon.{s}"] = {"prior": 50.0, "aggregate": 1.0, "gmm": 5.0}.get(s, 20.0) + row["seed"]
        # the validation codes prefer the flow, although the gmm has the lower fd
        metrics.update({"val_gain.gmm": 1.0, "val_gain.flow": 2.0, "val_gain.two_stage": 0.5})
        metrics.update({k: v for k, v in row.items() if k in summary.HEADLINE})
        client.log_batch(rid, metrics=[mlflow.entities.Metric(k, v, 0, 0) for k, v in metrics.items()])
        child = client.create_run(exp, tags={"priorgap.kind": "stage", "priorgap.stage": "summarize",
                                             "mlflow.parentRunId": rid})
        client.set_terminated(child.info.run_id)
        client.set_terminated(rid)
    # a row whose pipeline never finished (summarize did not run) is left out of the study
    client.create_run(exp, tags={"priorgap.kind": "pipeline"}, run_name="unfinished")


def grid(fn, depths=(1, 3), latents=(2, 10), seeds=(0, 1)):
    return [{"depth": d, "latent": z, "seed": s, **fn(d, z, s)} for d in depths for z in latents for s in seeds]


def _rows(uri):
    import mlflow

    rows = runs.fetch_rows(mlflow.MlflowClient(uri), store.EXPERIMENT)
    g, longer = runs.split_epochs(rows, 20)
    return [r for r in g if r.converged], g, longer


def noise(s):
    return 0.01 if s else -0.01


def test_deeper_and_closer_while_keeping_information(mlflow_store):
    _log_rows(mlflow_store, grid(lambda d, z, s: {
        "kl_q_prior_lower_bound": (2.0 if d == 1 else 1.0) + noise(s), "kl_q_prior": (3.0 if d == 1 else 2.0) + noise(s),
        "mutual_info": 8.0 + noise(s), "avg_kl": (12.0 if d == 1 else 11.0) + noise(s),
        "ks_mean_active": 0.05 + 0.01 * z + noise(s) / 10}))
    used, g, _ = _rows(mlflow_store)
    assert len(g) == 8  # the unfinished run is not a row
    depth, latent = claims.depth_claim(used), claims.latent_claim(used)
    assert depth.verdict == "holds"
    assert [c.verdict for c in depth.tables["kl_q_prior_lower_bound"].values()] == ["lower", "lower"]
    assert depth.tables["kl_q_prior_lower_bound"][2].diff == pytest.approx(-1.0)
    assert depth.tables[runs.POPULATION_INFO][2].verdict == "no clear change"  # 12 - 2 = 11 - 1
    assert latent.verdict == "does not hold"  # more dimensions: higher KS


def test_closer_only_by_keeping_less_information(mlflow_store):
    """A deeper encoder whose q is closer to N(0,I) because it encodes less about x: the average KL
    drops by 4 nats, of which 1 is the closer q and 3 the information given up. The index-code
    mutual information sits at its ceiling and shows nothing."""
    _log_rows(mlflow_store, grid(lambda d, z, s: {
        "kl_q_prior_lower_bound": (2.0 if d == 1 else 1.0) + noise(s), "avg_kl": (24.0 if d == 1 else 20.0),
        "mutual_info": 10.8 + noise(s)}))
    used, _, _ = _rows(mlflow_store)
    claim = claims.depth_claim(used)
    assert claim.verdict == "holds only by keeping less information"
    assert all("closer but keeping less information" in f for f in claim.findings)


def test_closer_giving_up_a_little_information(mlflow_store):
    """Population information clearly lower, but by a tenth of the distance closed."""
    _log_rows(mlflow_store, grid(lambda d, z, s: {
        "kl_q_prior_lower_bound": (2.0 if d == 1 else 1.0) + noise(s), "avg_kl": (12.0 if d == 1 else 10.9) + noise(s)}))
    used, _, _ = _rows(mlflow_store)
    claim = claims.depth_claim(used)
    assert [c.verdict for c in claim.tables[runs.POPULATION_INFO].values()] == ["lower", "lower"]
    assert claim.verdict == "holds"
    assert all("closer, giving up only a little information" in f for f in claim.findings)


def test_non_converged_runs_are_left_out(mlflow_store, tmp_path, monkeypatch):
    # depth 3 looks closer, but only in runs that were still learning: without them, nothing to compare
    _log_rows(mlflow_store, grid(lambda d, z, s: {
        "kl_q_prior_lower_bound": (2.0 if d == 1 else 1.0) + noise(s), "val_elbo_slope": 0.01 if d == 1 else 2.0}))
    used, g, _ = _rows(mlflow_store)
    assert len(used) == 4 and len(g) == 8
    assert claims.depth_claim(used).verdict == "cannot be decided"
    monkeypatch.chdir(tmp_path)
    report.main(["--out", str(tmp_path / "reports"), "--epochs", "20"])
    text = (tmp_path / "reports" / "study.md").read_text()
    assert "4 of 8 grid runs are; the others are left out of every verdict: exp-4 (2)" in text
    with open(tmp_path / "reports" / "study.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 8 and [t["converged"] for t in table].count("False") == 4


def test_one_seed_cannot_decide(mlflow_store, tmp_path, monkeypatch):
    rows = grid(lambda d, z, s: {"kl_q_prior_lower_bound": 1.0 / d}, seeds=(0,))
    _log_rows(mlflow_store, rows + [{**rows[0], "epochs": 10}])  # another study's run: not part of this one
    monkeypatch.chdir(tmp_path)
    report.main(["--out", str(tmp_path / "reports"), "--epochs", "20"])
    text = (tmp_path / "reports" / "study.md").read_text()
    assert text.count(": cannot be decided.**") == 2
    assert "two converged seeds at each end" in text
    for name in ("study_surgery.png", "study_match.png", "study_samplers.png"):
        assert (tmp_path / "reports" / name).stat().st_size > 10_000
    assert text.count("| exp-") == 4  # every experiment of the study in the table
    assert "1 run of the store at other epoch counts is not part of it" in text
    assert str(tmp_path) not in text  # the store is named without a path of this machine


def test_sampling_answer_and_convergence_slice(mlflow_store):
    rows = grid(lambda d, z, s: {}, depths=(1,), latents=(2,), seeds=(0, 1, 2))
    rows.append({"depth": 1, "latent": 2, "seed": 0, "epochs": 40, "mutual_info": 8.5})  # moved beyond the spread
    _log_rows(mlflow_store, rows)
    used, g, longer = _rows(mlflow_store)
    assert len(g) == 3 and len(longer) == 1
    (result,) = sampling.sampling(used)
    assert result.best == "flow"  # chosen on the validation gain, never on the fd it is compared by
    answer = sampling.sampling_answers([result])[2.0]
    assert answer.startswith("yes: N(0,I) is clearly worse than the best fitted density at 1 of 1 depths")
    assert "(fd to the reconstructions 51 against 21; replaying q 2)" in answer
    # the slice run keeps the synthetic fd (prior 100, best flow 60): still worse, on both measures
    assert sampling.sampling_on_slice(sampling.sampling(used), longer) == {"fd": (1, 1), "fd_vs_recon": (1, 1)}
    checks = {c.metric: c for c in stats.convergence(g, longer)}
    assert checks["kl_q_prior_lower_bound"].within and not checks["mutual_info"].within


def test_report_without_runs_fails_clearly(mlflow_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(report.PriorgapError, match="no complete pipeline runs"):
        report.main(["--out", str(tmp_path / "reports"), "--epochs", "20"])
    assert not (tmp_path / "reports").exists()


def test_verdict_checked_at_twice_the_epochs(mlflow_store):
    """Depth 3 is closer at 20 epochs at both latent sizes; at 40 epochs it stays closer at latent
    size 2 but not at 10: the second comparison does not persist."""
    def bound(d, z, longer=False):
        return 1.0 if d == 1 else (0.5 if z == 2 or not longer else 1.5)
    rows = grid(lambda d, z, s: {"kl_q_prior_lower_bound": bound(d, z) + noise(s)})
    rows += grid(lambda d, z, s: {"epochs": 40, "kl_q_prior_lower_bound": bound(d, z, longer=True)}, seeds=(0,))
    _log_rows(mlflow_store, rows)
    used, g, longer = _rows(mlflow_store)
    assert len(g) == 8 and len(longer) == 4
    found = [q for q in claims.persistence(claims.depth_claim(used), longer, runs.DEPTH, runs.LATENT)
             if q.measure == "kl_q_prior_lower_bound"]
    assert [(q.grid.within, q.grid.verdict, q.longer, q.agrees) for q in found] == [
        (2.0, "lower", -0.5, True), (10.0, "lower", 0.5, False)]
    # mutual information is the same everywhere: "no clear change", and the slice agrees (a zero difference)
    mi = [q for q in claims.persistence(claims.depth_claim(used), longer, runs.DEPTH, runs.LATENT)
          if q.measure == "mutual_info"]
    assert [q.agrees for q in mi] == [True, True]


def test_a_learned_priors_runs_are_their_own_settings(mlflow_store, tmp_path, monkeypatch, capsys):
    """A VampPrior run at the same depth, latent size and seed is another setting (neither replaces
    the other), and the N(0, I) report leaves it out rather than mixing it into its seeds."""
    _log_rows(mlflow_store, grid(lambda d, z, s: {}) + grid(lambda d, z, s: {"prior": "vamp", "fd.prior": 5.0}))
    import mlflow

    rows = runs.fetch_rows(mlflow.MlflowClient(mlflow_store), store.EXPERIMENT)
    assert len(rows) == 16 and sorted({r.prior for r in rows}) == ["normal", "vamp50"]
    monkeypatch.chdir(tmp_path)
    report.main(["--out", str(tmp_path / "reports"), "--epochs", "20"])
    assert "8 runs with a learned prior left out" in capsys.readouterr().out
    with open(tmp_path / "reports" / "study.csv") as f:
        assert len(list(csv.DictReader(f))) == 8
