"""The study report on synthetic runs whose answers are known: the whole design of design.py, with
effects planted in the figures each verdict reads."""
import csv
import math
from pathlib import Path

import pytest

from priorgap.errors import PriorgapError
from priorgap.tracking import store
from priorgap.analysis import answer, bound, depth, latent_size, learned_prior, prior_sampling, stats, verdicts
from priorgap.study import design, runs, runs_file
from priorgap.report import opening, study_page, thread_section
from priorgap.summary import headline

EPOCHS = design.EPOCHS


def noise(seed: int, scale: float) -> float:
    return scale * (-1.0, 0.0, 1.0, 1.0, -1.0, 1.0, -1.0)[seed]  # mean 0 over seeds 0-2, 0-4 and 0-6


def synthetic(p: design.Planned, *, deep_closer_at_matched_rate=0.0, warmup_restores=True, slice_shift=0.0,
              wide_closer_at_matched_rate=0.0, recall_at_floor=False, deep_upper_closer=0.0) -> dict:
    """One run's headline. Depth 3 keeps fewer units and a lower rate; at the same rate its bound
    is lower by `deep_closer_at_matched_rate`, and the bracket's upper end (the training mixture's
    KL, a line in the rate) by `deep_upper_closer`. KS falls from latent size 2 to 10, then stays flat.
    The prior's samples: worse fd and precision than the best density (the flow, by validation
    gain), better recall. A VampPrior model: ELBO 2 nats better, an ex-post gain of 0.4 left."""
    deep = p.depth == 3
    units = min(p.latent, (20 if p.warmup and warmup_restores else 9) if deep else 20)
    rate = (4.0 + 0.8 * units) / math.sqrt(p.beta) + noise(p.seed, 0.05)
    bound = (0.1 * rate - (deep_closer_at_matched_rate if deep else 0.0) + noise(p.seed, 0.02)
             - wide_closer_at_matched_rate * (p.width == 1000))
    elbo = -90.0 - 0.1 * p.depth + (2.0 if p.prior != "normal" else 0.0) + noise(p.seed, 0.1)
    m = {k: 1.0 for k in headline.HEADLINE}
    m.update(
        {
            "test_kl": rate,
            "test_recon": 120.0 - 2.0 * rate + noise(p.seed, 0.1),
            "test_elbo": elbo,
            "avg_kl": rate + 0.01,
            "kl_q_prior_lower_bound": 0.4 if p.prior != "normal" else bound,
            "kl_q_prior": 0.8 * rate - 3.0 - (deep_upper_closer if deep else 0.0) + noise(p.seed, 0.03),
            "active_units": units,
            "val_elbo_slope": 0.05,
            "ks_mean_active": (0.10 if p.latent == 2 else 0.06)
            + noise(p.seed, 0.003)
            + slice_shift * (p.epochs > EPOCHS and p.latent == 10),
            "iwae_nll": -elbo - 7.0,
            "val_gain.gmm": 0.5,
            "val_gain.flow": 0.7,
            "val_gain.two_stage": 0.1,
            "floor.fd": 1.7,
            "floor.precision": 0.95,
            "floor.recall": 0.94,
        }
    )
    for s, (fd, recon, prec, rec) in {
        "prior": (100.0, 20.0, 0.90, 0.30),
        "gmm": (70.0, 1.0, 0.97, 0.20),
        "flow": (80.0, 2.0, 0.95, 0.25),
        "two_stage": (95.0, 10.0, 0.92, 0.28),
        "aggregate": (75.0, 0.5, 0.96, 0.27),
    }.items():
        m.update(
            {
                f"fd.{s}": fd + noise(p.seed, 1.0),
                f"fd_vs_recon.{s}": recon + noise(p.seed, 0.3),
                f"precision.{s}": prec + noise(p.seed, 0.005),
                f"recall.{s}": rec + noise(p.seed, 0.005),
                f"precision_vs_recon.{s}": prec + noise(p.seed, 0.005),
                f"recall_vs_recon.{s}": rec + noise(p.seed, 0.005),
            }
        )
        if recall_at_floor and p.latent == 2:
            m[f"recall.{s}"] = 0.003 + noise(p.seed, 0.001) * (s == "prior")
    return m


def row(p: design.Planned, metrics: dict) -> runs.Row:
    kind = "normal" if p.prior == "normal" else "vamp"
    params = {
        runs.DEPTH: str(p.depth),
        runs.LATENT: str(p.latent),
        runs.SEED: str(p.seed),
        runs.EPOCHS: str(p.epochs),
        runs.BETA: str(p.beta),
        runs.WARMUP: str(p.warmup),
        runs.PRIOR[0]: kind,
        runs.PRIOR[1]: "100",
        runs.DECODER[0]: "2",
        runs.DECODER[1]: "500",
        "data.val_size": "5000",
        runs.WIDTH: str(p.width),
    }
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
    """The bound falls at matched rate; whether q itself does is the upper end's to say."""
    claim = depth.depth_claim(study_rows(deep_closer_at_matched_rate=0.3), EPOCHS)
    assert claim.verdict == "holds at matched rate" + verdicts.FOR_BOUND  # the upper end does not move
    for m in claim.matched:
        assert m.diffs[depth.BOUND].diff == pytest.approx(-0.3, abs=0.02)
        assert m.diffs[depth.BOUND].low < -0.3 < m.diffs[depth.BOUND].high
        assert m.diffs[depth.UPPER].verdict == "no clear change"
    both = depth.depth_claim(study_rows(deep_closer_at_matched_rate=0.3, deep_upper_closer=0.3), EPOCHS)
    assert both.verdict == "holds at matched rate" + verdicts.FOR_Q
    assert all(m.diffs[depth.UPPER].diff == pytest.approx(-0.3, abs=0.05) for m in both.matched)


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
    assert longer + "no change detected**" in steady  # one seed per setting: nothing moved, which is no proof
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


@pytest.mark.slow  # two whole renders with every figure; the page's parts are tested fast one by one
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
    text, brief, _ = study_page.render(study_rows(planned), EPOCHS, 100)
    assert "**Missing**" in text and "vamp: d2-z50-vamp100-s0, d2-z50-vamp100-s1, d2-z50-vamp100-s2" in text
    # README's findings open with the answers; the status closes them while runs are missing
    assert brief[0].startswith("Depth") and brief[-1].startswith(f"Partial: {len(planned)} of {len(design.design())} ")
    assert not any(line.startswith("Partial") for line in study_page.render(study_rows(), EPOCHS, 100)[1])


def test_plan_resumes_from_the_runs_file():
    rows = study_rows([p for p in design.design() if p.part == "grid"])
    todo = design.missing(design.design(), {r.key for r in rows})
    assert len(todo) == len(design.design()) - len(rows) and not any(p.part == "grid" for p in todo)
    assert design.design()[0].key.overrides()[:3] == [
        "model.encoder.depth=2",
        "model.encoder.width=500",
        "model.latent_dim=2",
    ]


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
        client.log_batch(
            run.info.run_id,
            metrics=[mlflow.entities.Metric(k, v, 0, 0) for k, v in r.metrics.items() if k in headline.HEADLINE],
        )
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
    assert len(table_rows) == len(found["answers"]) == 13  # the decision has its own row
    assert all(line.count(" | ") == 3 and "**" in line for line in table_rows)
    assert len(head.split()) <= 2500
    for a in found["answers"]:
        assert f"(#{a.section})" in head and ("## Appendix A" in text if a.section.startswith("appendix") else True)


def test_a_planted_width_effect_is_found_and_a_tie_is_not_resolved():
    found = {
        a.short: a for a in study_page.render(study_rows(wide_closer_at_matched_rate=0.3), EPOCHS, 100)[2]["answers"]
    }
    wide = found["Width (1000 against 125, matched rate)"]
    assert wide.verdict.word == answer.Verdict.YES and wide.diffs[0][1].low < -0.3 < wide.diffs[0][1].high
    # the asker's contrast has no planted effect on the bound: five seeds cannot tell depth 2 from 3
    asker = found["The asker's third layer (2 x 500 -> 3 x 500, latent 2)"]
    assert asker.verdict == answer.Judged(answer.Verdict.NOT_RESOLVED, f"{len(design.ASKER_SEEDS)} seeds")
    assert "neither end excludes zero, so neither q nor its bound is settled" in asker.caveat
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
    for name in thread_section.PICTURED:
        record.write(
            tmp_path,
            name,
            {"params": {}},
            {
                record.CODES_FILE: record._npz(
                    {"mu": rng.normal(size=(50, 2)).astype(np.float32), "labels": np.arange(50) % 10}
                ),
                record.GRIDS_FILE: record._npz(
                    {
                        k: np.full((100, 28, 28), 15, np.uint8)
                        for k in ("reconstruction", "prior", "gmm", "flow", "two_stage")
                    }
                ),
            },
        )
    found = thread_section.pictures(rows, tmp_path)
    assert [p["name"] for p in found] == list(thread_section.PICTURED)
    assert list(found[0]["grids"]) == [
        "reconstructions",
        "N(0,I) draws",
        "flow draws",
    ]  # the validation gain chose the flow
    assert found[0]["grids"]["N(0,I) draws"].max() == 1.0 and found[0]["mu"].shape == (50, 2)
    assert thread_section.pictures(rows, tmp_path / "none") == []


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
    assert (
        opening.lead(answer.Answer("x", "?", "not resolved with 3 seeds", "FD", [("latent 2", undecided)]))[0]
        == "latent 2"
    )


def test_the_slice_checks_samplers_only_on_the_grids_own_setting():
    # the slice's beta 0.5 and 2 runs sample other models: planted there, a sampler shift must not
    # reach the grid's check (it would be judged against beta 1's interval)
    rows = study_rows()
    for r in rows:
        if r.part(EPOCHS) == "slice" and r.key.beta != 1:
            r.metrics["precision.prior"] -= 0.5
    checked = prior_sampling.on_slice(
        prior_sampling.sampling([r for r in rows if r.part(EPOCHS) == "grid"]),
        [r for r in rows if r.part(EPOCHS) == "slice"],
    )
    assert {c.run for c in checked} == {"d1-z10-s0-e80", "d3-z10-s0-e80", "d2-z2-s0-e80", "d3-z2-s0-e80"}
    assert all(c.inside for c in checked)


def test_each_bound_verdict_is_repeated_under_every_density_the_records_hold():
    """A density whose bound is 0.5 nats higher at depth 3 moves every depth-3 comparison by 0.5
    under it alone; the study's own bound reads as before, and the bracket comes from the grid."""
    rows = study_rows()
    bounds = {
        r.name: {"chosen": r.metrics[depth.BOUND], "flow": r.metrics[depth.BOUND] + 0.5 * (r.key.depth == 3)}
        for r in rows
    }
    found = {s.comparison: s.by_variant for s in bound.sensitivity([r for r in rows if r.converged], bounds, EPOCHS)}
    for name in (
        "depth 3 - 1, matched rate, latent 10",
        "the asker's third layer, latent 2",
        "latent size, depth 3, 2->50",
    ):
        shift = found[name]["flow"].diff - found[name]["chosen"].diff
        assert shift == pytest.approx(0.5 if "latent size" not in name else 0.0, abs=1e-9), name
    assert found["latent size, depth 1, 2->50"]["flow"].diff == pytest.approx(
        found["latent size, depth 1, 2->50"]["chosen"].diff
    )
    brackets = bound.brackets(rows, EPOCHS)
    assert {(b.depth, b.latent) for b in brackets} == {(d, z) for d in (1, 2, 3) for z in (2, 10, 50)}


def test_the_training_mixture_is_a_bound_and_a_family_counts_once():
    fit = {
        "kl_q_prior_lower_bound": 1.0,
        "densities": {
            "prior": {"heldout_gain": 0.0},
            "aggregate": {"heldout_gain": -3.0},
            "flow": {"heldout_gain": 0.8},
            "gmm": {
                "heldout_gain": 1.0,
                "capacity": 30,
                "curve": {"10": {"heldout_gain": 0.7}, "30": {"heldout_gain": 1.0}},
            },
        },
    }
    assert bound.bounds_of(fit) == {
        "chosen": 1.0,
        "aggregate": -3.0,
        "flow": 0.8,
        "gmm": 1.0,
        "gmm 10": 0.7,
        "gmm 30": 1.0,
    }
    # every capacity of the mixture lower, the flow lower, the training mixture below 0 at latent size 10
    rows = [r for r in study_rows() if r.converged]
    bounds = {
        r.name: {
            "chosen": r.metrics[depth.BOUND],
            **{v: r.metrics[depth.BOUND] - 0.3 * (r.key.depth == 3) for v in ("gmm", "gmm 10", "gmm 30", "flow")},
            "aggregate": (0.5 if r.key.latent == 2 else -20.0) - 0.3 * (r.key.depth == 3),
        }
        for r in rows
    }
    s = {x.comparison: x for x in bound.sensitivity(rows, bounds, EPOCHS)}["depth 3 - 1, matched rate, latent 10"]
    assert s.by_variant["gmm 10"].verdict == "lower" and "aggregate" in s.vacuous
    assert sorted(s.reads()) == ["lower", "lower", "vacuous"]  # gmm, flow, the training mixture: capacities not counted
    assert bound.tally(s.reads()) == "2 lower, 0 higher, 0 not clear, 1 vacuous (at or below 0)"
    asker = {x.comparison: x for x in bound.sensitivity(rows, bounds, EPOCHS)}["the asker's third layer, latent 2"]
    assert "aggregate" not in asker.vacuous  # above 0 at latent size 2: a bound like the others


def test_the_known_answer_adds_no_slack_measured_at_another_rate():
    """Its encoders are at beta 1, where depth 3's rate is lower: their slacks are not added to the
    matched-rate difference (that counts the rate twice), and its training mixture is half the population."""
    from priorgap.report import known_section

    row = lambda depth, truth, b: {
        "depth": depth,
        "latent": 10,
        "truth": truth,
        "bound": b,
        "bound_density": "gmm",  # noqa: E731
        "recovery": b / truth,
        "training_mixture_kl": truth + 1,
        "active_units": 10,
    }
    rows = study_rows([p for p in design.design() if p.part == "grid"])
    at_beta1 = depth.depth_claim(rows, EPOCHS).at_beta1
    rate = next(c.diff for c in at_beta1 if c.measure == depth.RATE and c.within == "latent size 10")
    lines = "\n".join(
        known_section.known_answer_lines(
            {"epochs": 40, "encoders": [row(1, 8.0, 2.0), row(3, 6.0, 1.0)]}, at_beta1, 55_000
        )
    )
    assert "1.00 nats smaller at depth 3" in lines and f"differs from depth 1's by {rate.fmt()} nats" in lines
    assert "would count the rate twice" in lines and "the very encoders compared" in lines
    assert "of the truths" not in lines and "same sign" not in lines
    assert (
        "55,000 training posteriors" in lines
        and "training mixture's KL (27,500 components, half the population)" in lines
    )
    # a json that says its population's size is read first
    small = [{**row(1, 8.0, 2.0), "population_size": 1001}, row(3, 6.0, 1.0)]
    assert "(500 components, half" in "\n".join(
        known_section.known_answer_lines({"epochs": 40, "encoders": small}, at_beta1, 55_000)
    )


def test_a_verdict_on_q_says_which_quantity_it_settles():
    """Lower-bound intervals that exclude zero settle q itself only where the upper end's do too,
    the same way; the table, README and the plain answer say which."""
    d = lambda x: stats.Diff(x, 0.1, 10.0, (5, 5))  # noqa: E731  (its interval: x +- 0.22)
    assert verdicts.settles([("a", d(-1.0))], [("a", d(-1.0))]) == (verdicts.FOR_Q, [])
    assert verdicts.settles([("a", d(-1.0))], [("a", d(0.0))]) == (verdicts.FOR_BOUND, ["a"])
    assert verdicts.settles([("a", d(-1.0))], [("a", d(1.0))]) == (verdicts.FOR_BOUND, ["a"])  # the other way
    assert verdicts.settles([("a", d(-1.0)), ("b", d(-1.0))], [("a", d(-1.0)), ("b", d(0.0))])[1] == ["b"]
    assert verdicts.settles([("a", d(0.0))], [("a", d(-1.0))]) == ("", [])  # nothing to settle

    text, brief, found = study_page.render(study_rows(deep_closer_at_matched_rate=0.3), EPOCHS, 100)
    row = {a.short: a for a in found["answers"]}["Depth (3 against 1, matched rate)"]
    assert str(row.verdict) == "yes for the held-out bound; q itself not settled"
    assert "Upper end: latent 10 " in row.caveat and "it spans zero" in row.caveat
    assert (
        "- Depth (3 against 1, matched rate): **yes for the held-out bound; q itself not settled**"
        in study_page.readme_with(f"{study_page.BEGIN}\n{study_page.END}", brief)
    )
    short = text.split("## In short")[1].split("## The answer")[0]
    assert "a deeper encoder lowers the held-out bound (**yes**" in short
    assert "so whether q itself gets closer is not settled" in short and "brings q itself closer" not in short

    both = study_page.render(study_rows(deep_closer_at_matched_rate=0.3, wide_closer_at_matched_rate=0.3), EPOCHS, 100)[
        0
    ]
    assert "; likewise a wider encoder (**yes**; latent 10: " in both  # the same settled quantity, said once

    text, _, found = study_page.render(study_rows(deep_closer_at_matched_rate=0.3, deep_upper_closer=0.3), EPOCHS, 100)
    row = {a.short: a for a in found["answers"]}["Depth (3 against 1, matched rate)"]
    assert str(row.verdict) == "yes, for q itself" and "it moves the same way" in row.caveat
    assert "a deeper encoder brings q itself closer (**yes, for q itself**" in text


def test_the_askers_gain_is_ruled_out_for_q_only_where_the_ends_meet():
    rows = study_rows()
    found = depth.asker(rows, EPOCHS)
    met = answer.asker_row(found, 0.5, 1e-3)
    assert met.ends_meet and "ruled out by both ends, which meet here" in met.caveat and "for q itself" in met.caveat
    apart = answer.asker_row(found, 0.5, 10.0)
    assert not apart.ends_meet and "ruled out, so a third layer" in apart.caveat
    gain = max(-found[depth.BOUND].diff.low, -found[depth.UPPER].diff.low)  # what both ends rule out
    assert f"a gain above {gain:.2g} nats" in met.caveat
    b = lambda d, lower, upper: bound.Bracket(d, 2, 5, lower, upper, 7.0, 6.5, 10.9, 0, 55_000)  # noqa: E731
    assert answer.meet([b(2, 0.30, 0.31), b(3, 0.35, 0.33)], 2, (2, 3)) == pytest.approx(0.02)
    assert answer.meet([b(2, 0.30, 0.31)], 2, (2, 3)) is None


def test_where_the_lower_end_exceeds_the_upper_the_page_says_why():
    from priorgap.report import bound_section

    b = lambda d, lower, upper, crossed: bound.Bracket(d, 2, 3, lower, upper, 7.0, 6.5, 10.9, crossed, 55_000)  # noqa: E731
    text = bound_section.bracket_ends([b(1, 0.64, 0.61, 3), b(2, 0.33, 0.34, 2)])
    assert "within 0.03 nats" in text and "Monte Carlo" not in text
    assert "exceeds the upper at depth 1, latent 2 (in 3 of its 3 seeds)" in text and "depth 2" not in text
    assert "the lower bound measured on the test codes and the upper on the training codes" in text
    assert "exceeds" not in bound_section.bracket_ends([b(2, 0.33, 0.34, 2)])


def test_holm_against_a_hand_computed_example():
    # m = 4, sorted 0.005 <= 0.05/4, 0.01 <= 0.05/3, then 0.03 > 0.05/2 stops: 0.04 is not rejected either
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == [True, False, False, True]
    # 0.01 <= 0.0125, 0.015 <= 0.0167, 0.02 <= 0.025, 0.04 <= 0.05: every step rejects
    assert stats.holm([0.01, 0.015, 0.02, 0.04]) == [True, True, True, True]
    assert stats.holm([0.01, 0.02, 0.03, 0.04]) == [True, False, False, False]  # 0.02 > 0.05 / 3 stops at once
    assert stats.holm([]) == []
    d = stats.welch([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])  # t = 1 / sqrt(2/3) on 4 df
    assert stats.p_value(d) == pytest.approx(0.287864, abs=1e-5)
    edge = stats.Diff(stats.t_quantile(4.0) * 0.1, 0.1, 4.0, (3, 3))  # its interval ends at zero exactly
    assert stats.p_value(edge) == pytest.approx(0.05)
    assert stats.p_value(stats.Diff(0.6, 0.1, 4.0, (3, 3)), null=0.5) == pytest.approx(
        stats.p_value(stats.Diff(0.1, 0.1, 4.0, (3, 3)))
    )
    assert stats.p_value(stats.Diff(1.0, 0.0, 0.0, (1, 1))) is None  # no interval, no test


def test_holm_says_which_verdicts_survive_the_table():
    from scipy import stats as sps

    at = lambda p: stats.Diff(-float(sps.t.isf(p / 2, 8.0)) * 0.1, 0.1, 8.0, (5, 5))  # noqa: E731  (p-value p, lower)
    lower = stats.Direction.LOWER
    rows = [
        answer.Answer("strong", "?", answer.judge([at(0.001)], lower), "x", [("a", at(0.001))]),
        answer.Answer("weak", "?", answer.judge([at(0.03)], lower), "x", [("a", at(0.03))]),
        answer.Answer(
            "mixed", "?", answer.judge([at(0.002), at(0.04)], lower), "x", [("a", at(0.002)), ("b", at(0.04))]
        ),
        answer.Answer("open", "?", answer.judge([at(0.5)], lower), "x", [("a", at(0.5))]),
        answer.Answer(
            "q",
            "?",
            answer.Judged(answer.Verdict.YES, qualifier=verdicts.FOR_Q),
            "x",
            [("a", at(0.001))],
            upper=[("a", at(0.03))],
        ),
    ]
    assert [str(a.verdict) for a in rows] == ["yes", "yes", "yes", "not resolved with 5 seeds", "yes, for q itself"]
    tests, read, fallen = verdicts.holm(rows)
    # 7 tests: 0.001 <= 0.05/7, 0.001 <= 0.05/6, 0.002 <= 0.05/5, then 0.03 > 0.05/4 stops
    assert tests == 7 and [(a.short, str(v), same) for a, v, same in read] == [
        ("strong", "yes", True),
        ("weak", "not resolved with 5 seeds", False),
        ("mixed", "partly", False),
        ("q", "yes for the held-out bound; q itself not settled", False),
    ]  # its upper end no longer settles q
    assert fallen == ["weak (a)", "mixed (b)", "q (a, upper end)"]
    line = opening.holm_line(rows)
    assert "across the table's 7 tests" in line and 'except weak, which would read "not resolved with 5 seeds"' in line
    text, _, _ = study_page.render(study_rows(deep_closer_at_matched_rate=0.3), EPOCHS, 100)
    assert "**Many intervals.** Under Holm's correction" in text.split("## The thread's picture")[0]


def test_coverage_that_rises_reads_as_a_trade_off():
    found = {a.short: a for a in study_page.render(study_rows(), EPOCHS, 100)[2]["answers"]}
    cover = found["Sampling N(0,I) hurts coverage"]
    assert (
        str(cover.verdict) == "no: N(0,I)'s recall is higher"
    )  # the synthetic prior's recall is 0.05 above the flow's
    assert "precision/recall trade-off" in cover.caveat


def test_the_decision_compares_its_own_runs_and_says_what_it_settles():
    """The decision part alone, depth 3 minus 1: the bound, the upper end, the sampling gaps. With
    depth 3 closer by 0.3 nats in both ends and a smaller precision gap, it settles q itself."""
    from priorgap.analysis import decision
    from priorgap.report import decision_section

    planned = [p for p in design.design() if p.part == "decision"]
    rows = []
    for p in planned:
        r = row(p, synthetic(p))
        shift = 0.3 * (p.depth == 3)
        m = {
            **r.metrics,
            "kl_q_prior_lower_bound": r.metrics["kl_q_prior_lower_bound"] - shift + 0.01 * p.seed,
            "kl_q_prior": r.metrics["kl_q_prior"] - shift - 0.01 * p.seed,
            "precision.prior": 0.88 + 0.03 * (p.depth == 3) + 0.002 * p.seed,
            "precision.tempered": 0.9,
            "recall.tempered": 0.5,
        }
        rows.append(runs.Row(r.name, r.params, m, r.start_ms, r.end_ms))
    old = study_rows([p for p in design.design() if p.part == "warmup"])  # the fixed-step runs stay out
    arms = decision.arms(rows + old, EPOCHS)
    assert [a.latent for a in arms] == [10, 50] and arms[0].seeds == {1: [0, 1, 2, 3, 4], 3: [0, 1, 2, 3, 4]}
    assert arms[0].diffs[decision.BOUND].diff == pytest.approx(-0.3) and arms[0].diffs[decision.BOUND].df > 4
    assert decision.settles(arms[0]) == "q itself"
    assert decision.consequence(arms[0]).startswith("precision gap: smaller at depth 3")
    text = "\n".join(decision_section.in_full(arms, len(rows), len(planned)))
    assert (
        f"{len(planned)} of the decision part's {len(planned)} runs are measured" in text
        and "| held-out bound |" in text
    )
    # the upper end not moving: the bound only
    flat = [runs.Row(r.name, r.params, {**r.metrics, "kl_q_prior": 8.0 + 0.1 * r.key.seed}, 0, 1) for r in rows]
    assert decision.settles(decision.arms(flat, EPOCHS)[0]) == "the held-out bound only"
    assert "No latent size has runs of both depths yet" in "\n".join(decision_section.in_full([], 0, len(planned)))


def test_known_families_say_whether_the_bound_keeps_the_truths_sign():
    """Two populations at both encoders: one where the bound moves with the truth, one where the
    slack flips it; the section counts them, and says so before any row is measured."""
    from priorgap.analysis import known_families
    from priorgap.report import known_section

    def row(depth, family, truth, bound):
        return {
            "encoder": f"d{depth}-z10-wu10-s0-cb",
            "depth": depth,
            "latent": 10,
            "family": family,
            "smear": 0.5,
            "truth": truth,
            "truth_se": 0.01,
            "bound": bound,
            "bound_se": 0.01,
            "bound_density": "gmm",
            "recovery": bound / truth,
            "upper": 8.0,
            "real_test_gain": 0.9,
            "real_test_gain_se": 0.01,
        }

    rows = [
        row(1, "box", 2.0, 1.5),
        row(3, "box", 1.6, 1.2),  # both lower at depth 3: survives
        row(1, "laplace", 2.0, 1.2),
        row(3, "laplace", 1.6, 1.4),
    ]  # truth lower, bound higher: flipped
    pairs = known_families.under_families(rows + [row(1, "box", 3.0, 1.0) | {"smear": 0.3}])  # no depth 3: left out
    assert [(p.family, p.sign_survives) for p in pairs] == [("box", True), ("laplace", False)]
    assert pairs[0].slack.diff == pytest.approx(-0.1) and pairs[1].slack.diff == pytest.approx(-0.6)
    text = "\n".join(
        known_section.families_lines(
            {"centres": 2000, "splits": {"train": 55000}, "rows": rows}, {"d1-z10-wu10-s0-cb": 1.88}
        )
    )
    assert "under 1 of 2 populations" in text and "| laplace | 0.5 |" in text and "d1-z10-wu10-s0-cb 1.880" in text
    assert "Not measured yet" in "\n".join(known_section.families_lines(None, {}))


def test_the_decision_row_says_what_it_settles_and_what_the_slack_can_do():
    """The decision's own row: with the upper end flat it settles the bound only, and its slack
    sentence comes from the known answers at its encoders; the plain answer cites the slack as
    evidence only where the slack's interval stays inside the bound's fall."""
    from priorgap.analysis import decision, known_families

    planned = [p for p in design.design() if p.part == "decision" and p.latent == 10]
    rows = []
    for p in planned:
        r = row(p, synthetic(p))
        m = {
            **r.metrics,
            "kl_q_prior_lower_bound": 1.9 - 0.35 * (p.depth == 3) + 0.01 * p.seed,
            "kl_q_prior": 8.5 + 0.1 * (p.seed % 2),
            "fd.prior": 96.0 - 17 * (p.depth == 3) + p.seed,
        }
        rows.append(runs.Row(r.name, r.params, m, r.start_ms, r.end_ms))
    arms = decision.arms(rows, EPOCHS)

    def pair(slack_se):
        rows = [
            {
                "encoder": f"d{d}-z10-wu10-s0-cb",
                "depth": d,
                "latent": 10,
                "family": "laplace",
                "smear": 0.5,
                "truth": t,
                "truth_se": slack_se,
                "bound": b,
                "bound_se": 0.01,
                "recovery": b / t,
            }
            for d, t, b in ((1, 1.08, 0.54), (3, 1.00, 0.47))
        ]
        return known_families.under_families(rows)

    found = decision.answer_row(arms, pair(0.01))
    assert str(found.verdict) == "yes" + verdicts.FOR_BOUND and found.diffs[0][0] == "latent 10"
    assert "laplace smear 0.5: recovery 50%/47%, slack difference" in found.caveat
    plain = decision.in_plain_words(found, arms, pair(0.01))
    assert "the bound is settled, not q itself" in plain and "the slack differs by only" in plain
    wide = decision.in_plain_words(found, arms, pair(0.3))  # a slack interval wider than the fall says nothing
    assert "the slack differs" not in wide and "FD gap" in wide
    assert decision.answer_row([], None) is None and "not measured yet" in decision.answer_row(arms, None).caveat


def test_where_the_warm_up_leaves_unequal_units_both_ends_are_compared_per_active_unit():
    """Latent 50: depth 1 keeps 29 units and depth 3 14 (as the first pair did). Depth 3's bound is
    lower in nats only because it has fewer units; per active unit it is higher, and the arm, its
    row and the plain answer compare per unit and say so."""
    from priorgap.analysis import decision
    from priorgap.report import decision_section

    planned = [p for p in design.design() if p.part == "decision" and p.seed < 3]
    rows = []
    for p in planned:
        r = row(p, synthetic(p))
        units = 10 if p.latent == 10 else (29 if p.depth == 1 else 14)
        per_unit = 0.19 - 0.03 * (p.depth == 3) if p.latent == 10 else 0.05 + 0.02 * (p.depth == 3)
        m = {
            **r.metrics,
            "active_units": units,
            "kl_q_prior_lower_bound": units * (per_unit + 0.001 * p.seed),
            "kl_q_prior": units * (0.8 + 0.01 * p.seed),
        }
        rows.append(runs.Row(r.name, r.params, m, r.start_ms, r.end_ms))
    ten, fifty = decision.arms(rows, EPOCHS)
    assert decision.equal_units(ten) and not decision.equal_units(fifty)
    assert decision.compared(fifty) == (decision.PER_UNIT, decision.UPPER_PER_UNIT)
    assert fifty.diffs[decision.BOUND].verdict == stats.Direction.LOWER  # in nats: fewer units, less KL
    assert fifty.diffs[decision.PER_UNIT].verdict == stats.Direction.HIGHER
    found = decision.answer_row([ten, fifty], None)
    assert [w for w, _ in found.diffs] == ["latent 10", "latent 50, per active unit"]
    assert (
        found.diffs[1][1] is fifty.diffs[decision.PER_UNIT]
        and "per active unit where the units differ" in found.rests_on
    )
    plain = decision.in_plain_words(found, [ten, fifty], None)
    leaves = "At latent 50 the warm-up leaves depth 1 29 active units (0.69 nats each) and depth 3 14 ("
    assert leaves in plain and "; per active unit depth 3 raises the bound (" in plain
    text = "\n".join(decision_section.in_full([ten, fifty], len(rows), len(planned)))
    assert (
        "**Latent size 50** (depth 1: seeds 0, 1; depth 3: seeds 0, 1). The bracket settles (the units differ: "
        in text
    )
    assert text.count("| bound per active unit |") == 1 and text.count("| upper end per active unit |") == 1
    assert text.count("| rate per active unit |") == 1  # what each unit carries: the per-unit ends' context


def test_the_committed_page_reads_in_a_few_minutes():
    """The committed study.md, as `make report` wrote it from the real runs: at most 2,500 words
    before the appendices, the plain answer first (the synthetic page above is shorter)."""
    text = (Path(__file__).resolve().parents[1] / "reports" / "study.md").read_text()
    head = text.split("## Appendix")[0]
    assert len(head.split()) <= 2500 and head.index("## In short") < head.index("## The answer")
