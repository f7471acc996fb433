"""The study's design as data: every experiment it needs, in the order they are worth running.

todo() lists the experiments the committed runs file does not hold yet, so `make study` (runner.py)
resumes where an earlier session, or another machine, stopped: the runs file is the study's memory,
not the MLflow store of one machine. `python -m priorgap.study.runner --list` prints them.

Parts (reports/study.md says what each one settles):
- grid:   encoder depth 1, 2, 3 x latent size 2, 5, 10, 20, 50 x seeds 0, 1, 2 (the latent trend,
          and depth at beta = 1)
- vamp:   a VampPrior (params.yaml's K) at depth 2, latent sizes 2, 10, 50, seeds 0, 1, 2, against
          the grid's N(0,I) runs of the same setting
- rate:   depth 1 and 3 at latent sizes 10 and 50, beta 0.5 and 2, seeds 0 and 1: with the grid's
          beta = 1 runs, each depth's curve on the rate-distortion plane (Alemi et al. 2018)
- warmup: the same depths and sizes with the KL weight ramped from 0 over WARMUP epochs, seeds
          0 and 1: are depth 3's lost units an optimisation accident?
- slice:  depth 1 and 3 at latent sizes 2, 10 and 50, seed 0, at twice the epochs: the
          convergence test (does each verdict still point the same way?)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import PriorgapError
from .runs import Key
from .worker import Experiment

EPOCHS = 40  # the study's training epochs (params.yaml's 20 are the quick default)
WARMUP = 10  # epochs of the KL warm-up arm
LATENTS = (2, 5, 10, 20, 50)
SEEDS = (0, 1, 2)
PARTS = ("grid", "vamp", "rate", "warmup", "slice")


@dataclass(frozen=True)
class Planned:
    part: str
    depth: int
    latent: int
    seed: int
    epochs: int = EPOCHS
    beta: float = 1.0
    warmup: int = 0
    prior: str = "normal"  # or vamp<K>, as runs.Row.prior names it

    @property
    def name(self) -> str:
        """The experiment's (and MLflow row's) name: d1-z10-b0.5-s0, d3-z50-wu10-s1, d2-z10-vamp100-s2,
        d1-z2-s0-e80."""
        beta = f"-b{self.beta:g}" if self.beta != 1 else ""
        warm = f"-wu{self.warmup}" if self.warmup else ""
        prior = "" if self.prior == "normal" else f"-{self.prior}"
        longer = f"-e{self.epochs}" if self.epochs != EPOCHS else ""
        return f"d{self.depth}-z{self.latent}{beta}{warm}{prior}-s{self.seed}{longer}"

    @property
    def key(self) -> Key:
        """What identifies the run in the runs file (runs.Row.key)."""
        return Key(self.depth, self.latent, self.seed, self.epochs, self.beta, self.warmup, self.prior)

    def experiment(self) -> Experiment:
        return Experiment(self.name, tuple(self.overrides()))

    def overrides(self) -> list[str]:
        kind = "normal" if self.prior == "normal" else "vamp"
        prior = [f"model.prior.kind={kind}"] + ([f"model.prior.components={self.prior[4:]}"] if kind == "vamp" else [])
        return [f"model.encoder.depth={self.depth}", f"model.latent_dim={self.latent}", f"train.seed={self.seed}",
                f"train.epochs={self.epochs}", f"train.beta={self.beta:g}", f"train.kl_warmup_epochs={self.warmup}", *prior]


def design(components: int = 100) -> list[Planned]:
    """components: the VampPrior's K (params.yaml's model.prior.components)."""
    runs = [Planned("grid", d, z, s) for s in SEEDS for z in LATENTS for d in (1, 2, 3)]
    runs += [Planned("vamp", 2, z, s, prior=f"vamp{components}") for s in SEEDS for z in (2, 10, 50)]
    pairs = [(d, z) for z in (10, 50) for d in (1, 3)]
    runs += [Planned("rate", d, z, s, beta=b) for s in (0, 1) for b in (0.5, 2.0) for d, z in pairs]
    runs += [Planned("warmup", d, z, s, warmup=WARMUP) for s in (0, 1) for d, z in pairs]
    runs += [Planned("slice", d, z, 0, epochs=2 * EPOCHS) for z in (2, 10, 50) for d in (1, 3)]
    return runs


def missing(planned: list[Planned], done: set[tuple]) -> list[Planned]:
    return [p for p in planned if p.key not in done]


def todo(parts: str, csv: Path) -> list[Planned]:
    """The planned experiments of these parts (comma-separated) that the runs file lacks."""
    from ..common import config
    from . import table

    chosen = parts.split(",")
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        raise PriorgapError(f"unknown study part {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    components = config.load(Path("params.yaml"), "model").prior.components
    planned = [p for p in design(components) if p.part in chosen]
    left = missing(planned, {r.key for r in table.read(csv)} if csv.is_file() else set())
    print(f"plan: {len(planned) - len(left)} of {len(planned)} planned experiments are in {csv}; {len(left)} to run")
    return left
