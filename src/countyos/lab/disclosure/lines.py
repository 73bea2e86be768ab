"""The additive structure of an output table: its lines (margin = sum of the line's cells).

Owns how lines are found from cell keys, for tables of any number of dimensions with full,
partial or no margins. A line groups the cells that differ only in one key position; its total
is the cell holding the table's total marker at that position. When the table does not publish
that total, the line is still a constraint if ``margins_known`` (the total is public anyway), with
a *virtual* total that is known and can never be suppressed. This module must not decide what to
suppress.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from countyos.lab.disclosure.cells import OutputTable, sort_key


@dataclass(frozen=True)
class Line:
    """One additive constraint: ``sum(members) == total``.

    Attributes:
        dimension: the key position the members differ in.
        members: keys of the cells summed (not margins at ``dimension``), in a stable order.
        total: key of the total cell; ``None`` when the total is virtual (known but not in the
            table).
    """

    dimension: int
    members: tuple[tuple, ...]
    total: tuple | None

    @property
    def all_keys(self) -> tuple[tuple, ...]:
        """Members and the real total (if any)."""
        return self.members + ((self.total,) if self.total is not None else ())


def table_lines(table: OutputTable) -> tuple[Line, ...]:
    """Every line of the table that constrains its cells.

    A group of cells differing only at one position forms a line when its total is in the table
    or ``table.margins_known`` is set. Groups with a single member and a known total are lines
    too (the member equals the total).

    Args:
        table: the output table.

    Returns:
        The lines, in a deterministic order.
    """
    lines: list[Line] = []
    for position in range(table.width):
        groups: dict[tuple, list[tuple]] = defaultdict(list)
        totals: dict[tuple, tuple] = {}
        for cell in table.cells:
            key = cell.key
            rest = key[:position] + key[position + 1 :]
            if table.is_total_at(key, position):
                totals[rest] = key
            else:
                groups[rest].append(key)
        for rest in sorted(groups, key=sort_key):
            members = tuple(sorted(groups[rest], key=sort_key))
            total = totals.get(rest)
            if total is None and not table.margins_known:
                continue
            lines.append(Line(position, members, total))
    return tuple(lines)


def lines_by_cell(lines: tuple[Line, ...]) -> dict[tuple, list[int]]:
    """Index from cell key to the positions (in ``lines``) of the lines it belongs to."""
    index: dict[tuple, list[int]] = defaultdict(list)
    for number, line in enumerate(lines):
        for key in line.all_keys:
            index[key].append(number)
    return dict(index)
