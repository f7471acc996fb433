"""The study across experiments: gather the pipeline rows, aggregate over seeds, judge the claims.

A claim "Y falls as X grows" is judged within each value of a third param (for the depth claim:
within each latent size) by comparing the runs at the smallest and the largest X: the difference
of their mean Y against its standard error from the seed-to-seed spread (Welch). A comparison
needs two values of X and at least two seeds at each end; with none decidable the claim cannot be
decided, and the report says so instead of concluding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import mean, stdev

DEPTH, LATENT, SEED = "model.encoder.depth", "model.latent_dim", "train.seed"
Z = 2.0  # a difference counts when it exceeds Z standard errors


@dataclass
class Row:
    """One pipeline run (one experiment) as MLflow stores it."""

    name: str
    params: dict
    metrics: dict

    def x(self, key: str) -> float:
        return float(self.params[key])


def fetch_rows(client, experiment_name: str) -> list[Row]:
    """Every finished pipeline run of the experiment (summarize filled its row)."""
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return []
    runs, token = [], None
    while True:
        page = client.search_runs([exp.experiment_id], "tags.`priorgap.kind` = 'pipeline'", max_results=1000,
                                  order_by=["attributes.start_time ASC"], page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    return [Row(r.info.run_name, dict(r.data.params), dict(r.data.metrics)) for r in runs
            if r.info.status == "FINISHED" and DEPTH in r.data.params and LATENT in r.data.params]


def summary(rows: list[Row], metric: str, by: tuple[str, ...]) -> dict[tuple, tuple[float, float, int]]:
    """(mean, standard deviation over seeds, count) of a metric for each combination of `by`."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if metric in r.metrics:
            groups.setdefault(tuple(r.x(k) for k in by), []).append(r.metrics[metric])
    return {k: (mean(v), stdev(v) if len(v) > 1 else 0.0, len(v)) for k, v in sorted(groups.items())}


@dataclass
class Comparison:
    within: float
    low_x: float
    high_x: float
    low: list[float]
    high: list[float]

    @property
    def diff(self) -> float:
        return mean(self.high) - mean(self.low)

    @property
    def se(self) -> float:
        return math.sqrt(stdev(self.low) ** 2 / len(self.low) + stdev(self.high) ** 2 / len(self.high))

    @property
    def verdict(self) -> str:
        if abs(self.diff) <= Z * self.se:
            return "no clear change"
        return "lower" if self.diff < 0 else "higher"


@dataclass
class Claim:
    text: str
    x: str
    y: str
    within: str
    verdict: str = ""
    comparisons: list[Comparison] = field(default_factory=list)
    reason: str = ""


def judge(claim: Claim, rows: list[Row]) -> Claim:
    """Fill in the verdict: 'holds', 'does not hold' or 'cannot be decided'."""
    usable = [r for r in rows if claim.y in r.metrics]
    withins = sorted({r.x(claim.within) for r in usable})
    missing = []
    for w in withins:
        here = [r for r in usable if r.x(claim.within) == w]
        xs = sorted({r.x(claim.x) for r in here})
        if len(xs) < 2:
            missing.append(f"{claim.within}={w:g}: only {claim.x}={xs[0]:g}")
            continue
        low = [r.metrics[claim.y] for r in here if r.x(claim.x) == xs[0]]
        high = [r.metrics[claim.y] for r in here if r.x(claim.x) == xs[-1]]
        if len(low) < 2 or len(high) < 2:
            missing.append(f"{claim.within}={w:g}: fewer than two seeds at {claim.x}={xs[0]:g} or {xs[-1]:g}")
            continue
        claim.comparisons.append(Comparison(w, xs[0], xs[-1], low, high))
    if not claim.comparisons:
        claim.verdict = "cannot be decided"
        claim.reason = ("the sweep needs at least two values of " f"{claim.x} and two seeds at each end "
                        f"({'; '.join(missing) or 'no complete runs'})")
        return claim
    verdicts = [c.verdict for c in claim.comparisons]
    lower, higher = verdicts.count("lower"), verdicts.count("higher")
    claim.verdict = "holds" if lower > len(verdicts) / 2 and higher == 0 else "does not hold"
    claim.reason = (f"{claim.y} is lower at the larger {claim.x} in {lower} of {len(verdicts)} comparisons, "
                    f"higher in {higher}, without a clear change in {len(verdicts) - lower - higher} "
                    f"(a change counts beyond {Z:g} standard errors of the seed spread)")
    return claim


def claims(rows: list[Row]) -> list[Claim]:
    return [
        judge(Claim("A deeper encoder brings q(z) closer to N(0,I) (lower KL(q || N(0,I)))",
                    DEPTH, "kl_q_prior", LATENT), rows),
        judge(Claim("With more latent dimensions each dimension of q(z) gets closer to N(0,1) "
                    "(lower mean KS statistic of the active dimensions)", LATENT, "ks_mean_active", DEPTH), rows),
    ]
