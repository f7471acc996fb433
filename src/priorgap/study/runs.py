"""The study's rows: one pipeline run (one experiment) each, from the MLflow store (collecting)
or from the committed runs file reports/study.csv (the report; table.py).

A row's key is what the study varies (depth, latent size, seed, epochs, beta, warm-up, prior,
encoder width); two runs of one setting (key and decoder) keep the newer. Its part of the design
(plan.py) follows from the key: the grid (beta 1, no warm-up, N(0,I), the study's epochs, width
500), width (another width), rate (another beta), warmup, vamp (a learned prior), slice (twice the
epochs).

A run counts as converged when its validation ELBO gains at most SLOPE_LIMIT nats per epoch over
its last 20% of epochs: a screen for runs plainly not done, left out of every verdict. The test of
"long enough" that can fail is the slice (report.py).

POPULATION_INFO = avg_kl - kl_q_prior_lower_bound is derived per row (depth.py says why).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..tracking.naming import CONVERGING, FIXED, GRID_WIDTH, INSTRUMENT_PARAM, Setting  # noqa: F401  (FIXED, INSTRUMENT_PARAM: the study's)

DEPTH, LATENT, SEED, EPOCHS = "model.encoder.depth", "model.latent_dim", "train.seed", "train.epochs"
WIDTH = "model.encoder.width"
BETA, WARMUP = "train.beta", "train.kl_warmup_epochs"
DECODER = ("model.decoder.depth", "model.decoder.width")
PRIOR = ("model.prior.kind", "model.prior.components")
# A run still gaining more than this per epoch at its end (4 nats over the last 8 of 40 epochs)
# is plainly not done.
SLOPE_LIMIT = 0.5  # nats per epoch
REQUIRED = ("test_elbo", "kl_q_prior", "kl_q_prior_lower_bound", "mutual_info", "avg_kl",
            "active_units", "fd.prior", "fd_vs_recon.prior")
POPULATION_INFO = "population_info"  # derived per row: avg_kl - kl_q_prior_lower_bound


@dataclass
class Row:
    """One pipeline run (one experiment) as MLflow stores it."""

    name: str
    params: dict
    metrics: dict
    start_ms: int = 0
    end_ms: int = 0

    def x(self, key: str) -> float:
        return float(self.params[key])

    @property
    def prior(self) -> str:
        """normal, or vamp<K>."""
        return self.key.prior

    @property
    def key(self) -> Setting:
        """What the study varies (design.Planned.key is the same Setting)."""
        return Setting.of(self.params)

    @property
    def instrument(self) -> str:
        return self.key.instrument

    def part(self, epochs: int) -> str:
        """Which part of the design (plan.PARTS) the run belongs to, for a study of `epochs` epochs."""
        k = self.key
        if k.epochs == 2 * epochs:
            return "slice"
        if k.epochs != epochs:
            return "other"
        if k.prior != "normal":
            return "vamp"
        if k.warmup:  # the decision: the warm-up arm measured by the converging instrument
            return "decision" if k.instrument == CONVERGING else "warmup"
        if k.beta != 1:
            return "rate"
        return "grid" if k.width == GRID_WIDTH else "width"

    @property
    def setting(self) -> tuple:
        """The key and the decoder's shape: two runs of one setting are the same experiment."""
        return (*self.key, *(self.params.get(k) for k in DECODER))

    @property
    def converged(self) -> bool:
        slope = self.metrics.get("val_elbo_slope")
        return slope is not None and slope <= SLOPE_LIMIT


def _search(client, exp_id: str, filter_string: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([exp_id], filter_string, max_results=1000, order_by=["attributes.start_time ASC"],
                                  page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def fetch_rows(client, experiment_name: str) -> list[Row]:
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return []
    runs = _search(client, exp.experiment_id, "tags.`priorgap.kind` = 'pipeline'")
    rows = [Row(r.info.run_name, dict(r.data.params), with_population_info(r.data.metrics), r.info.start_time,
                r.info.end_time or r.info.start_time)
            for r in runs if r.info.status == "FINISHED" and DEPTH in r.data.params and LATENT in r.data.params
            and all(k in r.data.metrics for k in REQUIRED)]
    newest = {r.setting: r for r in rows}  # ascending start time: the last one wins
    return ordered(newest.values())


def ordered(rows) -> list[Row]:
    """By prior, width, depth, latent size, epochs, beta, warm-up, seed: a setting's seeds side by side."""
    return sorted(rows, key=lambda r: (r.prior, r.key.width != GRID_WIDTH, r.key.width, *r.key[:2], *r.key[3:6],
                                       r.key.seed))


def with_metric(row: Row, name: str, value: float) -> Row:
    """A copy of `row` with one more metric: a derived figure never writes into a row others share."""
    return replace(row, metrics={**row.metrics, name: value})


def with_population_info(metrics: dict) -> dict:
    return {**metrics, POPULATION_INFO: metrics["avg_kl"] - metrics["kl_q_prior_lower_bound"]}


def at_beta1(epochs: int, **more) -> dict:
    """The settings of a plain run of `epochs` epochs (beta = 1, no warm-up, the N(0, I) prior), as
    where() and compare.between() take them; `more` adds settings or overrides these."""
    return {"beta": 1.0, "warmup": 0, "prior": "normal", "epochs": epochs, **more}


def where(rows: list[Row], **settings) -> list[Row]:
    """The rows whose key has these values: where(rows, depth=1, latent=10, beta=1.0)."""
    return [r for r in rows if all(getattr(r.key, k) == v for k, v in settings.items())]


def values(rows: list[Row], metric: str) -> list[float]:
    return [r.metrics[metric] for r in rows if r.metrics.get(metric) is not None]
