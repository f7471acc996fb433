"""What to do instead: a prior learned with the model (VampPrior) against N(0,I) with the best
density fitted to q after training (ex post), at depth 2.

Bauer & Mnih (2019, Table 2) set the terms: the ELBO with N(0,I); the ELBO after swapping in a
prior fitted ex post (encoder and decoder fixed); the ELBO of a prior learned jointly. Ours:
- ex post: test ELBO + the held-out bound. The bound is the test codes' mean of log g(z) - log p(z)
  for the density g the validation codes chose, so ELBO + bound is exactly the test ELBO of the
  same encoder and decoder with g as the prior;
- joint: the VampPrior model's test ELBO, and its ex-post ELBO (what a density fitted to its q
  still gains over the learned prior: the gap the learned prior leaves);
- the IWAE bound on the test NLL of each model (k = 1000, 500 test images);
- samples: each model's prior and its best fitted density, against real digits only (the two
  models' reconstructions differ, so FD to the reconstructions does not compare across them).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..study import runs
from . import stats
from .prior_sampling import pairs
from ..summary.headline import FITTED, best_fitted

DEPTH = 2
EXPOST = "expost_elbo"  # derived: test_elbo + kl_q_prior_lower_bound


@dataclass
class PriorComparison:
    latent: int
    learned: str  # vamp<K>
    n: tuple[int, int]  # runs: N(0,I), learned
    mean: dict = field(default_factory=dict)  # (model, measure) -> mean over seeds
    diffs: dict = field(default_factory=dict)  # name -> stats.Diff
    best: dict = field(default_factory=dict)  # model -> the fitted densities its validation codes chose


def with_expost(rows: list[runs.Row]) -> list[runs.Row]:
    """Copies of the rows with EXPOST among their metrics (the rows themselves are shared: untouched)."""
    return [runs.with_metric(r, EXPOST, r.metrics["test_elbo"] + r.metrics["kl_q_prior_lower_bound"])
            if r.metrics.get("test_elbo") is not None and r.metrics.get("kl_q_prior_lower_bound") is not None else r
            for r in rows]


def _sampler(rows: list[runs.Row], measure: str, which: str) -> list[float]:
    """A measure of each run's prior ("prior") or best fitted density ("best") against real digits."""
    found = [pairs(r, measure) for r in rows if all(r.metrics.get(f"val_gain.{s}") is not None
                                                       for s in FITTED)]
    return [p[0] if which == "prior" else p[1] for p in found if p is not None]


def compare_priors(rows: list[runs.Row], epochs: int) -> list[PriorComparison]:
    out = []
    learned = [r for r in with_expost(rows) if r.part(epochs) == "vamp" and r.key.depth == DEPTH]
    for z in sorted({r.key.latent for r in learned}):
        for kind in sorted({r.key.prior for r in runs.where(learned, latent=z)}):
            vamp = runs.where(learned, latent=z, prior=kind)
            normal = [r for r in with_expost(runs.where(rows, depth=DEPTH, latent=z)) if r.part(epochs) == "grid"]
            c = PriorComparison(z, kind, (len(normal), len(vamp)))
            for name, group in (("normal", normal), ("learned", vamp)):
                for m in ("test_elbo", EXPOST, "iwae_nll", "kl_q_prior_lower_bound", "active_units", "test_kl"):
                    v = runs.values(group, m)
                    if v:
                        c.mean[(name, m)] = stats.spread(v)[0]
                for m in ("fd", "precision", "recall"):
                    for which in ("prior", "best"):
                        v = _sampler(group, m, which)
                        if v:
                            c.mean[(name, f"{m}.{which}")] = stats.spread(v)[0]
            for m in ("test_elbo", "iwae_nll", "kl_q_prior_lower_bound"):
                c.diffs[m] = stats.welch(runs.values(normal, m), runs.values(vamp, m))
            # joint against ex post: the learned prior's ELBO against N(0,I)'s with its fitted density
            c.diffs["joint_vs_expost"] = stats.welch(runs.values(normal, EXPOST), runs.values(vamp, "test_elbo"))
            c.diffs["expost_gain_learned"] = stats.paired(runs.values(vamp, "kl_q_prior_lower_bound"))  # against 0
            # like for like: each model's IWAE NLL with its own prior, N(0,I)'s being the fitted density
            c.diffs["nll_vs_expost"] = stats.welch(
                runs.values(normal, "iwae_nll_expost"), runs.values(vamp, "iwae_nll")
            )
            for m in ("fd", "precision", "recall"):
                # each model's own sampler: the learned prior against N(0,I)'s best fitted density
                c.diffs[f"{m}.learned_prior_vs_normal_best"] = stats.welch(
                    _sampler(normal, m, "best"), _sampler(vamp, m, "prior")
                )
                # and against what a user of the plain model does: sample N(0,I)
                c.diffs[f"{m}.learned_prior_vs_normal_prior"] = stats.welch(
                    _sampler(normal, m, "prior"), _sampler(vamp, m, "prior")
                )
            c.best = {
                name: sorted({best_fitted(r.metrics) for r in group if r.metrics.get("val_gain.gmm") is not None})
                for name, group in (("normal", normal), ("learned", vamp))
            }
            out.append(c)
    return out
