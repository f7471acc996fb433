"""One experiment at a glance: the headline figures (the MLflow pipeline row and the DVC metric);
page.py draws them as a one-page HTML summary.

The headline is picked from the stages' metrics files, renamed for a reader who has not read the
code; every other figure stays in those files and on the stage runs.
"""
from __future__ import annotations

from ..latent.densities import candidates, samplers

# MLflow's saved views (the pipeline rows', and make study-mlflow's): first the figures that answer
# the question, then the settings a study varies; legible at 1,400 px (tests/test_ui.py), the rest
# of the headline one "Columns" click away
BEST_FD = "fd.best_fitted"  # the FD of best_fitted(): logged beside the headline, a column of the views
VIEW_METRICS = ["test_elbo", "kl_q_prior_lower_bound", "fd.prior", BEST_FD, "kl_q_prior", "active_units"]
VIEW_PARAMS = ["model.encoder.depth", "model.encoder.width", "model.latent_dim", "train.beta", "train.epochs",
               "train.kl_warmup_epochs", "model.prior.kind", "train.seed"]
FITTED = candidates()  # the fitted densities a user would sample from (the registry's candidates)
SAMPLERS = ("prior", *FITTED, *samplers())  # the model's prior, those, q replayed and the tempered prior

# headline name -> (stage, dotted name in that stage's metrics file), what it means
HEADLINE: dict[str, tuple[str, str, str]] = {
    "test_elbo": ("train", "test_elbo", "ELBO of the test set (nats per image; higher is better)"),
    "test_recon": (
        "train",
        "test_recon",
        "distortion: the test set's expected -log p(x|z) (nats; the ELBO's first term)",
    ),
    "test_kl": ("train", "test_kl", "rate: the test set's mean KL(Q(z|x) || prior) (nats; the ELBO's second term)"),
    "iwae_nll": ("evaluate", "iwae_nll", "IWAE bound on the test NLL (nats; lower is better)"),
    "iwae_nll_expost": (
        "evaluate",
        "iwae_nll_expost",
        "the same bound with the chosen fitted density as the prior, the decoder fixed: the ex-post model's NLL (nats)",
    ),
    "val_elbo_slope": (
        "train",
        "val_elbo_slope",
        "validation ELBO gained per epoch over the last 20% of epochs (nats; near 0: converged)",
    ),
    "kl_q_prior": ("fit_posterior", "kl_q_prior", "KL(q || N(0,I)) of the training mixture q (nats)"),
    "kl_prior_q": ("fit_posterior", "kl_prior_q", "KL(N(0,I) || q) (nats)"),
    "kl_q_prior_lower_bound": (
        "fit_posterior",
        "kl_q_prior_lower_bound",
        "held-out lower bound on KL(q_population || N(0,I)) (nats): the test codes' gain of the "
        "density the validation codes chose",
    ),
    "kl_q_prior_lower_bound_se": (
        "fit_posterior",
        "kl_q_prior_lower_bound_se",
        "standard error of that bound over the test codes",
    ),
    "bound_saturated": (
        "fit_posterior",
        "bound_saturated",
        "1: the largest capacity tried no longer raised the bound by more than its standard error; "
        "0: more capacity would likely tighten it",
    ),
    **{
        f"heldout_gain.{s}": (
            "fit_posterior",
            f"densities.{s}.heldout_gain",
            f"held-out gain of {s} over N(0,I) on the test codes (nats; a lower bound on the KL)",
        )
        for s in FITTED
    },
    **{
        f"val_gain.{s}": (
            "fit_posterior",
            f"densities.{s}.val_gain",
            f"held-out gain of {s} on the validation codes (nats): picks the best fitted density",
        )
        for s in FITTED
    },
    "avg_kl": (
        "fit_posterior",
        "avg_kl",
        "mean KL(Q(z|x) || N(0,I)) over the training codes = mutual_info + kl_q_prior",
    ),
    "gaussian_kl": (
        "fit_posterior",
        "gaussian_kl",
        "KL of q's moment-matched Gaussian to the prior's: the joint match of the first two moments (nats)",
    ),
    "scale_kl": (
        "fit_posterior",
        "scale_kl",
        "the part of gaussian_kl each unit's mean and variance carry (scale; nats)",
    ),
    "correlation_kl": (
        "fit_posterior",
        "correlation_kl",
        "the rest of gaussian_kl: -1/2 log det of q's correlation matrix",
    ),
    "gaussian_share": (
        "fit_posterior",
        "gaussian_share",
        "gaussian_kl / the held-out bound: the share of the mismatch "
        "that scale and correlation explain (the rest is shape)",
    ),
    "cov_eig_min": ("fit_posterior", "cov_eig_min", "smallest eigenvalue of q's covariance (N(0,I): 1)"),
    "cov_eig_max": (
        "fit_posterior",
        "cov_eig_max",
        "largest eigenvalue of q's covariance (N(0,I): 1; the thread's N(0,2I): 2)",
    ),
    "mean_square_active_max": (
        "fit_posterior",
        "mean_square_active_max",
        "largest E_q[z_j^2] = E[mu_j^2] + E[sigma_j^2] over the active units (N(0,I): 1)",
    ),
    "mutual_info": ("fit_posterior", "mutual_info", "index-code mutual information (nats; at most log N)"),
    "active_units": ("fit_posterior", "active_units", "latent units with Var(mu) > 0.01"),
    "holes_heldout": ("fit_posterior", "holes_heldout", "share of N(0,I) draws where test codes are rare"),
    "ks_mean_active": (
        "fit_posterior",
        "ks_mean_active",
        "mean KS statistic of q's active dimensions against the prior's marginals",
    ),
    "ks_mean": ("fit_posterior", "ks_mean", "mean KS statistic of all of q's dimensions against the prior's marginals"),
    # the floor: real digits against the test set, scored as a sampler is (it names the classifier too:
    # a row measured with another one shows another floor)
    **{
        f"floor.{k}": (
            "reference",
            k,
            f"{k} of as many real training digits as a sampler draws, against the test digits: what real digits reach",
        )
        for k in ("fd", "precision", "recall")
    },
    "holes.share": (
        "evaluate",
        "holes.prior.share",
        "share of the prior's draws in holes: the chosen density 10 times rarer than the prior there",
    ),
    "holes.share_deep": (
        "evaluate",
        "holes.prior.share_deep",
        "share of the prior's draws where it is 100 times rarer",
    ),
    **{
        f"holes.precision_{ref}_{side}": (
            "evaluate",
            f"holes.prior.precision_{ref}_{side}",
            f"precision of the prior's draws {where} holes, against {what}",
        )
        for ref, what in (("real", "real digits"), ("vs_recon", "the reconstructions"))
        for side, where in (("in", "in"), ("out", "out of"))
    },
    **{
        f"fd.{s}": ("evaluate", f"{s}.fd", f"Frechet distance of {s} samples to the test set (lower is better)")
        for s in SAMPLERS
    },
    **{
        f"fd_vs_recon.{s}": (
            "evaluate",
            f"{s}.vs_recon.fd",
            f"Frechet distance of {s} samples to the reconstructions (decoder held fixed)",
        )
        for s in SAMPLERS
    },
    **{
        f"precision.{s}": ("evaluate", f"{s}.precision", f"precision of {s} samples (higher is better)")
        for s in SAMPLERS
    },
    **{f"recall.{s}": ("evaluate", f"{s}.recall", f"recall of {s} samples (higher is better)") for s in SAMPLERS},
    **{
        f"precision_vs_recon.{s}": (
            "evaluate",
            f"{s}.vs_recon.precision",
            f"precision of {s} samples against the reconstructions (decoder held fixed)",
        )
        for s in SAMPLERS
    },
    **{
        f"recall_vs_recon.{s}": (
            "evaluate",
            f"{s}.vs_recon.recall",
            f"recall of {s} samples against the reconstructions (decoder held fixed)",
        )
        for s in SAMPLERS
    },
}


def headline(flat_metrics: dict[str, dict]) -> dict:
    """{stage: flattened metrics} -> {headline name: value}; a figure a stage left null stays null."""
    return {name: flat_metrics[stage].get(key) for name, (stage, key, _) in HEADLINE.items()}


def best_fitted(values: dict) -> str:
    """The fitted density with the highest held-out gain on the validation codes: chosen on data
    that no reported figure is computed on (picking by test fd would bias that fd down)."""
    return max(FITTED, key=lambda s: float("-inf") if values[f"val_gain.{s}"] is None else values[f"val_gain.{s}"])


def view_figures(values: dict) -> dict:
    """What the saved views show beyond the headline: the best fitted density's FD (none before
    every candidate has its validation gain)."""
    if any(values.get(f"val_gain.{s}") is None for s in FITTED):
        return {}
    return {BEST_FD: values.get(f"fd.{best_fitted(values)}")}


def nest(flat: dict) -> dict:
    """{'fd.prior': 1} -> {'fd': {'prior': 1}}: how the DVC metrics file groups them."""
    out: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out
