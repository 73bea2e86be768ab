"""DP quantiles: OpenDP's quantile score and noisy-max selection over candidates.

Owns the candidate grid of a quantile, the DuckDB histogram its score is computed from, and the
OpenDP measurement that selects a candidate. The measurement is OpenDP's own chain
``make_quantile_score_candidates >> make_noisy_max`` and its privacy map is what is charged. For
speed the score step runs inside DuckDB: each bounded value is placed at the largest candidate
not above it (exactly, with the same floating-point arithmetic as the candidates), and the
score of candidate c is OpenDP's ``|(1 − α)·#{x < c} − α·#{x > c}|`` in OpenDP's own integer
form (α = num / den, probed from OpenDP itself); the noisy max then runs in OpenDP on those
scores. A unit test proves the scores equal OpenDP's transformation on the same data.

Accuracy of a quantile is stated in ranks: with 95% probability the released candidate's score
is within ``scale · ln(m / 0.05)`` of the best candidate's, i.e. it is that many rows away
from the best candidate at most. Must not read data or charge budgets.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import opendp.prelude as dp

from countyos.lab.dp.aggregates import double_literal
from countyos.lab.dp.mechanisms import calibrate_scale
from countyos.lab.dp.metadata import ColumnKind
from countyos.lab.dp.params import Accounting
from countyos.lab.dp.plan import ValueColumn

dp.enable_features("contrib")


@dataclass(frozen=True)
class CandidateGrid:
    """The values a quantile may take.

    Attributes:
        values: the candidates, increasing.
        lower: the first candidate of a regular grid.
        step: the grid step, or ``None`` for an explicit list.
    """

    values: tuple[float, ...]
    lower: float
    step: float | None


def candidates_for(value: ValueColumn, max_candidates: int) -> CandidateGrid:
    """The candidate grid of a column: declared candidates, else a grid over its bounds.

    Integer columns get every integer when the range is narrow enough, else an integer step;
    float columns get ``max_candidates`` evenly spaced values from the lower bound.
    """
    if value.candidates is not None:
        return CandidateGrid(tuple(value.candidates), value.candidates[0], None)
    lower, upper = value.lower, value.upper
    if value.kind is ColumnKind.INTEGER:
        step = float(max(1, math.ceil((upper - lower) / (max_candidates - 1))))
    else:
        step = (upper - lower) / (max_candidates - 1)
    count = int(math.floor((upper - lower) / step)) + 1
    count = max(2, min(count, max_candidates))
    return CandidateGrid(tuple(lower + float(i) * step for i in range(count)), lower, step)


def histogram_sql(bounded_cte: str, key_count: int, value_index: int, grid: CandidateGrid) -> str:
    """SQL counting bounded values per (group, candidate position, equal to candidate).

    Position p is the index of the largest candidate ≤ x (−1 when x is below all candidates).
    """
    keys = [f"__k{i}" for i in range(key_count)]
    value = f"__v{value_index}"
    prefix = "".join(f"{key}, " for key in keys)
    last = len(grid.values) - 1
    if grid.step is not None:
        lower, step = double_literal(grid.lower), double_literal(grid.step)

        def candidate(position: str) -> str:
            return f"({lower} + CAST({position} AS DOUBLE) * {step})"

        first = (
            f"least(greatest(CAST(floor(({value} - {lower}) / {step}) AS BIGINT), 0), {last})"
        )
        fixed = (
            f"least(greatest(__p0 - CASE WHEN {value} < {candidate('__p0')} THEN 1 ELSE 0 END "
            f"+ CASE WHEN __p0 < {last} AND {value} >= {candidate('__p0 + 1')} THEN 1 ELSE 0 "
            f"END, 0), {last})"
        )
        inner = (
            f"SELECT {prefix}{value}, {fixed} AS __p FROM (SELECT {prefix}{value}, {first} AS "
            f"__p0 FROM __bounded WHERE {value} IS NOT NULL)"
        )
        equal = f"({value} = {candidate('__p')})"
    else:
        literals = [double_literal(c) for c in grid.values]
        position = " + ".join(f"CASE WHEN {value} >= {c} THEN 1 ELSE 0 END" for c in literals)
        inner = (
            f"SELECT {prefix}{value}, ({position}) - 1 AS __p FROM __bounded "
            f"WHERE {value} IS NOT NULL"
        )
        equal = f"({value} IN ({', '.join(literals)}))"
    group = ", ".join([*keys, "__p", "__eq"])
    return (
        f"{bounded_cte} SELECT {prefix}__p, {equal} AS __eq, count(*) AS __n FROM ({inner}) "
        f"GROUP BY {group}"
    )


@functools.lru_cache(maxsize=256)
def alpha_fraction(alpha: float) -> tuple[int, int]:
    """OpenDP's integer form (num, den) of the quantile ``alpha``, probed from OpenDP.

    On the one-row data [0] with candidates [−1, 1], OpenDP's score is num for −1 (one row
    above) and den − num for 1 (one row below).
    """
    transformation = _score_transformation((-1.0, 1.0), alpha)
    below, above = (int(s) for s in transformation([0.0]))
    return below, below + above


def scores(
    positions: np.ndarray, equal: np.ndarray, counts: np.ndarray, candidates: int, alpha: float
) -> list[int]:
    """OpenDP's quantile scores of one group from its (position, equal, count) histogram."""
    num, den = alpha_fraction(alpha)
    at = np.zeros(candidates + 1, dtype=np.int64)  # index p + 1; p = −1 is below all
    on = np.zeros(candidates, dtype=np.int64)
    np.add.at(at, positions + 1, counts)
    hits = (positions >= 0) & equal
    np.add.at(on, positions[hits], counts[hits])
    below = np.cumsum(at)[:-1]  # #{x < c_j} = #{p < j}
    total = int(at.sum())
    above = total - below - on  # #{x > c_j}
    result = np.abs((den - num) * below.astype(object) - num * above.astype(object))
    return [int(s) for s in result]


def _score_transformation(candidates: Sequence[float], alpha: float) -> Any:
    domain = dp.vector_domain(dp.atom_domain(T=float, nan=False))
    return dp.t.make_quantile_score_candidates(
        domain, dp.symmetric_distance(), list(candidates), alpha
    )


def _measure(accounting: Accounting) -> Any:
    return dp.max_divergence() if accounting is Accounting.PURE else (
        dp.zero_concentrated_divergence()
    )


@dataclass(frozen=True)
class QuantileSelection:
    """A calibrated OpenDP quantile (score → noisy max) over one candidate grid."""

    accounting: Accounting
    grid: CandidateGrid
    alpha: float
    scale: float
    distance: int
    loss: float

    def select(self, group_scores: Sequence[int]) -> float:
        """The released candidate for one group's scores (OpenDP's noisy max, lowest score)."""
        transformation = _score_transformation(self.grid.values, self.alpha)
        selector = dp.m.make_noisy_max(
            transformation.output_domain, transformation.output_metric,
            _measure(self.accounting), scale=self.scale, negate=True,
        )
        return self.grid.values[int(selector([int(s) for s in group_scores]))]

    def rank_error(self, alpha: float = 0.05) -> float:
        """Rows between the released and the best candidate, at (1 − alpha) probability."""
        _, den = alpha_fraction(self.alpha)
        return self.scale * math.log(len(self.grid.values) / alpha) / den


def quantile_selection(
    accounting: Accounting, grid: CandidateGrid, alpha: float, max_contributions: int,
    target: float,
) -> QuantileSelection:
    """Calibrate OpenDP's quantile chain for k rows per entity and a loss share."""
    transformation = _score_transformation(grid.values, alpha)
    distance = int(max_contributions)

    def loss_at(scale: float) -> float:
        chain = transformation >> dp.m.then_noisy_max(_measure(accounting), scale=scale,
                                                      negate=True)
        return float(chain.map(distance))

    scale = calibrate_scale(loss_at, target, accounting)
    return QuantileSelection(accounting, grid, alpha, scale, distance, loss_at(scale))
