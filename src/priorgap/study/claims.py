"""The study's claims about q, each judged on the grid's converged rows.

Comparisons: "Y is lower at the largest X than at the smallest", within each value of a third
param (stats.compare). With none decidable a claim cannot be decided.

Claim 1 asks whether a deeper encoder gets closer "while keeping as much information". The logged
mutual_info is the index-code information of the training mixture, avg_kl - KL(q_train || p): it
cannot exceed log N and sits within 0.2 nats of it from latent size ~10 up, whatever the encoder
keeps, so it cannot answer there. ELBO surgery on the population instead, average KL =
I_pop(x; z) + KL(q_pop || p), gives POPULATION_INFO = avg_kl - kl_q_prior_lower_bound: not capped,
and (the bound being a lower bound) an upper estimate of I_pop whose slack is the bound's, the same
for both sides of a comparison to first order. The information given up counts as the reason q
got closer when it is at least INFO_SHARE of the distance closed (both in nats of one budget).

Claim 2 asks whether more latent dimensions bring each dimension closer to N(0,1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .runs import DEPTH, LATENT, POPULATION_INFO, Row
from .stats import Z, Comparison, compare, spread

INFO_SHARE = 0.5  # a loss of population information explains a closer q when >= this share of the gain


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
