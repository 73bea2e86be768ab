"""Secondary (complementary) suppression: margins must not give suppressed cells back.

Owns the choice of complementary cells. Given the primary-suppressed cells of an output table, it
suppresses further cells until, for every line of the table (see :mod:`.lines`):

1. a line holding a suppressed cell holds at least two (members or its total): no cell follows
   from subtracting the released ones from the margin;
2. when the line's total is released or known, the suppressed members taken together form a safe
   cell (enough units, and not dominated for sums/means): their sum is what the margin reveals;
3. no suppressed cell is exactly recoverable from any combination of lines (:mod:`.audit`).

Complements are chosen with the least information loss: among the non-empty interior cells that
make the line safe, one that exposes no other line if possible (a cell whose other lines already
hold suppressed cells avoids a cascade), then the smallest (fewest units, then smallest
magnitude); a total is suppressed only when no interior cell is left. The process repeats to a
fixed point. Empty cells are never used as complements (their value is easily guessed). This
module must not run primary checks or look at earlier releases.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from countyos.errors import InvalidInputError
from countyos.lab.disclosure.audit import recoverable_cells
from countyos.lab.disclosure.cells import CellStats, OutputTable, sort_key
from countyos.lab.disclosure.lines import Line, lines_by_cell, table_lines
from countyos.lab.disclosure.primary import fails_nk, fails_p_percent
from countyos.lab.disclosure.rules import DOMINANCE_STATISTICS, DisclosureRules


@dataclass(frozen=True)
class SuppressionResult:
    """The suppression pattern of one table.

    Attributes:
        suppressed: every withheld cell (primary and complementary).
        complementary: the cells withheld only to protect others.
        unprotectable: suppressed cells that stay exposed because their line had no cell left to
            suppress (e.g. a whole line below the threshold whose total is public). A steward
            must look at these.
    """

    suppressed: frozenset[tuple]
    complementary: frozenset[tuple]
    unprotectable: frozenset[tuple]


def complementary_suppression(
    table: OutputTable, primary: Iterable[tuple], rules: DisclosureRules
) -> SuppressionResult:
    """Choose complementary cells so that no suppressed cell can be recovered.

    Args:
        table: the output table (cells, margins, ``margins_known``).
        primary: keys of the cells that failed a primary check.
        rules: the risk appetite (threshold and dominance parameters for rule 2).

    Returns:
        The full suppression pattern.

    Raises:
        InvalidInputError: a primary key that is not a cell of the table.
    """
    primary_keys = set(primary)
    for key in primary_keys:
        if not table.has(key):
            raise InvalidInputError(
                "a suppressed cell is not in the table", details={"cell": table.describe(key)}
            )
    lines = table_lines(table)
    index = lines_by_cell(lines)
    state = _State(table, rules, lines, index, set(primary_keys))
    state.enqueue_cells(sorted(primary_keys, key=sort_key))
    while True:
        state.run_line_rules()
        recovered = recoverable_cells(table, state.suppressed, lines)
        recovered -= state.unprotectable
        if not recovered:
            break
        progressed = False
        touched: set[int] = set()
        for key in sorted(recovered, key=sort_key):
            line_numbers = index.get(key, [])
            if any(number in touched for number in line_numbers):
                continue  # a complement was just added next to it; audit again first
            choice = _cheapest_over_lines(state, [lines[number] for number in line_numbers])
            if choice is None:
                state.unprotectable.add(key)
                continue
            state.add(choice)
            touched.update(line_numbers)
            progressed = True
        if not progressed:
            break
    complementary = frozenset(state.suppressed - primary_keys)
    return SuppressionResult(
        frozenset(state.suppressed), complementary, frozenset(state.unprotectable)
    )


class _State:
    """Mutable working state of one suppression run."""

    def __init__(
        self,
        table: OutputTable,
        rules: DisclosureRules,
        lines: tuple[Line, ...],
        index: dict[tuple, list[int]],
        suppressed: set[tuple],
    ) -> None:
        self.table = table
        self.rules = rules
        self.lines = lines
        self.index = index
        self.suppressed = suppressed
        self.unprotectable: set[tuple] = set()
        self.queue: deque[int] = deque()
        self.queued: set[int] = set()

    def enqueue_cells(self, keys: Iterable[tuple]) -> None:
        for key in keys:
            for number in self.index.get(key, []):
                self.enqueue(number)

    def enqueue(self, number: int) -> None:
        if number not in self.queued:
            self.queued.add(number)
            self.queue.append(number)

    def add(self, key: tuple) -> None:
        self.suppressed.add(key)
        self.enqueue_cells([key])

    def run_line_rules(self) -> None:
        """Apply rules 1 and 2 to every queued line until all are safe or exhausted."""
        while self.queue:
            number = self.queue.popleft()
            self.queued.discard(number)
            line = self.lines[number]
            if line_is_safe(self.table, line, self.suppressed, self.rules):
                continue
            choice = _choose_for_line(self, line)
            if choice is None:
                self.unprotectable.update(k for k in line.all_keys if k in self.suppressed)
                continue
            self.add(choice)
            self.enqueue(number)


def line_is_safe(
    table: OutputTable,
    line: Line,
    suppressed: set[tuple] | frozenset[tuple],
    rules: DisclosureRules,
) -> bool:
    """Whether one line protects its suppressed cells (rules 1 and 2 of the module docstring)."""
    hidden = [key for key in line.members if key in suppressed]
    total_hidden = line.total is not None and line.total in suppressed
    count = len(hidden) + (1 if total_hidden else 0)
    if count == 0:
        return True
    if count == 1:
        return False
    if total_hidden:
        return True
    return group_is_safe([table.cell(key) for key in hidden], rules)


def group_is_safe(cells: list[CellStats], rules: DisclosureRules) -> bool:
    """Whether the union of disjoint cells would pass the threshold and dominance checks.

    Units contributing to several cells of one line are counted once per cell (the merged
    contributions are an approximation when cells share units).
    """
    n_entities = sum(cell.n_entities for cell in cells)
    if n_entities < rules.threshold:
        return False
    if cells[0].statistic not in DOMINANCE_STATISTICS:
        return True
    abs_total = sum(float(cell.abs_total or 0.0) for cell in cells)
    merged = sorted((value for cell in cells for value in cell.top_contributions), reverse=True)
    top = tuple(merged[: rules.contributions_needed])
    if fails_p_percent(abs_total, top, rules.p_percent):
        return False
    return not fails_nk(abs_total, top, rules.nk_n, rules.nk_k)


def _cost(cell: CellStats) -> tuple:
    magnitude = cell.abs_total if cell.abs_total is not None else abs(cell.value or 0.0)
    return (cell.n_entities, magnitude, sort_key(cell.key))


def _interior_candidates(state: _State, line: Line) -> list[CellStats]:
    cells = [state.table.cell(key) for key in line.members if key not in state.suppressed]
    return sorted((cell for cell in cells if cell.n_entities > 0), key=_cost)


def _choose_for_line(state: _State, line: Line) -> tuple | None:
    """The cell to add to an unsafe line.

    Among the interior cells that make the line safe, the one exposing the fewest other lines
    (lines of the candidate that are safe now and would not be with it), then the smallest; if
    no single cell makes the line safe, the largest (most progress); if none is left, the total.
    """
    candidates = _interior_candidates(state, line)
    fixing = []
    for cell in candidates:
        trial = state.suppressed | {cell.key}
        if line_is_safe(state.table, line, trial, state.rules):
            fixing.append((_exposures(state, cell.key, line, trial), _cost(cell), cell.key))
    if fixing:
        return min(fixing)[2]
    if candidates:
        return candidates[-1].key
    if line.total is not None and line.total not in state.suppressed:
        return line.total
    return None


def _exposures(state: _State, key: tuple, current: Line, trial: set[tuple]) -> int:
    """How many other lines of ``key`` are safe now and would be unsafe once it is suppressed."""
    count = 0
    for number in state.index.get(key, []):
        other = state.lines[number]
        if other is current:
            continue
        table, rules = state.table, state.rules
        if line_is_safe(table, other, state.suppressed, rules) and not line_is_safe(
            table, other, trial, rules
        ):
            count += 1
    return count


def _cheapest_over_lines(state: _State, lines: list[Line]) -> tuple | None:
    """The cheapest interior candidate over several lines; a total only if none exists."""
    interior = [cell for line in lines for cell in _interior_candidates(state, line)]
    if interior:
        return min(interior, key=_cost).key
    totals = [
        line.total
        for line in lines
        if line.total is not None and line.total not in state.suppressed
    ]
    return min(totals, key=sort_key) if totals else None
