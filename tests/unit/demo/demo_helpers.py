"""Helpers of the demo tests: column access and an independent point-in-polygon test."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from countyos.demo import DemoCounty


def table(county: DemoCounty, dataset: str) -> pa.Table:
    """The Arrow table of one dataset."""
    return county.dataset(dataset).table


def column(county: DemoCounty, dataset: str, name: str) -> list:
    """One column of one dataset as a Python list."""
    return table(county, dataset).column(name).to_pylist()


def age_on(born: date, day: date) -> int:
    """Completed years of life on ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def points_in_ring(ring: list[list[float]], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Even-odd ray casting: which points (x, y) lie inside the closed ring."""
    inside = np.zeros(len(x), dtype=bool)
    for (x1, y1), (x2, y2) in zip(ring[:-1], ring[1:]):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < x_at)
    return inside
