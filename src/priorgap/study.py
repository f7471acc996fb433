"""The study across experiments: gather the pipeline rows, check convergence, judge the claims.

Rows: every finished pipeline run whose headline holds the study's figures, one per setting
(encoder depth, decoder shape, latent size, seed, epochs; the newest where a setting ran twice).
The grid is the runs at the study's epochs (params.yaml's train.epochs); runs at twice as many
epochs are the convergence slice; runs at any other count are not part of the study.

Convergence: a run counts as converged when its validation ELBO gains at most SLOPE_LIMIT nats
per epoch over its last 20% of epochs; the others are listed and left out of every verdict. The
slice checks the rule: at twice the epochs, do the figures move beyond the seed spread?

Comparisons: "Y is lower at the largest X than at the smallest", within each value of a third
param, is the difference of the seed means against its Welch standard error (Z of them to
count). Two seeds at each end are needed; with none decidable a claim cannot be decided.

Claim 1 asks whether a deeper encoder gets closer "while keeping as much information". The logged
mutual_info is the index-code information of the training mixture, avg_kl - KL(q_train || p): it
cannot exceed log N and sits within 0.2 nats of it from latent size ~10 up, whatever the encoder
keeps, so it cannot answer there. ELBO surgery on the population instead, average KL =
I_pop(x; z) + KL(q_pop || p), gives POPULATION_INFO = avg_kl - kl_q_prior_lower_bound: not capped,
and (the bound being a lower bound) an upper estimate of I_pop whose slack is the bound's, the same
for both sides of a comparison to first order. The information given up counts as the reason q
got closer when it is at least INFO_SHARE of the distance closed (both in nats of one budget).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import mean, stdev

DEPTH, LATENT, SEED, EPOCHS = "model.encoder.depth", "model.latent_dim", "train.seed", "train.epochs"
DECODER = ("model.decoder.depth", "model.decoder.width")
Z = 2.0  # a difference counts when it exceeds Z standard errors
# A run still gaining more than this per epoch at its end (over 10 nats across the last 20 epochs)
# is plainly not done; the convergence slice in the report shows how far the figures of the runs
# below it still move at twice the epochs.
SLOPE_LIMIT = 0.5  # nats per epoch
INFO_SHARE = 0.5  # a loss of population information explains a closer q when >= this share of the gain
from .summary import FITTED  # noqa: E402  (the fitted densities, one list for the row and the study)
REQUIRED = ("test_elbo", "kl_q_prior", "kl_q_prior_lower_bound", "mutual_info", "avg_kl",
            "active_units", "fd.prior", "fd_vs_recon.prior")
POPULATION_INFO = "population_info"  # derived per row: avg_kl - kl_q_prior_lower_bound (see above)
# the index-code MI as the issue names it, and the population information the verdict uses
CONVERGENCE_METRICS = ("kl_q_prior_lower_bound", "mutual_info", POPULATION_INFO, "active_units", "fd.prior", "fd.gmm")


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
    def setting(self) -> tuple:
        return tuple(self.params.get(k) for k in (DEPTH, *DECODER, LATENT, SEED, EPOCHS))

    @property
    def converged(self) -> bool:
        slope = self.metrics.get("val_elbo_slope")
        return slope is not None and slope <= SLOPE_LIMIT

    @property
    def log_n(self) -> float:
        """log of the number of training codes q mixes (the ceiling of the mutual information)."""
        size = self.params.get("data.train_size")
        n = int(size) if size not in (None, "None") else 60_000 - int(self.params.get("data.val_size", 5000))
        return math.log(n)


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
    # a pipeline run's end: its summarize stage run's (the status update leaves end_time empty)
    ends = {r.data.tags.get("mlflow.parentRunId"): r.info.end_time or 0 for r in _search(
        client, exp.experiment_id, "tags.`priorgap.stage` = 'summarize' and attributes.status = 'FINISHED'")}
    rows = [Row(r.info.run_name, dict(r.data.params), with_population_info(r.data.metrics), r.info.start_time,
                ends.get(r.info.run_id) or r.info.end_time or r.info.start_time)
            for r in runs if r.info.status == "FINISHED" and DEPTH in r.data.params and LATENT in r.data.params
            and all(k in r.data.metrics for k in REQUIRED)]
    newest = {r.setting: r for r in rows}  # ascending start time: the last one wins
    return sorted(newest.values(), key=lambda r: (r.x(DEPTH), r.x(LATENT), r.x(SEED) if SEED in r.params else 0,
                                                   r.x(EPOCHS) if EPOCHS in r.params else 0))


def with_population_info(metrics: dict) -> dict:
    return {**metrics, POPULATION_INFO: metrics["avg_kl"] - metrics["kl_q_prior_lower_bound"]}


def split_epochs(rows: list[Row], epochs: int) -> tuple[list[Row], list[Row]]:
    """(grid at the study's epochs, convergence slice at twice as many); other runs are not in the study."""
    return [r for r in rows if r.x(EPOCHS) == epochs], [r for r in rows if r.x(EPOCHS) == 2 * epochs]


def spread(values: list[float]) -> tuple[float, float, int]:
    return mean(values), (stdev(values) if len(values) > 1 else 0.0), len(values)


def welch_se(a: tuple[float, float, int], b: tuple[float, float, int]) -> float:
    """Standard error of the difference of two seed means (their spreads), variances unpooled."""
    (_, sa, na), (_, sb, nb) = a, b
    return math.sqrt(sa**2 / na + sb**2 / nb)


def by_setting(rows: list[Row], metric: str, by=(DEPTH, LATENT)) -> dict[tuple, list[float]]:
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if r.metrics.get(metric) is not None:
            groups.setdefault(tuple(r.x(k) for k in by), []).append(r.metrics[metric])
    return dict(sorted(groups.items()))


# --- convergence --------------------------------------------------------------------------------


@dataclass
class Check:
    depth: float
    latent: float
    metric: str
    seeds: tuple[float, float, int]  # mean, sd, n at the grid's epochs
    longer: float  # the same figure at twice the epochs (one seed)

    @property
    def within(self) -> bool:
        m, sd, n = self.seeds
        return n >= 2 and abs(self.longer - m) <= Z * sd + 1e-9


def convergence(grid: list[Row], longer: list[Row], metrics=CONVERGENCE_METRICS) -> list[Check]:
    checks = []
    for metric in metrics:
        seeds = by_setting(grid, metric)
        for r in longer:
            key = (r.x(DEPTH), r.x(LATENT))
            if key in seeds and r.metrics.get(metric) is not None:
                checks.append(Check(*key, metric, spread(seeds[key]), r.metrics[metric]))
    return checks


# --- comparisons --------------------------------------------------------------------------------


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
        return welch_se(spread(self.low), spread(self.high))

    @property
    def verdict(self) -> str:
        if abs(self.diff) <= Z * self.se:
            return "no clear change"
        return "lower" if self.diff < 0 else "higher"


def compare(rows: list[Row], y: str, x: str, within: str) -> tuple[dict[float, Comparison], list[str]]:
    """Y at the largest X against Y at the smallest, within each value of `within`."""
    found, missing = {}, []
    usable = [r for r in rows if r.metrics.get(y) is not None]
    for w in sorted({r.x(within) for r in usable}):
        here = [r for r in usable if r.x(within) == w]
        xs = sorted({r.x(x) for r in here})
        if len(xs) < 2:
            missing.append(f"{within}={w:g}: only {x}={xs[0]:g}")
            continue
        low = [r.metrics[y] for r in here if r.x(x) == xs[0]]
        high = [r.metrics[y] for r in here if r.x(x) == xs[-1]]
        if len(low) < 2 or len(high) < 2:
            missing.append(f"{within}={w:g}: fewer than two seeds at {x}={xs[0]:g} or {xs[-1]:g}")
            continue
        found[w] = Comparison(w, xs[0], xs[-1], low, high)
    return found, missing


@dataclass
class Persistence:
    """A grid comparison (seed means) against the same difference in the slice at twice the epochs
    (one seed each end): does the verdict still point the same way with more training?"""

    measure: str
    grid: Comparison
    longer: float  # high minus low in the slice

    @property
    def agrees(self) -> bool:
        if self.grid.verdict == "lower":
            return self.longer < 0
        if self.grid.verdict == "higher":
            return self.longer > 0
        # no clear change: a one-seed difference has sd sqrt(sd_low^2 + sd_high^2)
        sd = math.hypot(spread(self.grid.low)[1], spread(self.grid.high)[1])
        return abs(self.longer) <= Z * sd + 1e-9


def persistence(claim: Claim, longer: list[Row], x: str, within: str) -> list[Persistence]:
    out = []
    for measure, table in claim.tables.items():
        for w, c in table.items():
            at = {r.x(x): r.metrics.get(measure) for r in longer if r.x(within) == w}
            if at.get(c.low_x) is not None and at.get(c.high_x) is not None:
                out.append(Persistence(measure, c, at[c.high_x] - at[c.low_x]))
    return out


@dataclass
class Claim:
    text: str
    verdict: str = ""
    reason: str = ""
    tables: dict[str, dict[float, Comparison]] = field(default_factory=dict)  # measure -> within -> comparison
    findings: list[str] = field(default_factory=list)  # one sentence per setting


def _undecided(claim: Claim, x: str, missing: list[str]) -> Claim:
    claim.verdict = "cannot be decided"
    claim.reason = (f"the sweep needs at least two values of {x} and two converged seeds at each end "
                    f"({'; '.join(missing) or 'no converged runs'})")
    return claim


def depth_claim(rows: list[Row]) -> Claim:
    """Claim 1: a deeper encoder brings q closer to N(0,I). Closer on the population bound, and
    whether it got there by keeping less information (a clear loss of population information of at
    least INFO_SHARE of the bound's gain)."""
    claim = Claim("A deeper encoder brings q(z) closer to N(0,I)")
    measures = ("kl_q_prior_lower_bound", "kl_q_prior", POPULATION_INFO, "mutual_info", "test_elbo")
    missing = []
    for y in measures:
        claim.tables[y], m = compare(rows, y, DEPTH, LATENT)
        missing += m if y == measures[0] else []
    bound, train, mi, index, elbo = (claim.tables[k] for k in measures)
    if not bound:
        return _undecided(claim, DEPTH, missing)
    at: dict[str, list[str]] = {}  # outcome -> the latent sizes where it was found
    for w, c in bound.items():
        if c.verdict == "lower" and mi[w].verdict == "lower":
            less = -mi[w].diff >= INFO_SHARE * -c.diff
            outcome = "closer but keeping less information" if less else "closer, giving up only a little information"
        elif c.verdict == "lower":
            outcome = "closer, keeping as much information"
        else:
            outcome = "not closer" if c.verdict == "no clear change" else "farther"
        at.setdefault(outcome, []).append(f"{w:g}")
        note = (f"; index-code mutual information {index[w].diff:+.3g} ± {index[w].se:.2g} (at most log N)"
                f"; test ELBO {elbo[w].diff:+.3g} ± {elbo[w].se:.2g}")
        note += "" if train[w].verdict == c.verdict else (f"; the training mixture's KL says {train[w].verdict} "
                                                          f"({train[w].diff:+.3g} ± {train[w].se:.2g})")
        claim.findings.append(f"latent size {w:g}: depth {c.high_x:g} against {c.low_x:g}: {outcome} (population bound "
                              f"{c.diff:+.3g} ± {c.se:.2g} nats, population information {mi[w].diff:+.3g} ± {mi[w].se:.2g}){note}")
    n = len(bound)
    same, little, less = (at.get(k, []) for k in ("closer, keeping as much information",
                                                  "closer, giving up only a little information",
                                                  "closer but keeping less information"))
    keep, less = len(same) + len(little), len(less)
    if keep > n / 2:
        claim.verdict = "holds"
    elif keep + less > n / 2:
        claim.verdict = "holds only by keeping less information"
    else:
        claim.verdict = "does not hold"
    where = lambda sizes: f"{len(sizes)} ({', '.join(sizes)})" if sizes else "0"  # noqa: E731
    claim.reason = (f"of {n} latent sizes, the deepest encoder is closer to N(0,I) on the held-out bound while keeping "
                    f"as much information in {where(same)}, closer while giving up less than {INFO_SHARE:g} nat of "
                    f"information per nat gained in {where(little)}, closer mainly by keeping less information in "
                    f"{where(at.get('closer but keeping less information', []))}, and not closer in "
                    f"{where(at.get('not closer', []) + at.get('farther', []))}")
    return claim


def latent_claim(rows: list[Row]) -> Claim:
    """Claim 2: more latent dimensions bring each dimension closer to N(0,1) (KS of active units)."""
    claim = Claim("With more latent dimensions each dimension of q(z) gets closer to N(0,1)")
    measures = ("ks_mean_active", "kl_q_prior_lower_bound", "holes_heldout")
    for y in measures:
        claim.tables[y], missing = compare(rows, y, LATENT, DEPTH)
        if y == measures[0]:
            missing_ks = missing
    ks = claim.tables["ks_mean_active"]
    if not ks:
        return _undecided(claim, LATENT, missing_ks)
    verdicts = [c.verdict for c in ks.values()]
    lower, higher = verdicts.count("lower"), verdicts.count("higher")
    claim.verdict = "holds" if lower > len(verdicts) / 2 and higher == 0 else "does not hold"
    for w, c in ks.items():
        joint = claim.tables["kl_q_prior_lower_bound"].get(w)
        claim.findings.append(f"depth {w:g}: mean KS of the active dimensions {c.verdict} from latent size {c.low_x:g} "
                              f"to {c.high_x:g} ({c.diff:+.3g} ± {c.se:.2g})"
                              + (f"; the joint match (population bound) {joint.verdict} ({joint.diff:+.3g} ± {joint.se:.2g})"
                                 if joint else ""))
    claim.reason = (f"the mean KS statistic of the active dimensions is lower at the largest latent size in {lower} of "
                    f"{len(verdicts)} depths, higher in {higher}")
    return claim


# --- the question: does sampling N(0,I) hurt? ---------------------------------------------------


@dataclass
class Sampling:
    depth: float
    latent: float
    best: str  # the fitted density with the lowest mean fd
    fd: dict[str, tuple[float, float, int]]  # prior, best, aggregate -> spread over seeds
    vs_recon: dict[str, tuple[float, float, int]]

    @staticmethod
    def worse(a, b) -> bool:
        """a clearly above b (Welch, Z standard errors); needs two seeds each."""
        return a[2] >= 2 and b[2] >= 2 and a[0] - b[0] > Z * welch_se(a, b)


def sampling(rows: list[Row]) -> list[Sampling]:
    out = []
    fd = {s: by_setting(rows, f"fd.{s}") for s in ("prior", "aggregate", *FITTED)}
    recon = {s: by_setting(rows, f"fd_vs_recon.{s}") for s in ("prior", "aggregate", *FITTED)}
    for key in fd["prior"]:
        fitted = [s for s in FITTED if key in fd[s]]
        if not fitted:
            continue
        best = min(fitted, key=lambda s: mean(fd[s][key]))
        pick = {"prior": "prior", "best": best, "aggregate": "aggregate"}
        out.append(Sampling(*key, best, {k: spread(fd[s][key]) for k, s in pick.items() if key in fd[s]},
                            {k: spread(recon[s][key]) for k, s in pick.items() if key in recon[s]}))
    return out


def sampling_answers(results: list[Sampling]) -> dict[float, str]:
    """One sentence per latent size."""
    answers = {}
    for latent in sorted({s.latent for s in results}):
        here = [s for s in results if s.latent == latent]
        hurt = sum(Sampling.worse(s.fd["prior"], s.fd["best"]) for s in here)
        hurt_recon = sum(Sampling.worse(s.vs_recon["prior"], s.vs_recon["best"]) for s in here)
        avg = lambda d, k: mean(s.__dict__[d][k][0] for s in here)  # noqa: E731
        if hurt_recon == len(here):
            verdict = "yes"
        elif hurt_recon == 0:
            verdict = "no clear harm"
        else:
            verdict = "at some depths"
        answers[latent] = (f"{verdict}: N(0,I) is clearly worse than the best fitted density at {hurt_recon} of {len(here)} "
                           f"depths with the decoder held fixed (fd to the reconstructions {avg('vs_recon', 'prior'):.3g} "
                           f"against {avg('vs_recon', 'best'):.3g}; replaying q {avg('vs_recon', 'aggregate'):.3g}) and at "
                           f"{hurt} of {len(here)} against real digits (fd {avg('fd', 'prior'):.3g} against "
                           f"{avg('fd', 'best'):.3g}; replay {avg('fd', 'aggregate'):.3g}), means over depths")
    return answers


def sampling_on_slice(results: list[Sampling], longer: list[Row]) -> dict[str, tuple[int, int]]:
    """Does N(0,I) stay worse than the grid's best fitted density at twice the epochs? Per
    measure (fd, fd_vs_recon): (slice runs where it is, slice runs compared)."""
    best = {(s.depth, s.latent): s.best for s in results}
    out = {}
    for prefix in ("fd", "fd_vs_recon"):
        pairs = [(r.metrics.get(f"{prefix}.prior"), r.metrics.get(f"{prefix}.{best[(r.x(DEPTH), r.x(LATENT))]}"))
                 for r in longer if (r.x(DEPTH), r.x(LATENT)) in best]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        out[prefix] = (sum(a > b for a, b in pairs), len(pairs))
    return out
