"""The report's appendices: A, long enough? (the slice); B, each analysis in full; C, every
experiment. Their method paragraphs are the page's own text, kept here so that editing a module's
docstring never changes the committed results page."""
from __future__ import annotations

from ..analysis import depth, latent_size, learned_prior, prior_sampling, stats
from ..io.numbers import fmt
from ..study import runs

# Appendix B1: why depth is judged at matched rate (analysis/depth.py does it)
DEPTH_METHOD = (
    "A deeper encoder that switches units off has a lower rate (mean KL(Q(z|x) || p), the KL term), and at a "
    "lower rate q is closer to the prior whatever its shape: comparing the depths at beta = 1 compares rates. "
    "So each depth traces its curve on the rate-distortion plane (Alemi et al. 2018) with a beta sweep, and "
    "the depths are compared where their curves overlap: a line per depth through (rate, measure) of every "
    "run, one pooled residual variance, both read at the middle of the overlapping rates (stats.fit_lines; an "
    "analysis of covariance). Rate is the test set's KL term (`test_kl`), distortion its reconstruction term "
    "(`test_recon`), closeness the held-out bound."
)

# Appendix B2: how the latent-size trend is judged (analysis/latent_size.py)
LATENT_METHOD = (
    "Judged as a trend over every latent size, not on its endpoints (a fall from 2 to 5 can sit beside a flat "
    "run from 5 to 50): within each encoder depth, each step to the next size is a difference of seed means "
    "with its 95% interval, and the trend stops at the size after which no step is clearly lower. The "
    "per-dimension match (mean KS of the active dimensions) is shown beside the joint match (held-out bound, "
    "the moment-matched Gaussian's KL), and the reason the trend stops beside both: active units and "
    "population information per active unit."
)

# Appendix B3: what makes the prior-against-fitted comparison fair (analysis/prior_sampling.py)
SAMPLING_METHOD = (
    "Fair on three counts:\n"
    "- the best fitted density is the one with the highest validation gain (summary.best_fitted), never the "
    "one with the best figure it is then compared by;\n"
    "- each comparison is paired within a run (same decoder, same classifier): the prior's figure minus the "
    "best density's, a mean over the runs of one latent size (every depth and seed) with its 95% interval;\n"
    "- fidelity (precision: do samples look like digits?) and coverage (recall: do they reach every kind of "
    "digit?) are judged apart, against real test digits and against the decoder's own reconstructions of them "
    "(the decoder held fixed), each beside its floor: real digits against the test set (floor.*), and "
    "replaying q (decoding codes of training images) against the reconstructions."
)

# Appendix B4: the terms of the learned-prior comparison (analysis/learned_prior.py)
PRIORS_METHOD = (
    "Bauer & Mnih (2019, Table 2) set the terms: the ELBO with N(0,I); the ELBO after swapping in a prior "
    "fitted ex post (encoder and decoder fixed); the ELBO of a prior learned jointly. Ours:\n"
    "- ex post: test ELBO + the held-out bound. The bound is the test codes' mean of log g(z) - log p(z) for "
    "the density g the validation codes chose, so ELBO + bound is exactly the test ELBO of the same encoder "
    "and decoder with g as the prior;\n"
    "- joint: the VampPrior model's test ELBO, and its ex-post ELBO (what a density fitted to its q still "
    "gains over the learned prior: the gap the learned prior leaves);\n"
    "- the IWAE bound on the test NLL of each model (k = 1000, 500 test images);\n"
    "- samples: each model's prior and its best fitted density, against real digits only (the two models' "
    "reconstructions differ, so FD to the reconstructions does not compare across them)."
)


def depth_in_full(claim: depth.DepthClaim) -> list[str]:
    lines = ["### B1. Depth, in full", "", DEPTH_METHOD, ""]
    n = len(claim.matched)
    lines += [
        f"**Verdict: {claim.verdict}** (it rests on {n} comparison{'s' * (n != 1)}: the held-out bound at the "
        "matched rate at each latent size below; the other columns say what else differs there).",
        "",
    ]
    if claim.missing:
        lines += ["Not matched: " + "; ".join(claim.missing) + ".", ""]
    if claim.matched:
        lines += [
            "| latent | matched rate (overlap) | runs | bound, depth 3 - 1 [95%] | upper end (training mixture's KL) | "
            "distortion | active units | test ELBO |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for m in claim.matched:
            cells = [
                m.diffs[k].fmt() if k in m.diffs else "n/a"
                for k in (depth.BOUND, depth.UPPER, depth.DISTORTION, "active_units", "test_elbo")
            ]
            lines.append(
                f"| {m.latent} | {m.rate:.3g} ({m.overlap[0]:.3g}-{m.overlap[1]:.3g}) | {m.runs} | "
                + " | ".join(cells)
                + " |"
            )
        lines += [""]
    lines += [
        f"At beta = 1 (the grid: depth {depth.DEPTHS[1]} minus depth {depth.DEPTHS[0]}, 95% intervals; "
        "the rate differs, so these do not answer the claim by themselves):",
        "",
        "| latent | rate (test KL) | bound | population information | active units | test ELBO |",
        "|---|---|---|---|---|---|",
    ]
    for z in sorted({int(c.within.split()[-1]) for c in claim.at_beta1}):
        cell = {c.measure: c.diff.fmt() for c in claim.at_beta1 if c.within == f"latent size {z}"}
        lines.append(
            f"| {z} | "
            + " | ".join(
                cell.get(k, "n/a") for k in (depth.RATE, depth.BOUND, runs.POPULATION_INFO, "active_units", "test_elbo")
            )
            + " |"
        )
    lines += ["", "![depth at beta 1](study_depth.png)", ""]
    if claim.warmup_verdict:
        lines += ["KL warm-up (beta ramped from 0 over the first epochs), active units:", ""]
        lines += [f"- latent size {z}: {text}." for z, text in claim.warmup_verdict.items()] + [""]
    return lines


def latent_in_full(claim: latent_size.LatentClaim, rows, epochs) -> list[str]:
    grid = latent_size.with_info_per_unit([r for r in rows if r.part(epochs) == "grid"])
    n = sum(len(t.steps) for t in claim.trends)
    lines = [
        "### B2. Latent size, in full",
        "",
        LATENT_METHOD,
        "",
        f"**Verdict: {claim.verdict}** ({n} comparisons: each step to the next latent size, at each depth).",
        "",
    ]
    if claim.missing:
        lines += ["Not decided: " + "; ".join(claim.missing) + ".", ""]
    for t in claim.trends:
        steps = ", ".join(f"{s.low['latent']}->{s.high['latent']} {s.diff.fmt(2)}" for s in t.steps)
        where = (
            f"falls up to latent size {t.stop}, no clear change after"
            if t.stop and t.stop != t.latents[-1]
            else "falls at every size"
            if t.stop
            else "never clearly falls"
        )
        units = (
            f"active units grow up to latent size {t.units_stop} ({t.units[t.units_stop]:.3g}; "
            f"{t.units[t.latents[-1]]:.3g} at {t.latents[-1]})"
            if t.units_stop
            else "active units never clearly grow"
        )
        lines.append(
            f"- depth {t.depth}: mean KS of the active dimensions {where}"
            + (f", rises at {', '.join(map(str, t.rising))}" if t.rising else "")
            + f"; {units} (steps: {steps})."
        )
    lines += [
        "",
        "| depth | latent | KS, active (per dimension) | held-out bound (joint) | Gaussian KL (joint) | "
        "active units | information per active unit |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in sorted({r.key.depth for r in grid}):
        for z in sorted({r.key.latent for r in runs.where(grid, depth=d)}):
            here = runs.where(grid, depth=d, latent=z)
            cells = []
            for m in (
                latent_size.KS,
                "kl_q_prior_lower_bound",
                "gaussian_kl",
                "active_units",
                latent_size.INFO_PER_UNIT,
            ):
                v = runs.values(here, m)
                mean, _, k = stats.spread(v) if v else (None, 0, 0)
                half = stats.t_quantile(k - 1) * stats.spread(v)[1] / k**0.5 if k > 1 else None
                cells.append(f"{fmt(mean, 3)} ± {fmt(half, 2)}" if half is not None else fmt(mean, 3))
            lines.append(f"| {d} | {z} | " + " | ".join(cells) + " |")
    lines += ["", "(mean ± half-width of the 95% interval over seeds)", ""]
    return lines


def sampling_in_full(results, fd_spread: tuple | None = None) -> list[str]:
    """B3; fd_spread (low, high, seeds): how far the classifier's seed moves each sampler's FD."""
    lines = [
        "### B3. Sampling N(0,I), in full",
        "",
        SAMPLING_METHOD,
        "",
        f"Each latent size rests on {len(prior_sampling.MEASURES)} paired comparisons (fd, precision and "
        "recall, against "
        "real digits and against the reconstructions).",
        "",
    ]
    if fd_spread:
        lines += [
            f"FD levels depend on the classifier: across {fd_spread[2]} classifier seeds each sampler's FD moves by "
            f"{fd_spread[0]:.0%}-{fd_spread[1]:.0%} (sd over mean; reports/classifier_spread.json); a difference "
            "within a run compares like with like.",
            "",
        ]
    lines += [f"- {prior_sampling.sentence(s)}" for s in results] + [""]
    lines += ["| latent | measure | prior | best | prior - best [95%] | floor |", "|---|---|---|---|---|---|"]
    for s in results:
        for m in prior_sampling.MEASURES:
            if m in s.diffs:
                lines.append(
                    f"| {s.latent} | {m} | {fmt(s.prior[m], 4)} | {fmt(s.best[m], 4)} | {s.diffs[m].fmt()} | "
                    f"{fmt(s.floor[m], 4)} |"
                )
    return lines + [""]


def priors_in_full(results: list[learned_prior.PriorComparison]) -> list[str]:
    lines = [
        "### B4. A learned prior, in full",
        "",
        PRIORS_METHOD,
        "",
        "| latent | runs N(0,I) / learned | test ELBO N(0,I) | N(0,I) ex post | learned (joint) | learned ex post | "
        "IWAE NLL N(0,I) | learned | ex-post gain over the learned prior [95%] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in results:
        m = lambda model, k: fmt(c.mean.get((model, k)), 5)  # noqa: E731
        learned_expost = (
            c.mean.get(("learned", "test_elbo"), 0) + c.mean.get(("learned", "kl_q_prior_lower_bound"), 0)
            if ("learned", "kl_q_prior_lower_bound") in c.mean
            else None
        )
        lines.append(
            f"| {c.latent} | {c.n[0]} / {c.n[1]} | {m('normal', 'test_elbo')} | {m('normal', learned_prior.EXPOST)} | "
            f"{m('learned', 'test_elbo')} | {fmt(learned_expost, 5)} | {m('normal', 'iwae_nll')} | "
            f"{m('learned', 'iwae_nll')} | "
            f"{c.diffs['expost_gain_learned'].fmt()} |"
        )
    lines += [
        "",
        "| latent | learned - N(0,I): test ELBO | IWAE NLL | joint - ex post (ELBO) | fd: learned prior - N(0,I) best "
        "| precision | recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in results:
        d = c.diffs
        lines.append(
            f"| {c.latent} | {d['test_elbo'].fmt()} | {d['iwae_nll'].fmt()} | {d['joint_vs_expost'].fmt()} | "
            f"{d['fd.learned_prior_vs_normal_best'].fmt()} | {d['precision.learned_prior_vs_normal_best'].fmt()} | "
            f"{d['recall.learned_prior_vs_normal_best'].fmt()} |"
        )
    lines += [
        "",
        "For scale, published on binarised MNIST with other architectures (docs: References): Bauer & "
        "Mnih (2019, latent 50) test ELBO -89.0 with N(0,I), -87.3 ex post (+1.7), -86.6 joint (+2.4); Tomczak & "
        "Welling's VampPrior (K = 500) NLL 85.79 against 89.78 (-4.0). Our figures are nats on MNIST's grey levels "
        "read as Bernoulli means, so only the differences compare.",
        "",
    ]
    return lines


def every_experiment(rows: list[runs.Row], opening: list[str] = ()) -> list[str]:
    """Appendix C: `opening` (what the runs are, how to rebuild them), then a row per run."""
    cols = [
        ("test ELBO", "test_elbo"),
        ("rate", "test_kl"),
        ("bound", "kl_q_prior_lower_bound"),
        ("AU", "active_units"),
        ("KS act.", "ks_mean_active"),
        ("fd prior", "fd.prior"),
        ("fd gmm", "fd.gmm"),
        ("vs recon prior", "fd_vs_recon.prior"),
        ("NLL", "iwae_nll"),
        ("slope", "val_elbo_slope"),
    ]
    lines = [
        "## Appendix C: every experiment",
        "",
        *opening,
        "| run | " + " | ".join(c for c, _ in cols) + " |",
        "|---" * (len(cols) + 1) + "|",
    ]
    for r in rows:
        lines.append(f"| {r.name} | " + " | ".join(fmt(r.metrics.get(k)) for _, k in cols) + " |")
    return lines
