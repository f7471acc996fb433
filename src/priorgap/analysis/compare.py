"""A comparison a verdict rests on: one measure between two groups of runs that differ in one
setting, and the same comparison repeated on the slice (twice the epochs, seed 0).

Every section of the report builds its verdicts from these, so each can say how many comparisons
it rests on, and the slice can judge each one the same way (report.py, "Long enough").
"""
from __future__ import annotations

from dataclasses import dataclass

from ..study import runs
from .stats import Direction
from . import stats


@dataclass
class Compared:
    question: str  # the verdict it serves ("claim 1", ...)
    within: str  # where it is made ("latent size 10")
    measure: str
    low: dict  # the settings (naming.Setting fields) of each side; high minus low is the difference
    high: dict
    diff: stats.Diff
    sd: tuple[float, float]  # seed sd of each side (the slice's one-run difference varies by both)

    @property
    def verdict(self) -> str:
        return self.diff.verdict


def between(rows: list[runs.Row], question: str, within: str, measure: str, low: dict, high: dict) -> Compared:
    a, b = runs.values(runs.where(rows, **low), measure), runs.values(runs.where(rows, **high), measure)
    return Compared(question, within, measure, low, high, stats.welch(a, b),
                    (stats.spread(a)[1] if a else 0.0, stats.spread(b)[1] if b else 0.0))


@dataclass
class OnSlice:
    compared: Compared
    longer: float  # high minus low at twice the epochs, one seed a side

    @property
    def same_way(self) -> bool:
        """A clear difference keeps its sign; "no clear change" stays inside the prediction interval."""
        v = self.compared.verdict
        if v == Direction.LOWER:
            return self.longer < 0
        if v == Direction.HIGHER:
            return self.longer > 0
        return self.predicted

    @property
    def predicted(self) -> bool:
        """Inside the 95% prediction interval of the grid's difference: the figure did not move
        with training beyond what the seeds explain (the test that can fail)."""
        return stats.predicts(self.compared.diff, *self.compared.sd, self.longer)


def on_slice(compared: Compared, slice_rows: list[runs.Row], epochs: int) -> OnSlice | None:
    def one(side: dict):
        found = runs.values(runs.where(slice_rows, **{**side, "epochs": 2 * epochs}), compared.measure)
        return found[0] if len(found) == 1 else None

    a, b = one(compared.low), one(compared.high)
    return None if a is None or b is None or not compared.diff.decided else OnSlice(compared, b - a)
