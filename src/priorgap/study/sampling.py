"""The question: does sampling N(0,I) hurt? N(0,I) against the best fitted density of each setting,
on the Frechet distance to real digits and to the reconstructions (the decoder held fixed).
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import mean

from .runs import DEPTH, LATENT, Row, by_setting
from .stats import direction, spread, welch_se
from .summary import FITTED  # the fitted densities: one list for the row and the study


@dataclass
class Sampling:
    depth: float
    latent: float
    best: str  # the fitted density with the highest mean validation gain
    fd: dict[str, tuple[float, float, int]]  # prior, best, aggregate -> spread over seeds
    vs_recon: dict[str, tuple[float, float, int]]

    @staticmethod
    def worse(a, b) -> bool:
        """a clearly above b (Welch, Z standard errors); needs two seeds each."""
        return a[2] >= 2 and b[2] >= 2 and direction(a[0] - b[0], welch_se(a, b)) == "higher"


def sampling(rows: list[Row]) -> list[Sampling]:
    out = []
    fd = {s: by_setting(rows, f"fd.{s}") for s in ("prior", "aggregate", *FITTED)}
    recon = {s: by_setting(rows, f"fd_vs_recon.{s}") for s in ("prior", "aggregate", *FITTED)}
    val = {s: by_setting(rows, f"val_gain.{s}") for s in FITTED}
    for key in fd["prior"]:
        fitted = [s for s in FITTED if key in fd[s] and key in val[s]]
        if not fitted:  # runs from before the validation codes have no choice to report
            continue
        # chosen on the validation codes, never on the fd it is then compared by
        best = max(fitted, key=lambda s: mean(val[s][key]))
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
