"""Running a checked plan: the statistics query, the disclosure checks, then the result.

Owns :func:`run_checked_query` (real data or twins) and :func:`preflight_checked_query` (the same
checks on synthetic twins, explained). Steps: run the statistics SQL (:mod:`.statistics`, built
by :mod:`.rewrite`), read the cells, hide rare group values, enumerate empty cells, check every
aggregate column with ``countyos.lab.disclosure.check_table`` (threshold, zeros, p% and (n,k)
dominance on absolute unit totals, differencing against the project's released cells,
complementary suppression), withhold cells jointly across columns, and build the developer's
table.

Three plans, by the most rows one unit has in the rows read (``M``, proven on the data by
:mod:`.recipes`): ``M = 1`` (registers) checks exactly from rows; ``M > 1`` first tries the
bounded checks of :mod:`.bounded` (row statistics that bound the unit ones; kept only when every
cell passes for certain) and else adds rows up per unit (exact). Entity sets are computed only
when needed: a query has a *recipe* and every cell a *digest*, its release is recorded deferred,
and only new cells within ``threshold - 1`` units of a released one (and not released before
verbatim) make DuckDB hash the units, inside the query, exactly like
``countyos.lab.disclosure.entity_hashes``; deferred released sets are then recomputed from their
recipes. The caller releases what the reports allow and then calls ``CheckedResult.record``;
this module must not release anything.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from countyos.engine import Engine, QueryLimits, TableSource
from countyos.errors import InvalidInputError
from countyos.lab.checked_sql.bounded import bounded_columns, row_tops_wanted
from countyos.lab.checked_sql.cells import complete_cells, output_table, read_cells
from countyos.lab.checked_sql.plan import CheckedPlan
from countyos.lab.checked_sql.recipes import (
    cell_digest,
    materialise_recipe,
    query_recipe,
    row_multiplicity,
)
from countyos.lab.checked_sql.result import CheckedResult, developer_table, joint_reports
from countyos.lab.checked_sql.rewrite import SET_PREFIX, UNITS, layout, redact_hash_key
from countyos.lab.checked_sql.statistics import Lists, run_statistics
from countyos.lab.disclosure import (
    DisclosureRules,
    OutputTable,
    ReleasedCellStore,
    check_table,
    close_entries,
    differencing_focus,
)
from countyos.lab.disclosure.entity_sets import entity_hash_key
from countyos.lru import LRU

def run_checked_query(
    plan: CheckedPlan,
    *,
    engine: Engine,
    sources: Mapping[str, TableSource],
    secret: bytes,
    table_id: str,
    limits: QueryLimits | None = None,
    rules: DisclosureRules | None = None,
    released: ReleasedCellStore | None = None,
    entity_sets: bool = True,
    explain: bool = False,
    exact_sets: bool = False,
) -> CheckedResult:
    """Run a checked plan and apply every disclosure check to its cells.

    Args:
        plan: from ``plan_checked_query``.
        engine: the query engine.
        sources: the granted tables by SQL name (real data, or twins for pre-flight).
        secret: the installation's entity hashing key (16 to 64 bytes).
        table_id: the name of this output (unique per job, e.g. ``"job-42"``); reports and
            released cells are named ``"<table_id>/<column>"``.
        limits: engine limits; ``max_rows`` also caps the number of cells (empty ones
            included). ``None`` uses the engine's defaults.
        rules: the risk appetite; default ACRO's defaults.
        released: the project's released cells; when it holds any, every cell that passes its
            primary checks is compared with them (differencing).
        entity_sets: make the result recordable. With a recipe (any query without volatile
            functions) the release is recorded deferred and no set is computed unless a
            comparison needs it; a volatile query computes its sets here.
        explain: put reason codes in the status columns (pre-flight on twins only).
        exact_sets: compute the sets even when the query has a recipe (recomputing a recipe).

    Returns:
        The developer's table, reports, checked tables, entity sets and the SQL run.

    Raises:
        QueryRefusedError, NotFoundError, InvalidInputError, TooLargeError: as the engine raises
            them; TooLargeError also for more cells than ``limits.max_rows``.
        InvalidInputError: a bad secret, NULL entity keys in the data, non-finite values.
    """
    if not isinstance(plan, CheckedPlan):
        raise InvalidInputError("run_checked_query needs a plan from plan_checked_query")
    if not isinstance(table_id, str) or not table_id.strip():
        raise InvalidInputError("table_id must be a non-empty name of this output")
    hash_key = entity_hash_key(secret)  # validates the secret up front
    rules = rules or DisclosureRules()
    limits = limits or getattr(engine, "default_limits", None) or QueryLimits()
    store = released if released is not None and len(released) > 0 else None
    multiplicity = row_multiplicity(plan, engine, sources, limits)
    per_entity = multiplicity != 1
    recipe = None if exact_sets else query_recipe(plan, sources)
    names = layout(plan)

    def statistics_of(exact: bool, with_sets: bool) -> tuple[str, pa.Table, Lists | None]:
        top = rules.contributions_needed if exact else row_tops_wanted(multiplicity or 1)
        return run_statistics(plan, engine, sources, limits, top, hash_key,
                           per_entity and exact, with_sets, not exact)

    fast = None
    attempt = (recipe, repr(rules))
    if (per_entity and multiplicity and recipe is not None and _UNDECIDED.get(attempt) is None
            and not entity_sets_needed(entity_sets, recipe)):
        fast = _bounded_run(plan, statistics_of, rules, limits, multiplicity, table_id)
        if fast is None:  # the same query on the same files will not be decided next time either
            _UNDECIDED.put(attempt, True)
    if fast is not None:
        sql, statistics, sets, cells, columns, tables, representatives, bounds, reports = fast
    else:
        sql, statistics, sets = statistics_of(True, entity_sets_needed(entity_sets, recipe))
        cells, columns, tables, representatives = _cells_and_tables(plan, statistics, rules, limits)
        bounds, reports = None, None
    digests = {
        column: {cell.key: cell_digest(recipe, column, cell.key) for cell in cells}
        for column in representatives
    } if recipe is not None else {}
    focus: ReleasedCellStore | None = None
    if store is not None:
        wanted = [
            (*_size_bounds(tables[column], bounds, column, cell.key),
             digests.get(column, {}).get(cell.key))
            for column in representatives for cell in cells
        ]
        close = close_entries(store, wanted, rules.threshold)
        if close:
            if sets is None:  # the same cells again, exactly, now with their units' hashes
                sql, statistics, sets = statistics_of(True, True)
                cells, columns, tables, representatives = _cells_and_tables(
                    plan, statistics, rules, limits)
                bounds, reports = None, None
            found = _cell_sets(cells, sets, representatives)
            by_digest = {
                digest: found[column][key]
                for column, per_cell in digests.items()
                for key, digest in per_cell.items() if key in found[column]
            }
            focus = differencing_focus(store, close, by_digest=by_digest, materialise=functools.partial(
                materialise_recipe, engine=engine, secret=secret, limits=limits))
    cell_sets = None
    if sets is not None:
        family_of = {c.name: names.columns(plan.aggregates[c.aggregate]).entities
                     for c in plan.aggregate_outputs()}
        cell_sets = _cell_sets(cells, sets, family_of)
    if reports is None:
        reports = {}
        for column, table in tables.items():
            compare = focus is not None and column in representatives
            reports[column] = check_table(
                table,
                rules,
                table_id=f"{table_id}/{column}",
                released=focus if compare else None,
                entity_sets=cell_sets[column] if compare and cell_sets is not None else None,
            )
    hidden = frozenset(cell.key for cell in cells if cell.hidden)
    reports = joint_reports(tables, reports, hidden, rules)
    table = developer_table(
        plan, names, cells, columns, statistics.schema, reports, explain=explain
    )
    return CheckedResult(
        table=table,
        reports=reports,
        output_tables=tables,
        entity_sets=cell_sets,
        sql_rewritten=redact_hash_key(sql, hash_key),
        hidden_cells=len(hidden),
        per_entity=per_entity and bounds is None,
        explain=explain,
        recorded_columns=tuple(representatives),
        recipe=recipe,
        digests=digests,
        size_bounds={column: {key: _size_bounds(tables[column], bounds, column, key)
                              for key in per_cell} for column, per_cell in bounds.items()}
        if bounds is not None else {},
    )


def entity_sets_needed(entity_sets: bool, recipe: str | None) -> bool:
    """Whether a run must hash units to be recordable (a query without a recipe)."""
    return bool(entity_sets) and recipe is None


def _size_bounds(table: OutputTable, bounds: dict | None, column: str, key: tuple) -> tuple[int, int]:
    low = table.cell(key).n_entities
    if bounds is None or column not in bounds or key not in bounds[column]:
        return low, low
    return low, max(low, bounds[column][key])


def _bounded_run(plan, statistics_of, rules, limits, multiplicity, table_id):  # type: ignore[no-untyped-def]
    """The fast path of :mod:`.bounded`: its parts when every cell passes for certain, else
    ``None``."""
    sql, statistics, _ = statistics_of(False, False)
    names = layout(plan)
    plain = statistics.drop_columns([
        name for name, kind in zip(statistics.column_names, statistics.schema.types, strict=True)
        if pa.types.is_list(kind) and name.startswith(SET_PREFIX)
    ]).to_pydict()
    converted = bounded_columns(plan, names, plain, multiplicity, rules.contributions_needed)
    if converted is None:
        return None
    columns, highs = converted
    cells, _, tables, representatives = _cells_and_tables(
        plan, statistics, rules, limits, columns=columns)
    if any(cell.hidden for cell in cells):
        return None
    reports = {column: check_table(table, rules, table_id=f"{table_id}/{column}")
               for column, table in tables.items()}
    if any(report.overall != "pass" for report in reports.values()):
        return None
    bounds = {}
    for column in representatives:
        spec = plan.aggregates[next(c.aggregate for c in plan.outputs if c.name == column)]
        rows = highs[names.columns(spec).units]
        bounds[column] = {cell.key: rows[cell.row] for cell in cells if cell.row is not None}
    return sql, statistics, None, cells, columns, tables, representatives, bounds, reports


def _cells_and_tables(
    plan: CheckedPlan, statistics: pa.Table, rules: DisclosureRules, limits: QueryLimits,
    columns: dict[str, list] | None = None,
) -> tuple[list, dict[str, list], dict[str, OutputTable], dict[str, str]]:
    """The cells of a statistics result, its plain columns, the checked table of every aggregate
    column, and one column per family of aggregates over the same units (with its list column).
    ``columns`` replaces the result's plain columns (the bounds of :mod:`.bounded`)."""
    names = layout(plan)
    if columns is None:
        list_columns = [
            name for name, kind in zip(statistics.column_names, statistics.schema.types,
                                       strict=True)
            if pa.types.is_list(kind) and name.startswith(SET_PREFIX)
        ]
        columns = statistics.drop_columns(list_columns).to_pydict()
    cells = complete_cells(
        plan, read_cells(plan, statistics, units=columns[UNITS]), rules.threshold,
        max(1, limits.max_rows)
    )
    top = rules.contributions_needed
    tables = {}
    representatives: dict[str, str] = {}
    for column in plan.aggregate_outputs():
        spec = plan.aggregates[column.aggregate]
        result_columns = names.columns(spec)
        tables[column.name] = output_table(
            plan, spec, result_columns, column.name, cells, columns, top
        )
        if result_columns.entities not in representatives.values():
            representatives[column.name] = result_columns.entities
    return cells, columns, tables, representatives


def _cell_sets(
    cells: list, sets: dict[str, list[np.ndarray]], family_of: Mapping[str, str]
) -> dict[str, dict[tuple, np.ndarray]]:
    """Per output column, the entity set of every cell that has rows."""
    return {
        column: {cell.key: sets[family][cell.row] for cell in cells if cell.row is not None}
        for column, family in family_of.items()
    }


#: (recipe, rules) whose bounded run could not decide: the result is deterministic.
_UNDECIDED: LRU[bool] = LRU(1024)


def preflight_checked_query(
    plan: CheckedPlan,
    *,
    engine: Engine,
    twin_sources: Mapping[str, TableSource],
    secret: bytes,
    table_id: str = "preflight",
    limits: QueryLimits | None = None,
    rules: DisclosureRules | None = None,
    twin_released: ReleasedCellStore | None = None,
) -> CheckedResult:
    """Run the exact checks of the real run on synthetic twins and explain every suppression.

    Same plan, same rewritten SQL (entity sets included), same rules and the same joint
    withholding as :func:`run_checked_query`; the status columns carry reason codes and
    ``CheckedResult.explanations()`` gives the reasons in English and Chinese. Differencing can
    only be rehearsed against earlier *twin* outputs (``twin_released``): twin units are
    pseudonyms, so the project's real released cells cannot be compared here.

    Args:
        plan: from ``plan_checked_query``.
        engine: the query engine.
        twin_sources: the twins of the granted tables, under the same SQL names.
        secret: the hashing key (any 16 to 64 bytes for twins).
        table_id: name of the output in reports.
        limits: engine limits.
        rules: the rules the real run will apply.
        twin_released: earlier pre-flight outputs of the project, if kept.

    Returns:
        The explained result.
    """
    return run_checked_query(
        plan,
        engine=engine,
        sources=twin_sources,
        secret=secret,
        table_id=table_id,
        limits=limits,
        rules=rules,
        released=twin_released,
        entity_sets=True,
        explain=True,
    )
