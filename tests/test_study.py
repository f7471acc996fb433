"""The study report on synthetic runs whose answers are known: the whole design of design.py, with
effects planted in the figures each verdict reads."""
import csv
import math
from pathlib import Path

import pytest

from priorgap import PriorgapError
from priorgap.common import store
from priorgap.analysis import answer, depth, latent_size, learned_prior, prior_sampling, stats
from priorgap.study import design, runs, runs_file
from priorgap.report import opening, study_page
from priorgap.summary import headline

EPOCHS = design.EPOCHS


def noise(seed: int, scale: float) -> float:
    return scale * (-1.0, 0.0, 1.0, 1.0, -1.0, 1.0, -1.0)[seed]  # mean 0 over seeds 0-2, 0-4 and 0-6


def synthetic(p: design.Planned, *, deep_closer_at_matched_rate=0.0, warmup_restores=True, slice_shift=0.0,
              wide_closer_at_matched_rate=0.0, recall_at_floor=False) -> dict:
    """One run's headline. Depth 3 keeps fewer units and a lower rate; at the same rate its bound
    is lower by `deep_closer_at_matched_rate`. KS falls from latent size 2 to 10, then stays flat.
    The prior's samples: worse fd and precision than the best density (the flow, by validation
    gain), better recall. A VampPrior model: ELBO 2 nats better, an ex-post gain of 0.4 left."""
    deep = p.depth == 3
    units = min(p.latent, (20 if p.warmup and warmup_restores else 9) if deep else 20)
    rate = (4.0 + 0.8 * units) / math.sqrt(p.beta) + noise(p.seed, 0.05)
    bound = (0.1 * rate - (deep_closer_at_matched_rate if deep else 0.0) + noise(p.seed, 0.02)
             - wide_closer_at_matched_rate * (p.width == 1000))
    elbo = -90.0 - 0.1 * p.depth + (2.0 if p.prior != "normal" else 0.0) + noise(p.seed, 0.1)
    m = {k: 1.0 for k in headline.HEADLINE}
    m.update({"test_kl": rate, "test_recon": 120.0 - 2.0 * rate + noise(p.seed, 0.1), "test_elbo": elbo,
              "avg_kl": rate + 0.01, "kl_q_prior_lower_bound": 0.4 if p.prior != "normal" else bound,
              "active_units": units, "val_elbo_slope": 0.05,
              "ks_mean_active": (0.10 if p.latent == 2 else 0.06) + noise(p.seed, 0.003) + slice_shift * (p.epochs > EPOCHS and p.latent == 10),
              "iwae_nll": -elbo - 7.0, "val_gain.gmm": 0.5, "val_gain.flow": 0.7, "val_gain.two_stage": 0.1,
              "floor.fd": 1.7, "floor.precision": 0.95, "floor.recall": 0.94})
    for s, (fd, recon, prec, rec) in {"prior": (100.0, 20.0, 0.90, 0.30), "gmm": (70.0, 1.0, 0.97, 0.20),
                                      "flow": (80.0, 2.0, 0.95, 0.25), "two_stage": (95.0, 10.0, 0.92, 0.28),
                                      "aggregate": (75.0, 0.5, 0.96, 0.27)}.items():
        m.update({f"fd.{s}": fd + noise(p.seed, 1.0), f"fd_vs_recon.{s}": recon + noise(p.seed, 0.3),
                  f"precision.{s}": prec + noise(p.seed, 0.005), f"recall.{s}": rec + noise(p.seed, 0.005),
                  f"precision_vs_recon.{s}": prec + noise(p.seed, 0.005), f"recall_vs_recon.{s}": rec + noise(p.seed, 0.005)})
        if recall_at_floor and p.latent == 2:
            m[f"recall.{s}"] = 0.003 + noise(p.seed, 0.001) * (s == "prior")
    return m


def row(p: design.Planned, metrics: dict) -> runs.Row:
    kind = "normal" if p.prior == "normal" else "vamp"
    params = {runs.DEPTH: str(p.depth), runs.LATENT: str(p.latent), runs.SEED: str(p.seed), runs.EPOCHS: str(p.epochs),
              runs.BETA: str(p.beta), runs.WARMUP: str(p.warmup), runs.PRIOR[0]: kind, runs.PRIOR[1]: "100",
              runs.DECODER[0]: "2", runs.DECODER[1]: "500", "data.val_size": "5000", runs.WIDTH: str(p.width)}
    if p.instrument == runs.CONVERGING:
        params[runs.INSTRUMENT_PARAM] = "250"
    return runs.Row(p.name, params, runs.with_population_info(metrics), 0, 60_000)


def study_rows(planned=None, **effects) -> list[runs.Row]:
    return [row(p, synthetic(p, **effects)) for p in (planned or design.design())]


def test_depth_closer_only_through_its_rate():
    """At beta = 1 depth 3's bound is lower (its rate is); at the same rate it is not."""
    claim = depth.depth_claim(study_rows(), EPOCHS)
    at10 = {c.measure: c for c in claim.at_beta1 if c.within == "latent size 10"}
    assert at10[depth.BOUND].verdict == "lower" and at10[depth.RATE].verdict == "lower"
    assert [m.latent for m in claim.matched] == [10, 50]
    for m in claim.matched:
        assert m.overlap[0] < m.rate < m.overlap[1]
        assert m.diffs[depth.BOUND].verdict == "no clear change"
        assert m.diffs[depth.BOUND].df == m.runs - 4  # two lines, two parameters each
    assert claim.verdict == "does not hold at matched rate"
    assert all(t.startswith("an optimisation accident") for t in claim.warmup_verdict.values())


def test_depth_closer_at_matched_rate():
    claim = depth.depth_claim(study_rows(deep_closer_at_matched_rate=0.3), EPOCHS)
    assert claim.verdict == "holds at matched rate"
    for m in claim.matched:
        assert m.diffs[depth.BOUND].diff == pytest.approx(-0.3, abs=0.02)
        assert m.diffs[depth.BOUND].low < -0.3 < m.diffs[depth.BOUND].high


def test_warmup_that_restores_nothing():
    claim = depth.depth_claim(study_rows(warmup_restores=False), EPOCHS)
    assert all(t.startswith("not an optimisation accident") for t in claim.warmup_verdict.values())


def test_latent_trend_stops_where_it_stops():
    claim = latent_size.latent_claim(study_rows(), EPOCHS)
    assert [t.stop for t in claim.trends] == [10, 10, 10]
    assert [t.units_stop for t in claim.trends] == [50, 50, 10]  # depth 3 keeps 9 units from latent size 10 on
    assert claim.verdict == "holds up to latent size 10, then stops (no clear change up to 50)"


def test_samplers_fidelity_and_coverage_apart():
    results = prior_sampling.sampling([r for r in study_rows() if r.part(EPOCHS) == "grid"])
    assert [s.latent for s in results] == list(design.LATENTS)
    s = results[0]
    at_2 = sum(p.part == "grid" and p.latent == 2 for p in design.design())
    assert s.chosen == {"flow": at_2}  # the validation gain chooses, not the lower fd of the gmm
    assert s.diffs["fd_vs_recon"].diff == pytest.approx(18.0)
    assert (s.worse("fd_vs_recon"), s.worse("precision"), s.worse("recall")) == ("worse", "worse", "better")
    assert s.floor["fd"] == pytest.approx(1.7) and s.floor["fd_vs_recon"] == pytest.approx(0.5)
    assert "fidelity: worse against real digits" in prior_sampling.sentence(s)
    assert "coverage: better against real digits" in prior_sampling.sentence(s)


def test_learned_prior_against_ex_post():
    (c2, c10, c50) = learned_prior.compare_priors(study_rows(), EPOCHS)
    seeds = len(design.SEEDS) + len(design.MORE_SEEDS)
    assert c10.n == (seeds, seeds)
    assert c10.diffs["test_elbo"].diff == pytest.approx(2.0)
    # N(0,I) ex post = ELBO + its bound; the learned prior's ELBO is 2 above N(0,I)'s
    normal_bound = sum(0.1 * (4.0 + 0.8 * 10) + noise(s, 0.05) * 0.1 + noise(s, 0.02) for s in range(seeds)) / seeds
    assert c10.diffs["joint_vs_expost"].diff == pytest.approx(2.0 - normal_bound, abs=1e-9)
    assert c10.diffs["expost_gain_learned"].diff == pytest.approx(0.4)


def test_welch_interval_is_a_t_interval():
    d = stats.welch([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    assert d.diff == 1.0 and d.df == pytest.approx(4.0)
    assert d.half == pytest.approx(2.776445 * math.sqrt(2 / 3), rel=1e-5)  # t(0.975, 4) x se
    assert d.verdict == "no clear change"
    assert stats.welch([1.0], [2.0, 3.0]).verdict.startswith("undecided")


def test_fit_lines_against_numpy():
    pts = {1: [(0.0, 1.0), (1.0, 2.1), (2.0, 2.9)], 3: [(1.0, 0.0), (2.0, 1.1), (3.0, 1.9)]}
    lines = stats.fit_lines(pts, 1.5)
    import numpy as np

    for g, xy in pts.items():
        b, a = np.polyfit([x - 1.5 for x, _ in xy], [y for _, y in xy], 1)
        assert lines.coef[g] == pytest.approx((a, b))
    assert lines.df == 2


def test_slice_that_moves_fails_the_test():
    rows = study_rows(slice_shift=0.05)  # the per-dimension KS at latent size 10 moves at twice the epochs
    text, findings, _ = study_page.render(rows, EPOCHS, 100)
    assert "| claim 2 | depth 3 (3/2 -> 3/10) | ks_mean_active | " in text
    longer = "| Does training twice as long change any of it? ([more](#appendix-a-long-enough)) | **"
    assert longer + "partly**" in text
    assert "**no**" in text.split("## Appendix A: long enough?")[1].split("## Appendix B")[0]
    steady, _, _ = study_page.render(study_rows(), EPOCHS, 100)
    assert longer + "no**" in steady
    block = steady.split("## Appendix A: long enough?")[1].split("## Appendix B")[0]
    assert "**no**" not in block.split("| question")[1]


def test_the_runs_file_round_trips(tmp_path):
    rows = study_rows()
    path = tmp_path / "study.csv"
    path.write_text(runs_file.render(rows))
    back = runs_file.read(path)
    assert [r.key for r in back] == [r.key for r in rows]
    assert all(a.metrics == b.metrics for a, b in zip(back, rows))  # floats bit for bit
    assert runs_file.render(back) == path.read_text()
    with open(path) as f:
        header = next(csv.reader(f))
    assert {"depth", "latent", "seed", "beta", "warmup", "prior", "epochs", "converged"} <= set(header)


def test_report_regenerates_byte_for_byte(tmp_path):
    rows = study_rows()
    (tmp_path / "study.csv").write_text(runs_file.render(rows))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{study_page.BEGIN}\nSTALE FINDINGS\n{study_page.END}\n\nrest\n")
    args = ["--csv", str(tmp_path / "study.csv"), "--out", str(tmp_path / "out"), "--readme", str(readme)]
    study_page.main(args)
    first = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} | {"README": readme.read_bytes()}
    assert set(first) == {"README", "study.md", *study_page.FIGURES}
    study_page.main(args)
    assert first == {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} | {"README": readme.read_bytes()}
    text = readme.read_text()
    assert "STALE" not in text and text.endswith("rest\n") and "- Depth (3 against 1, matched rate): **" in text
    assert len(text.splitlines()) < 20  # a line per claim: the tables and reasons are in study.md
    assert str(tmp_path) not in (tmp_path / "out" / "study.md").read_text()


def test_missing_runs_are_listed(tmp_path):
    planned = [p for p in design.design() if not (p.part == "vamp" and p.latent == 50)]
    text, _, _ = study_page.render(study_rows(planned), EPOCHS, 100)
    assert "**Missing**" in text and "vamp: d2-z50-vamp100-s0, d2-z50-vamp100-s1, d2-z50-vamp100-s2" in text


def test_plan_resumes_from_the_runs_file():
    rows = study_rows([p for p in design.design() if p.part == "grid"])
    todo = design.missing(design.design(), {r.key for r in rows})
    assert len(todo) == len(design.design()) - len(rows) and not any(p.part == "grid" for p in todo)
    assert design.design()[0].overrides()[:3] == ["model.encoder.depth=2", "model.encoder.width=500", "model.latent_dim=2"]


def test_bad_runs_file_names_the_fix(tmp_path):
    bad = tmp_path / "study.csv"
    bad.write_text("run,depth,latent\nx,1,2\n")
    with pytest.raises(PriorgapError, match="not a runs file of this study"):
        runs_file.read(bad)
    with pytest.raises(PriorgapError, match="make study"):
        study_page.main(["--csv", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o"), "--readme", ""])
    assert not (tmp_path / "o").exists()


def _log(uri, rows):
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment(store.EXPERIMENT)
    for r in rows:
        run = client.create_run(exp, tags={"priorgap.kind": "pipeline"}, run_name=r.name)
        for k, v in r.params.items():
            client.log_param(run.info.run_id, k, v)
        client.log_batch(run.info.run_id, metrics=[mlflow.entities.Metric(k, v, 0, 0) for k, v in r.metrics.items()
                                                   if k in headline.HEADLINE])
        client.set_terminated(run.info.run_id)
    client.create_run(exp, tags={"priorgap.kind": "pipeline"}, run_name="unfinished")  # never a row


def test_collect_merges_the_store_into_the_runs_file(mlflow_store, tmp_path, monkeypatch):
    """Runs of an earlier session stay; the store adds its own; a setting in both keeps the store's."""
    planned = design.design()
    old = study_rows(planned[:10])
    path = tmp_path / "study.csv"
    path.write_text(runs_file.render(old))
    fresh = study_rows(planned[5:20])
    fresh[0].metrics["test_elbo"] = -1.0
    _log(mlflow_store, fresh)
    runs_file.main(["--csv", str(path)])
    merged = runs_file.read(path)
    assert len(merged) == 20
    assert {r.key: r for r in merged}[fresh[0].key].metrics["test_elbo"] == -1.0


def test_a_trend_with_a_step_left_open_is_not_judged():
    planned = [p for p in design.design() if not (p.part == "grid" and p.depth == 1 and p.latent == 10 and p.seed > 0)]
    claim = latent_size.latent_claim(study_rows(planned), EPOCHS)
    assert [t.depth for t in claim.trends] == [2, 3]
    assert claim.missing == ["depth 1: steps 2->10, 10->50 lack two seeds a side"]


def test_every_planned_run_is_read_back_in_its_part():
    """The report finds each run where the plan put it (width and beta, say, are told apart by the key)."""
    planned = design.design()
    assert len({p.key for p in planned}) == len({p.name for p in planned}) == len(planned)
    for p, r in zip(planned, study_rows(planned)):
        assert r.key == p.key and r.part(EPOCHS) == p.part, p.name
    assert {p.part for p in planned} == set(design.PARTS)


def test_todo_is_what_the_runs_file_lacks(tmp_path, monkeypatch):
    part = [p for p in design.design() if p.part == "decision"]
    (tmp_path / "study.csv").write_text(runs_file.render(study_rows([part[1]])))
    (tmp_path / "params.yaml").write_text((Path(__file__).parents[1] / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    left = design.todo("decision", tmp_path / "study.csv")
    assert [p.name for p in left] == [part[0].name, *(p.name for p in part[2:])]
    # the grid's missing runs were planned for the instrument this code no longer measures with
    with pytest.raises(PriorgapError, match="are for the fixed-step instrument"):
        design.todo("grid", tmp_path / "study.csv")
    with pytest.raises(PriorgapError, match="unknown study part gird"):
        design.todo("gird", tmp_path / "study.csv")


def test_the_page_opens_with_one_row_per_claim_and_stays_short():
    text, brief, found = study_page.render(study_rows(), EPOCHS, 100)
    head = text.split("## Appendix")[0]
    assert head.index("## The answer") < head.index("## The thread's picture") < head.index("## Claim 1")
    table_rows = [line for line in head.split("## The answer")[1].split("\n\n")[1].splitlines()[2:]]
    assert len(table_rows) == len(found["answers"]) == 12
    assert all(line.count(" | ") == 3 and "**" in line for line in table_rows)
    assert len(head.split()) <= 2500
    for a in found["answers"]:
        assert f"(#{a.section})" in head and ("## Appendix A" in text if a.section.startswith("appendix") else True)


def test_a_planted_width_effect_is_found_and_a_tie_is_not_resolved():
    found = {a.short: a for a in study_page.render(study_rows(wide_closer_at_matched_rate=0.3), EPOCHS, 100)[2]["answers"]}
    wide = found["Width (1000 against 125, matched rate)"]
    assert wide.verdict.word == answer.Verdict.YES and wide.diffs[0][1].low < -0.3 < wide.diffs[0][1].high
    # the asker's contrast has no planted effect on the bound: five seeds cannot tell depth 2 from 3
    assert found["The asker's third layer (2 x 500 -> 3 x 500, latent 2)"].verdict == answer.Judged(answer.Verdict.NOT_RESOLVED, f"{len(design.ASKER_SEEDS)} seeds")
    assert found["Depth (3 against 1, matched rate)"].verdict.word == answer.Verdict.NOT_RESOLVED


def test_recall_at_its_floor_is_not_measurable():
    found = {a.short: a for a in study_page.render(study_rows(recall_at_floor=True), EPOCHS, 100)[2]["answers"]}
    cover = found["Sampling N(0,I) hurts coverage"]
    assert "latent 2" not in cover.number and "Not measurable at latent 2" in cover.caveat
    rows = [r for r in study_rows(recall_at_floor=True) if r.key.latent == 2]
    assert study_page.render(rows, EPOCHS, 100)[2]["answers"][7].verdict.word == answer.Verdict.NOT_MEASURABLE


def test_verdicts_read_the_direction_the_claim_predicts():
    d = lambda x, se=0.1: stats.Diff(x, se, 4.0, (3, 3))  # noqa: E731
    lower, V = stats.Direction.LOWER, answer.Verdict  # noqa: N806
    assert answer.judge([d(-1), d(-2)], lower).word == V.YES
    assert answer.judge([d(1), d(0)], lower).word == V.NO
    assert answer.judge([d(-1), d(1)], lower).word == V.PARTLY
    assert str(answer.judge([d(0), d(0.01)], lower)) == "not resolved with 3 seeds"
    assert answer.judge([], lower).word == V.NOT_MEASURED
    one = stats.Diff(-0.5, 0.0, 0.0, (1, 1))  # one run a side: no interval
    assert str(answer.judge([one], lower)) == "not resolved with 1 seed"


def test_a_difference_that_rounds_to_zero_reads_plus_zero():
    assert stats.Diff(-0.004, 0.5, 4.0, (3, 3)).fmt() == "+0.0 [-1.4, +1.4]"
    assert stats.Diff(-0.42, 0.05, 4.0, (3, 3)).fmt() == "-0.42 [-0.56, -0.28]"
    assert stats.Diff(-0.0004, 0.0, 0.0, (1, 1)).fmt() == "-0.00040 (no interval)"  # not zero: keeps its sign


def test_the_threads_picture_comes_from_the_records(tmp_path):
    import numpy as np

    from priorgap.study import record

    rows = study_rows()
    rng = np.random.default_rng(0)
    for name in study_page.PICTURED:
        record.write(tmp_path, name, {"params": {}}, {
            record.CODES_FILE: record._npz({"mu": rng.normal(size=(50, 2)).astype(np.float32), "labels": np.arange(50) % 10}),
            record.GRIDS_FILE: record._npz({k: np.full((100, 28, 28), 15, np.uint8)
                                            for k in ("reconstruction", "prior", "gmm", "flow", "two_stage")})})
    found = study_page.pictures(rows, tmp_path)
    assert [p["name"] for p in found] == list(study_page.PICTURED)
    assert list(found[0]["grids"]) == ["reconstructions", "N(0,I) draws", "flow draws"]  # the validation gain chose the flow
    assert found[0]["grids"]["N(0,I) draws"].max() == 1.0 and found[0]["mu"].shape == (50, 2)
    assert study_page.pictures(rows, tmp_path / "none") == []


def test_the_warmup_caveat_waits_for_the_warmup_arm():
    """Without warm-up runs the matched comparison would be the grid's depth 3 minus 1, whose rates
    differ: the depth row must not present that as the matched test."""
    grid = study_rows([p for p in design.design() if p.part == "grid"])
    assert depth.warm_matched(grid, EPOCHS) is None
    row = answer.depth_row(depth.depth_claim(grid, EPOCHS), depth.warm_matched(grid, EPOCHS))
    assert "warm-up" not in row.caveat and "rates differ" in row.caveat
    full = study_rows()
    caveat = answer.depth_row(depth.depth_claim(full, EPOCHS), depth.warm_matched(full, EPOCHS)).caveat
    # the synthetic warm-up restores depth 3's units (10 of 10 at latent size 10), so units and rate match
    assert "warm-up arm" in caveat and "active units by +0 " in caveat
    assert "rate differing by -0.0" in caveat or "rate differing by +0.0" in caveat


def test_the_readme_quotes_the_figure_a_verdict_rests_on():
    undecided, worse = stats.paired([-1.0, 1.5, 0.2]), stats.paired([5.0, 5.5, 6.0])
    row = answer.Answer("samples", "?", "no", "FD", [("latent 2", undecided), ("latent 10", worse)])
    assert opening.lead(row) == ("latent 10", worse)
    assert opening.lead(answer.Answer("x", "?", "not resolved with 3 seeds", "FD", [("latent 2", undecided)]))[0] == "latent 2"


def test_the_slice_checks_samplers_only_on_the_grids_own_setting():
    # the slice's beta 0.5 and 2 runs sample other models: planted there, a sampler shift must not
    # reach the grid's check (it would be judged against beta 1's interval)
    rows = study_rows()
    for r in rows:
        if r.part(EPOCHS) == "slice" and r.key.beta != 1:
            r.metrics["precision.prior"] -= 0.5
    checked = prior_sampling.on_slice(prior_sampling.sampling([r for r in rows if r.part(EPOCHS) == "grid"]),
                                [r for r in rows if r.part(EPOCHS) == "slice"])
    assert {c.run for c in checked} == {"d1-z10-s0-e80", "d3-z10-s0-e80", "d2-z2-s0-e80", "d3-z2-s0-e80"}
    assert all(c.inside for c in checked)


def test_each_bound_verdict_is_repeated_under_every_density_the_records_hold():
    """A density whose bound is 0.5 nats higher at depth 3 moves every depth-3 comparison by 0.5
    under it alone; the study's own bound reads as before, and the bracket comes from the grid."""
    from priorgap.analysis import bound

    rows = study_rows()
    bounds = {r.name: {"chosen": r.metrics[depth.BOUND], "flow": r.metrics[depth.BOUND] + 0.5 * (r.key.depth == 3)}
              for r in rows}
    found = {s.comparison: s.by_variant for s in bound.sensitivity([r for r in rows if r.converged], bounds, EPOCHS)}
    for name in ("depth 3 - 1, matched rate, latent 10", "the asker's third layer, latent 2", "latent size, depth 3, 2->50"):
        shift = found[name]["flow"].diff - found[name]["chosen"].diff
        assert shift == pytest.approx(0.5 if "latent size" not in name else 0.0, abs=1e-9), name
    assert found["latent size, depth 1, 2->50"]["flow"].diff == pytest.approx(found["latent size, depth 1, 2->50"]["chosen"].diff)
    brackets = bound.brackets(rows, EPOCHS)
    assert {(b.depth, b.latent) for b in brackets} == {(d, z) for d in (1, 2, 3) for z in (2, 10, 50)}


def test_the_known_answer_says_whether_slacks_like_its_own_would_overturn_the_depth_verdict():
    from priorgap.analysis import bound
    from priorgap.report import appendix

    row = lambda depth, truth, b: {"depth": depth, "latent": 10, "truth": truth, "bound": b, "bound_density": "gmm",  # noqa: E731
                                   "recovery": b / truth, "training_mixture_kl": truth + 1, "active_units": 10}
    sens = [bound.Sensitivity("depth 3 - 1, matched rate, latent 10", {"chosen": stats.Diff(-0.4, 0.05, 4.0, (3, 3))})]
    # depth 3 with 1 nat less slack: the truths differ by -0.4 - 1.0 = -1.4, the verdict's sign
    deeper = appendix.known_answer_lines({"epochs": 40, "encoders": [row(1, 8.0, 2.0), row(3, 6.0, 1.0)]}, sens)
    assert any("of the truths of -1.40: the same sign" in line for line in deeper)
    # depth 3 with 0.6 nats more slack: the truths would differ by +0.2, the other way
    overturned = appendix.known_answer_lines({"epochs": 40, "encoders": [row(1, 8.0, 2.0), row(3, 8.0, 1.4)]}, sens)
    assert any("of the truths of +0.20: the other sign" in line for line in overturned)
