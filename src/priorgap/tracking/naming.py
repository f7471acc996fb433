"""One study setting, mapped in one place to its name, its params and its key: the MLflow pipeline
row of any `dvc repro` or `dvc exp run` (tracking.run_name), each planned experiment of the study
(study/design.py) and each row of the runs file (study/runs.py) are named and keyed by it.

A name lists what the study varies and leaves out the study's usual values, so the grid's runs
read short: d2-z10-s0. Any other value shows: d2-w125-z10-b0.5-wu10-vamp100-s0-e80; -cb marks a run
measured by the converging instrument of the bound.
"""
from __future__ import annotations

from typing import NamedTuple

GRID_WIDTH = 500  # the encoder width every part of the study holds but the width part (params.yaml's)
STUDY_EPOCHS = 40  # the study's training epochs (params.yaml's 20 are the quick default)
# Which instrument measured a run, told by its params: the bound's flow stopped on a fixed step
# count until it learned to stop on the validation codes (posterior.flow.check_every) and the
# widened training mixture joined the bound. Runs of two instruments are never compared.
FIXED, CONVERGING = "fixed", "converging"
INSTRUMENT_PARAM = "posterior.flow.check_every"

# setting field -> the params.yaml key it is (prior and instrument are read from two keys each)
PARAMS = {"depth": "model.encoder.depth", "latent": "model.latent_dim", "seed": "train.seed", "epochs": "train.epochs",
          "beta": "train.beta", "warmup": "train.kl_warmup_epochs", "width": "model.encoder.width"}
PRIOR = ("model.prior.kind", "model.prior.components")


class Setting(NamedTuple):
    """What the study varies in one experiment. A tuple, so it is also the experiment's key."""

    depth: int
    latent: int
    seed: int
    epochs: int = STUDY_EPOCHS
    beta: float = 1.0
    warmup: int = 0
    prior: str = "normal"  # or vamp<K>, a VampPrior of K pseudo-inputs
    width: int = GRID_WIDTH  # the encoder's hidden units per layer
    instrument: str = FIXED

    @property
    def name(self) -> str:
        w = f"-w{self.width}" if self.width != GRID_WIDTH else ""
        b = f"-b{self.beta:g}" if self.beta != 1 else ""
        wu = f"-wu{self.warmup}" if self.warmup else ""
        p = "" if self.prior == "normal" else f"-{self.prior}"
        e = f"-e{self.epochs}" if self.epochs != STUDY_EPOCHS else ""
        i = "-cb" if self.instrument == CONVERGING else ""
        return f"d{self.depth}{w}-z{self.latent}{b}{wu}{p}-s{self.seed}{e}{i}"

    def overrides(self) -> list[str]:
        """`dvc exp run -S` values that set it on params.yaml (the instrument is the code's own)."""
        kind = "normal" if self.prior == "normal" else "vamp"
        prior = [f"{PRIOR[0]}={kind}"] + ([f"{PRIOR[1]}={self.prior[4:]}"] if kind == "vamp" else [])
        return [
            f"{PARAMS['depth']}={self.depth}",
            f"{PARAMS['width']}={self.width}",
            f"{PARAMS['latent']}={self.latent}",
            f"{PARAMS['seed']}={self.seed}",
            f"{PARAMS['epochs']}={self.epochs}",
            f"{PARAMS['beta']}={self.beta:g}",
            f"{PARAMS['warmup']}={self.warmup}",
            *prior,
        ]

    @classmethod
    def of(cls, params: dict) -> "Setting":
        """The setting of dotted params (values, or the strings MLflow and the runs file hold); a key
        that is missing takes the study's usual value (depth, latent size and seed: None)."""

        def read(field, kind):
            value = params.get(PARAMS[field])
            return None if value in (None, "") else kind(float(value)) if kind is int else kind(value)

        usual = {f: v for f, v in ((f, read(f, int if f != "beta" else float)) for f in PARAMS) if v is not None}
        kind = params.get(PRIOR[0])
        prior = "normal" if kind in (None, "", "normal") else f"{kind}{params.get(PRIOR[1])}"
        instrument = FIXED if params.get(INSTRUMENT_PARAM) in (None, "") else CONVERGING
        return cls(**{"depth": None, "latent": None, "seed": None, **usual}, prior=prior, instrument=instrument)
