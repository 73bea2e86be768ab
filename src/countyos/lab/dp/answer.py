"""The released DP answer: values, their 95% accuracy, what was spent and how.

Owns ``DPAnswer`` and ``ValueAccuracy``, the only shapes in which DP results leave the package
(the API and the CLI serialise them with ``to_dict``). An answer holds noisy values only; the
exact aggregates never reach it. Must not compute anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from countyos.lab.dp.mechanisms import MechanismRecord
from countyos.lab.dp.params import PrivacyCost


@dataclass(frozen=True)
class ValueAccuracy:
    """The accuracy of one released value.

    Attributes:
        kind: ``interval``: the exact bounded aggregate lies in [lower, upper] with probability
            at least ``confidence`` over the noise; ``rank``: a quantile, whose released
            candidate is at most ``rank_error`` rows away from the best candidate with that
            probability.
        lower: interval lower end (``interval``).
        upper: interval upper end (``interval``).
        half_width: the noise's ± at ``confidence`` (``interval``).
        rank_error: rows (``rank``).
        confidence: 0.95 by default.
    """

    kind: str
    lower: float | None = None
    upper: float | None = None
    half_width: float | None = None
    rank_error: float | None = None
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in dataclasses.asdict(self).items()
                if value is not None}


@dataclass(frozen=True)
class DPAnswer:
    """A differentially private answer.

    Attributes:
        columns: output column names, in SELECT order.
        rows: the released rows (group keys as declared or selected; noisy aggregates).
        accuracy: per row, per column: ``ValueAccuracy`` for aggregates, ``None`` for keys.
        cost: what was charged to each dataset's budget.
        mechanisms: the OpenDP mechanisms that produced the answer.
        query_key: the cache key (repeats return this answer without a new charge).
        sql: the normalised query.
        max_contributions: k, rows kept per entity.
        key_origins: per GROUP BY key, where its values came from.
        from_cache: whether this is a stored answer returned again (no new charge).
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    accuracy: tuple[tuple[ValueAccuracy | None, ...], ...]
    cost: PrivacyCost
    mechanisms: tuple[MechanismRecord, ...]
    query_key: str
    sql: str
    max_contributions: int
    key_origins: tuple[str, ...] = ()
    from_cache: bool = False

    def as_repeat(self) -> DPAnswer:
        """This answer marked as returned again from the store."""
        return dataclasses.replace(self, from_cache=True)

    def column(self, name: str) -> list[Any]:
        """The values of one output column."""
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def accuracy_of(self, name: str) -> list[ValueAccuracy | None]:
        """The accuracy of one output column's values."""
        index = self.columns.index(name)
        return [row[index] for row in self.accuracy]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form for the API, the CLI and the audit trail."""
        return {
            "columns": list(self.columns),
            "rows": [list(row) for row in self.rows],
            "accuracy": [
                [cell.to_dict() if cell is not None else None for cell in row]
                for row in self.accuracy
            ],
            "cost": self.cost.to_dict(),
            "mechanisms": [record.to_dict() for record in self.mechanisms],
            "query_key": self.query_key,
            "sql": self.sql,
            "max_contributions": self.max_contributions,
            "key_origins": list(self.key_origins),
            "from_cache": self.from_cache,
        }
