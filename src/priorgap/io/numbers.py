"""How a figure is written for a reader: one formatter for the report, the summary page and verify."""
from __future__ import annotations


def fmt(value, digits: int = 4, missing: str = "n/a") -> str:
    """`digits` significant digits (%g); `missing` for a figure a stage left null."""
    return missing if value is None else f"{value:.{digits}g}"
