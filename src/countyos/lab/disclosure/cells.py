"""The input of disclosure checks: per-cell statistics of one aggregate output table.

Owns :class:`CellStats` (what the trusted zone computed for one cell), :data:`TOTAL` (the marker
of a margin position in a cell key) and :class:`OutputTable` (the cells of one table and how they
add up). The statistics are computed elsewhere (SQL rewriting, the Python output API, or
:mod:`countyos.lab.disclosure.stats`); this module only holds and validates them. It must not
decide anything about disclosure and must not hold data rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from countyos.errors import InvalidInputError
from countyos.lab.disclosure.rules import normalise_statistic


class _Total:
    """The margin marker: a cell key holding ``TOTAL`` in a position sums over that dimension."""

    _instance: _Total | None = None

    def __new__(cls) -> _Total:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "TOTAL"

    def __reduce__(self) -> str:
        return "TOTAL"


#: Marker of a margin (total) position in a cell key, e.g. ``("M", TOTAL)`` is the row total of
#: row ``"M"`` and ``(TOTAL, TOTAL)`` the grand total.
TOTAL = _Total()


@dataclass(frozen=True)
class CellStats:
    """What the trusted zone computed for one output cell.

    Attributes:
        key: the group-by values of the cell; a :data:`TOTAL` (or the table's total label) in a
            position marks a margin over that dimension.
        statistic: ``"count"``, ``"sum"``, ``"mean"``, ``"median"``, ... (see
            :mod:`countyos.lab.disclosure.rules`).
        value: the statistic itself (never shown in reports); ``None`` when undefined.
        n_entities: distinct units (entity keys) contributing to the cell, not rows.
        abs_total: sum over units of ``|unit total|`` where a unit's total is the sum of its rows
            in the cell; needed for the dominance checks of sum/mean cells.
        top_contributions: the largest ``|unit total|`` values, descending; at least
            ``max(nk_n, 2)`` of them (fewer only when fewer units contribute).
    """

    key: tuple
    statistic: str
    value: float | None
    n_entities: int
    abs_total: float | None = None
    top_contributions: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        key = self.key
        if isinstance(key, list):
            key = tuple(key)
        if not isinstance(key, tuple) or not key:
            raise InvalidInputError("a cell key must be a non-empty tuple of group values")
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "statistic", normalise_statistic(self.statistic))
        n = self.n_entities
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidInputError(
                "n_entities of a cell must be a whole number of at least 0",
                details={"cell": _describe_key(key)},
            )
        if self.abs_total is not None and (
            not _finite_number(self.abs_total) or self.abs_total < 0
        ):
            raise InvalidInputError(
                "abs_total of a cell must be a finite number of at least 0",
                details={"cell": _describe_key(key)},
            )
        tops = tuple(float(t) for t in self.top_contributions)
        for value in tops:
            if not math.isfinite(value) or value < 0:
                raise InvalidInputError(
                    "top_contributions must be absolute (non-negative, finite) unit totals",
                    details={"cell": _describe_key(key)},
                )
        if any(later > earlier for earlier, later in zip(tops, tops[1:], strict=False)):
            raise InvalidInputError(
                "top_contributions must be sorted from largest to smallest",
                details={"cell": _describe_key(key)},
            )
        if len(tops) > n:
            raise InvalidInputError(
                "a cell cannot have more top contributions than contributing units",
                details={"cell": _describe_key(key)},
            )
        if self.abs_total is not None and tops:
            slack = 1e-9 * max(1.0, float(self.abs_total))
            if sum(tops) > float(self.abs_total) + slack:
                raise InvalidInputError(
                    "top_contributions add up to more than abs_total",
                    details={"cell": _describe_key(key)},
                )
        object.__setattr__(self, "top_contributions", tops)


@dataclass(frozen=True)
class OutputTable:
    """The cells of one aggregate output table and its additive structure.

    Cells whose key holds ``total`` in some positions are margins. A *line* is a set of cells that
    differ only in one dimension plus the margin over that dimension; the margin equals the sum of
    the line (for counts and sums; for means once counts are known). Secondary suppression makes
    every line safe.

    Attributes:
        cells: every cell of the table, including empty (zero) cells and margins. A group-by query
            returns no row for an empty group: the caller must enumerate them.
        dimensions: optional names of the key positions (for reports).
        margins_known: treat the total of every line as known even when the table does not
            publish it (the margins were or will be released elsewhere, or are public).
        total: the value marking a margin position in keys (default :data:`TOTAL`; pandas and
            ACRO use ``"All"``).
    """

    cells: tuple[CellStats, ...]
    dimensions: tuple[str, ...] = ()
    margins_known: bool = False
    total: Any = TOTAL
    _by_key: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cells = tuple(self.cells)
        if not cells:
            raise InvalidInputError("an output table needs at least one cell")
        for cell in cells:
            if not isinstance(cell, CellStats):
                raise InvalidInputError("every cell of an output table must be a CellStats")
        width = len(cells[0].key)
        statistic = cells[0].statistic
        by_key: dict[tuple, CellStats] = {}
        for cell in cells:
            if len(cell.key) != width:
                raise InvalidInputError(
                    "all cell keys of one table must have the same number of group values",
                    details={"cell": _describe_key(cell.key)},
                )
            if cell.statistic != statistic:
                raise InvalidInputError(
                    "one output table holds one statistic; check mixed statistics as separate "
                    "tables",
                    details={"statistics": sorted({c.statistic for c in cells})},
                )
            if cell.key in by_key:
                raise InvalidInputError(
                    "duplicate cell key in output table", details={"cell": _describe_key(cell.key)}
                )
            by_key[cell.key] = cell
        dims = tuple(self.dimensions)
        if dims and len(dims) != width:
            raise InvalidInputError(
                f"the table names {len(dims)} dimensions but its keys have {width} values"
            )
        if not isinstance(self.margins_known, bool):
            raise InvalidInputError("margins_known must be true or false")
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "dimensions", dims)
        object.__setattr__(self, "_by_key", by_key)

    @classmethod
    def from_cells(
        cls,
        cells: Iterable[CellStats],
        *,
        dimensions: Sequence[str] = (),
        margins_known: bool = False,
        total: Any = TOTAL,
    ) -> OutputTable:
        """Build a table from any iterable of cells (see the class attributes)."""
        return cls(tuple(cells), tuple(dimensions), margins_known, total)

    @property
    def width(self) -> int:
        """Number of dimensions (values per key)."""
        return len(self.cells[0].key)

    @property
    def statistic(self) -> str:
        """The statistic of every cell of the table."""
        return self.cells[0].statistic

    def cell(self, key: tuple) -> CellStats:
        """The cell with this key (raises ``KeyError`` when absent)."""
        return self._by_key[key]

    def has(self, key: tuple) -> bool:
        """Whether the table holds a cell with this key."""
        return key in self._by_key

    def is_margin(self, key: tuple) -> bool:
        """Whether the key has a total position."""
        return any(_is_total(part, self.total) for part in key)

    def is_total_at(self, key: tuple, position: int) -> bool:
        """Whether the key holds the total marker at ``position``."""
        return _is_total(key[position], self.total)

    def describe(self, key: tuple) -> str:
        """A readable label of a cell key (group labels only, never values)."""
        parts = []
        for index, part in enumerate(key):
            label = "ALL" if _is_total(part, self.total) else str(part)
            if self.dimensions:
                label = f"{self.dimensions[index]}={label}"
            parts.append(label)
        return "(" + ", ".join(parts) + ")"


def _is_total(part: Any, total: Any) -> bool:
    if part is TOTAL or part is total:
        return True
    try:
        return type(part) is type(total) and bool(part == total)
    except (TypeError, ValueError):
        return False


def _finite_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _describe_key(key: tuple) -> str:
    return "(" + ", ".join("ALL" if part is TOTAL else str(part) for part in key) + ")"


def sort_key(key: tuple) -> tuple:
    """A total order over cell keys of mixed label types (deterministic suppression choices)."""
    return tuple(
        (1, "", "") if part is TOTAL else (0, type(part).__name__, str(part)) for part in key
    )
