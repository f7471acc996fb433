"""The study's design as data: every experiment it needs, in the order they are worth running.

todo() lists the experiments the committed runs file does not hold yet, so
`make study` (runner.py) resumes where an earlier session, or another machine, stopped: the runs
file and reports/runs/ are the study's memory, not the MLflow store of one machine.
`python -m priorgap.execution.runner --list` prints them.

Parts (reports/study.md says what each one settles), each a claim of the thread:
- grid:   encoder depth 1, 2, 3 x latent size 2, 10, 50 x seeds 0, 1, 2 at width 500, first the
          asker's own contrast (depth 2 against 3 at latent size 2) with seeds 0-4: depth at beta 1
          and the latent trend, per dimension and jointly
- width:  widths 125, 250, 1000 at depth 2 (width 250 at latent size 10 only), latent sizes 2, 10,
          50, seeds 0, 1; and the corners depth 1 and 3 at width 125, latent size 10: "wide enough
          *and* deep enough", against the grid's width 500
- rate:   depth 1 and 3 at latent sizes 10 and 50, beta 0.5 and 2, seeds 0 and 1; widths 125,
          500, 1000 at depth 2, latent size 10, seed 0: with the beta = 1 runs, each encoder's
          curve on the rate-distortion plane (Alemi et al. 2018), compared at the same rate
- warmup: depth 1 and 3 at latent size 10 with the KL weight ramped from 0 over WARMUP epochs,
          seeds 0 and 1: are depth 3's lost units an optimisation accident? (and a depth test at
          matched rate and units)
- vamp:   a VampPrior (params.yaml's K) at depth 2, latent sizes 2, 10, 50, seeds 0, 1, 2, against
          the grid's N(0,I) runs of the same setting and their fitted densities
- slice:  at twice the epochs: the matched-rate fit (depth 1 and 3 at latent size 10, beta 0.5, 1,
          2) and the asker's contrast (depth 2 and 3 at latent size 2), seed 0: does training
          longer change a verdict?
Then more seeds where a row of the answer sits near its threshold, each in the part it belongs
to: the VampPrior's likelihood (seeds 3, 4 of both models at latent size 10 and of the VampPrior at
50), the width cell of the rate-distortion fit (seed 1 at beta 0.5 and 2, widths 125 and 1000).
Every run above was measured by the fixed-step instrument (runs.FIXED). Six more seeds were
planned (the VampPrior's 3, 4 at latent size 2; the asker's 5, 6) and dropped unrun when that
instrument was retired: measured by today's, they could not join their rows without mixing
instruments, and neither row was close to closing (docs/experiments.md).
- decision: measured by the converging instrument (runs.CONVERGING) alone: depth 1 against 3 with
          the KL warm-up, at equal rate and (at latent size 10) equal active units, seeds 0-4 at
          latent size 10, then seeds 0-1 at 50 (compared per active unit: the warm-up leaves the
          depths unequal units there): does a deeper encoder bring q itself closer, or only the
          bound? Seeds 2-4 at 50 were cut: the issue's 10 hours of new runs were spent by the
          latent-10 arm and the known answers, and a latent-50 run costs over an hour a worker.
What was cut to fit about 8 hours of a 2-core machine, and what each cut costs the answer, is in
docs/experiments.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import PriorgapError
from ..tracking.naming import STUDY_EPOCHS, Setting
from . import runs
from .runs import CONVERGING, GRID_WIDTH

EPOCHS = STUDY_EPOCHS
WARMUP = 10  # epochs of the KL warm-up arm
LATENTS = (2, 10, 50)
SEEDS = (0, 1, 2)
ASKER_SEEDS = (0, 1, 2, 3, 4)  # the thread's own contrast sits near its threshold: five seeds
MORE_SEEDS = (3, 4)  # the VampPrior's likelihood: three seeds left it unresolved at every latent size
WIDTHS = (125, 250, 1000)  # beside the grid's runs.GRID_WIDTH
DECISION_SEEDS = {10: (0, 1, 2, 3, 4), 50: (0, 1)}  # latent size -> seeds; 50 cut by the budget (below)
PARTS = ("grid", "width", "rate", "warmup", "vamp", "slice", "decision")


@dataclass(frozen=True)
class Experiment:
    """What a worker runs: `dvc exp run -n NAME -S OVERRIDE ...` (execution/worker.py)."""

    name: str
    overrides: tuple[str, ...]  # dvc exp run -S values: "model.latent_dim=10"


@dataclass(frozen=True)
class Planned:
    """A planned experiment: the part of the design it answers, and its setting (naming.Setting:
    its name, its overrides and its key), whose fields it reads as its own (p.depth, p.latent)."""

    part: str
    key: Setting  # what identifies it in the runs file (runs.Row.key)

    def __getattr__(self, field: str):
        if field.startswith("__") or field == "key":  # not set yet (unpickling, copying): no setting to ask
            raise AttributeError(field)
        return getattr(self.key, field)

    def experiment(self) -> Experiment:
        return Experiment(self.name, tuple(self.key.overrides()))


def plan(part: str, depth: int, latent: int, seed: int, **settings) -> Planned:
    """plan("rate", 1, 10, 0, beta=0.5): the setting's other fields keep the study's usual values."""
    return Planned(part, Setting(depth, latent, seed, **settings))


def design(components: int = 100) -> list[Planned]:
    """components: the VampPrior's K (params.yaml's model.prior.components). In the order worth
    running: a study stopped part way has answered the claims it reached."""
    runs = [plan("grid", d, 2, s) for s in ASKER_SEEDS for d in (2, 3)]
    runs += [plan("grid", d, z, s) for s in SEEDS for z in LATENTS for d in (1, 2, 3) if z != 2 or d == 1]
    runs += [plan("width", 2, z, s, width=w) for s in (0, 1) for z in LATENTS for w in WIDTHS if w != 250 or z == 10]
    runs += [plan("width", d, 10, s, width=WIDTHS[0]) for s in (0, 1) for d in (1, 3)]
    pairs = [(d, z) for z in (10, 50) for d in (1, 3)]
    runs += [plan("rate", d, z, s, beta=b) for s in (0, 1) for b in (0.5, 2.0) for d, z in pairs]
    runs += [plan("rate", 2, 10, 0, beta=b, width=w) for b in (0.5, 2.0) for w in (*WIDTHS[::2], GRID_WIDTH)]
    runs += [plan("warmup", d, 10, s, warmup=WARMUP) for s in (0, 1) for d in (1, 3)]
    runs += [plan("vamp", 2, z, s, prior=f"vamp{components}") for s in SEEDS for z in LATENTS]
    # beta 1 first: alone, that pair already repeats the grid's depth comparisons at twice the
    # epochs; the matched-rate fit needs all three betas
    runs += [plan("slice", d, 10, 0, epochs=2 * EPOCHS, beta=b) for b in (1.0, 0.5, 2.0) for d in (1, 3)]
    runs += [plan("slice", d, 2, 0, epochs=2 * EPOCHS) for d in (2, 3)]
    # more seeds where the first pass left a row near its threshold, most telling first: the
    # VampPrior's likelihood at latent size 10 (its side, then N(0,I)'s, whose three seeds then
    # bound the interval), the width cell, the VampPrior at 50, then at 2, the asker's contrast
    runs += [plan("vamp", 2, 10, s, prior=f"vamp{components}") for s in MORE_SEEDS]
    runs += [plan("rate", 2, 10, 1, beta=b, width=w) for w in WIDTHS[::2] for b in (0.5, 2.0)]
    runs += [plan("grid", 2, 10, s) for s in MORE_SEEDS]
    runs += [plan("vamp", 2, 50, s, prior=f"vamp{components}") for s in MORE_SEEDS]
    # the decision: seeds side by side, so a study stopped part way has pairs to compare
    runs += [plan("decision", d, z, s, warmup=WARMUP, instrument=CONVERGING)
             for z, seeds in DECISION_SEEDS.items() for s in seeds for d in (1, 3)]
    return runs


def missing(planned: list[Planned], done: set[tuple]) -> list[Planned]:
    return [p for p in planned if p.key not in done]


def todo(parts: str, csv: Path) -> list[Planned]:
    """The planned experiments of these parts (comma-separated) that the runs file lacks (the runner
    writes a run's record before its row, so a row in the file has its record)."""
    from ..config import schema
    from ..latent import densities  # noqa: F401  (every density's params section, for load_all)
    from . import runs_file

    chosen = parts.split(",")
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        raise PriorgapError(f"unknown study part {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    components = schema.load(Path("params.yaml"), "model").prior.components
    planned = [p for p in design(components) if p.part in chosen]
    kept = runs_file.read(csv) if csv.is_file() else []
    left = missing(planned, {r.key for r in kept})
    # this code measures with one instrument: a run planned for the other would land under a key
    # the plan does not hold (and be run again on every call)
    current = runs.Row("params.yaml", schema.load_all(Path("params.yaml")), {}).instrument
    other = [p.name for p in left if p.instrument != current]
    if other:
        raise PriorgapError(
            f"{len(other)} planned runs ({', '.join(other[:4])}{', ...' if len(other) > 4 else ''}) are "
            f"for the {'fixed-step' if current == CONVERGING else 'converging'} instrument, which this "
            "code does not measure with; run the parts this code measures (decision)"
        )
    print(f"plan: {len(planned) - len(left)} of {len(planned)} planned experiments are in {csv}; {len(left)} to run")
    return left
