"""The outcome of a checked query: the developer's table, the reports, and what to record.

Owns :class:`CheckedResult`, the joint decision over the aggregate columns of one query and the
developer-facing table. Joint decision: a cell withheld in one aggregate column is withheld in
all of them (``SUM``, ``AVG`` and ``COUNT`` of one cell give each other back), with one common
complementary pattern (see :func:`joint_reports`). Cells holding a rare group value are withheld
everywhere and left out of the table.

The developer's table has the SELECT columns in order (margins show NULL keys, as SQL's ROLLUP
does), withheld values as NULL, and one ``<column>_status`` column per aggregate: ``ok`` or
``suppressed`` for a run on real data, or the reason code (``threshold``, ``dominance_p``, …)
when ``explain`` is set for a pre-flight run on synthetic twins. Reasons of a real run belong to
the steward's review: they tell, e.g., that a cell is empty. This module must not run queries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import InvalidInputError
from countyos.lab.checked_sql.cells import Cell
from countyos.lab.checked_sql.plan import CheckedPlan
from countyos.lab.checked_sql.rewrite import Layout, key_column
from countyos.lab.checked_sql.wrappers import apply_wrapper
from countyos.lab.disclosure import (
    TOTAL,
    CellOutcome,
    CellStatus,
    DisclosureReport,
    DisclosureRules,
    OutputTable,
    ReleasedCellStore,
    complementary_suppression,
    record_deferred,
    record_release,
)
from countyos.lab.disclosure.messages import reason_texts


def _linked_reason(columns: Sequence[str]) -> tuple[str, str]:
    names = ", ".join(columns)
    return (
        f"Withheld because the same cell is withheld in another column of this query ({names}): "
        "released together, the columns would give that value back.",
        f"因本查询其他列（{names}）的同一单元格被抑制而一并抑制，否则可由各列相互推算出该值。",
    )


def _hidden_reason(threshold: int) -> tuple[str, str]:
    return (
        f"A group value of this cell occurs for fewer than {threshold} units: the cell is "
        "withheld and left out of the result.",
        f"该单元格的某个分组取值对应的单位少于{threshold}个：单元格被抑制，且不在结果中列出。",
    )


def joint_reports(
    tables: Mapping[str, OutputTable],
    reports: Mapping[str, DisclosureReport],
    hidden: frozenset[tuple],
    rules: DisclosureRules,
) -> dict[str, DisclosureReport]:
    """One suppression pattern for all aggregate columns of a query.

    The cells failing a primary check in any column (or holding a rare group value) are
    withheld in every column; complementary cells are then chosen for every column's table
    from that common set, and the union is repeated until no table needs more (a superset of a
    safe pattern stays safe, so the fixed point is safe for every column).

    Args:
        tables: the checked table of each aggregate column.
        reports: the report of each column from ``check_table`` (primary outcomes).
        hidden: keys of the cells holding a rare group value.
        rules: the rules applied.

    Returns:
        The reports with the common pattern; cells withheld for another column or for a rare
        group value say so.
    """
    primary_of: dict[str, dict[tuple, CellOutcome]] = {
        column: {o.key: o for o in report.cells if o.failed_checks}
        for column, report in reports.items()
    }
    failing_in: dict[tuple, list[str]] = {}
    for column, failed in primary_of.items():
        for key in failed:
            failing_in.setdefault(key, []).append(column)
    withheld = set(failing_in) | set(hidden)
    unprotectable: dict[str, frozenset[tuple]] = {}
    while True:
        grown = set(withheld)
        for column, table in tables.items():
            pattern = complementary_suppression(table, withheld, rules)
            grown |= pattern.suppressed
            unprotectable[column] = pattern.unprotectable
        if grown == withheld:
            break
        withheld = grown
    result = {}
    for column, report in reports.items():
        outcomes = []
        for outcome in report.cells:
            key = outcome.key
            own = primary_of[column].get(key)
            if own is not None:
                outcome = own
                if key in hidden:
                    english, chinese = _hidden_reason(rules.threshold)
                    outcome = replace(
                        outcome,
                        reason_en=f"{outcome.reason_en} {english}",
                        reason_zh=f"{outcome.reason_zh}{chinese}",
                    )
            elif key in withheld:
                if key in hidden:
                    english, chinese = _hidden_reason(rules.threshold)
                elif key in failing_in:
                    english, chinese = _linked_reason(failing_in[key])
                else:
                    english, chinese = reason_texts(CellStatus.COMPLEMENTARY, rules)
                outcome = replace(
                    outcome, status=CellStatus.COMPLEMENTARY, failed_checks=(), released=False,
                    reason_en=english, reason_zh=chinese,
                )
            else:
                english, chinese = reason_texts(CellStatus.OK, rules)
                outcome = replace(
                    outcome, status=CellStatus.OK, failed_checks=(), released=True,
                    reason_en=english, reason_zh=chinese,
                ) if not outcome.released else outcome
            outcomes.append(outcome)
        exposed = tuple(c.key for c in tables[column].cells if c.key in unprotectable[column])
        result[column] = DisclosureReport(
            report.table_id, report.statistic, report.rules, tuple(outcomes), exposed
        )
    return result


@dataclass(frozen=True)
class CheckedResult:
    """What a checked run produced.

    Attributes:
        table: the developer-facing result (see the module docstring); cells holding rare
            group values are left out.
        reports: the disclosure report of every aggregate output column, by column name.
            Their cell labels name every group value, rare ones included: for the steward, and
            for the developer only on pre-flight runs over synthetic twins.
        output_tables: the checked cells of every aggregate column (for ``record``).
        entity_sets: entity set per cell key of every aggregate column, kept inside the
            domain; ``None`` when the run did not compute them.
        sql_rewritten: the SQL the engine ran, with the entity hash key replaced by a placeholder
            (the key is as secret as the installation's hashing key).
        hidden_cells: how many cells were left out for rare group values (for the steward: it
            tells how many rare values there are).
        per_entity: whether rows were added up per unit (``False``: registers fast path).
        explain: whether the status columns carry reason codes (pre-flight).
        recorded_columns: the columns whose cells ``record`` stores: one per family of
            aggregates over the same units (``SUM(x)`` and ``AVG(x)`` share their entity sets).
        recipe: the query's recipe (see ``countyos.lab.checked_sql.recipes``), ``None`` for a
            volatile query; with it ``record`` can store cells deferred, without sets.
        digests: per recorded column, the digest of each cell (empty without a recipe).
        size_bounds: per recorded column, the (lower, upper) bounds of each cell's number of
            units when the bounded checks decided the run (``n_entities`` then holds the lower
            bound); empty when the counts are exact.
    """

    table: pa.Table
    reports: Mapping[str, DisclosureReport]
    output_tables: Mapping[str, OutputTable]
    entity_sets: Mapping[str, Mapping[tuple, np.ndarray]] | None
    sql_rewritten: str
    hidden_cells: int
    per_entity: bool
    explain: bool = False
    recorded_columns: tuple[str, ...] = ()
    recipe: str | None = None
    digests: Mapping[str, Mapping[tuple, str]] = field(default_factory=dict)
    size_bounds: Mapping[str, Mapping[tuple, tuple[int, int]]] = field(default_factory=dict)

    @property
    def report(self) -> DisclosureReport:
        """The report of a query with one aggregate column.

        Raises:
            InvalidInputError: the query has several aggregate columns (use ``reports``).
        """
        if len(self.reports) != 1:
            raise InvalidInputError(
                "the query has several aggregate columns; read result.reports by column"
            )
        return next(iter(self.reports.values()))

    @property
    def overall(self) -> str:
        """``pass`` when every cell of every column may be released, ``fail`` when none, else
        ``review``."""
        outcomes = {report.overall for report in self.reports.values()}
        if outcomes == {"pass"} and not self.hidden_cells:
            return "pass"
        if outcomes == {"fail"}:
            return "fail"
        return "review"

    def explanations(self) -> list[dict[str, Any]]:
        """One entry per withheld cell and column (label, column, status, reasons), for
        pre-flight display and the steward's review."""
        entries = []
        for column, report in self.reports.items():
            for outcome in report.cells:
                if not outcome.released:
                    entries.append(
                        {
                            "column": column,
                            "cell": outcome.label,
                            "status": outcome.status.value,
                            "reason_en": outcome.reason_en,
                            "reason_zh": outcome.reason_zh,
                        }
                    )
        return entries

    def record(self, store: ReleasedCellStore) -> int:
        """Record the released cells in the project's store, after the release.

        Cells are recorded once per family of columns with the same units (see
        ``recorded_columns``), as ``"<table_id>/<column> <cell label>"``: with their entity
        sets when the run computed them, else deferred (size, digest and the query's recipe).

        Returns:
            Number of cells recorded.

        Raises:
            InvalidInputError: the run computed no entity sets and the query has no recipe.
            ConflictError: this output was recorded before (same table id).
        """
        if self.entity_sets is None and self.recipe is None:
            raise InvalidInputError(
                "this run did not compute entity sets; run with entity_sets=True to record it"
            )
        recorded = 0
        for column in self.recorded_columns or tuple(self.reports):
            report, table = self.reports[column], self.output_tables[column]
            digests = self.digests.get(column) or None
            if self.entity_sets is not None:
                recorded += record_release(
                    store, report, table, self.entity_sets[column], digests
                )
            else:
                recorded += record_deferred(
                    store, report, table, digests or {}, str(self.recipe),
                    self.size_bounds.get(column),
                )
        return recorded


def developer_table(
    plan: CheckedPlan,
    names: Layout,
    cells: Sequence[Cell],
    statistics: dict[str, list],
    schema: pa.Schema,
    reports: Mapping[str, DisclosureReport],
    *,
    explain: bool,
) -> pa.Table:
    """The developer-facing result over the visible cells (see the module docstring)."""
    shown = [cell for cell in cells if not cell.hidden]
    order = _sort_order(plan, shown, schema)
    shown = [shown[index] for index in order]
    arrays: dict[str, pa.Array] = {}
    for column in plan.outputs:
        if column.kind == "key":
            field = schema.field(key_column(column.key_position))
            values = [_part(cell.key[column.key_position]) for cell in shown]
            arrays[column.name] = pa.array(values, type=field.type)
        else:
            spec = plan.aggregates[column.aggregate]
            source = names.columns(spec).value
            report = reports[column.name]
            released = [report.outcome(cell.key).released for cell in shown]
            values = []
            for cell, shown_value in zip(shown, released, strict=True):
                if not shown_value:
                    values.append(None)
                elif cell.row is None:
                    values.append(0 if spec.statistic == "count" else None)
                else:
                    values.append(statistics[source][cell.row])
            array = pa.array(values, type=schema.field(source).type)
            if column.wrapper is not None:
                array = apply_wrapper(column.wrapper, array, column.name)
                mask = pa.array(released, type=pa.bool_())
                array = pc.if_else(mask, array, pa.scalar(None, type=array.type))
            arrays[column.name] = array
    taken = {name.lower() for name in arrays}
    for column in plan.aggregate_outputs():
        report = reports[column.name]
        name = f"{column.name}_status"
        while name.lower() in taken:
            name = f"{name}_"
        taken.add(name.lower())
        statuses = []
        for cell in shown:
            outcome: CellOutcome = report.outcome(cell.key)
            if explain:
                statuses.append(outcome.status.value)
            else:
                statuses.append("ok" if outcome.released else "suppressed")
        arrays[name] = pa.array(statuses, type=pa.string())
    return pa.table(arrays) if arrays else pa.table({})


def _part(part: Any) -> Any:
    return None if part is TOTAL else part


def _sort_order(plan: CheckedPlan, cells: Sequence[Cell], schema: pa.Schema) -> list[int]:
    if not plan.keys or not cells:
        return list(range(len(cells)))
    columns: dict[str, pa.Array] = {}
    sorting = []
    for number, (position, descending) in enumerate(plan.order):
        flag, value = f"t{number}", f"k{number}"
        columns[flag] = pa.array([1 if c.key[position] is TOTAL else 0 for c in cells], pa.int8())
        columns[value] = pa.array(
            [_part(c.key[position]) for c in cells],
            type=schema.field(key_column(position)).type,
        )
        sorting += [
            (flag, "ascending", "at_end"),
            (value, "descending" if descending else "ascending", "at_end"),
        ]
    columns["index"] = pa.array(range(len(cells)), pa.int64())
    sorting.append(("index", "ascending", "at_end"))
    return pc.sort_indices(pa.table(columns), sort_keys=sorting).to_pylist()
