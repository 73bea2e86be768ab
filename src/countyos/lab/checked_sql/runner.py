"""Running a checked plan: one engine query, then the disclosure checks, then the result.

Owns :func:`run_checked_query` (real data or twins) and :func:`preflight_checked_query` (the same
checks on synthetic twins, explained). Steps: build the statistics SQL (:mod:`.rewrite`), run it
through the engine (which re-validates it with its read-only guard and DuckDB's own parser), read
the cells, hide rare group values, enumerate empty cells, check every aggregate column with
``countyos.lab.disclosure.check_table`` (threshold, zeros, p% and (n,k) dominance on absolute unit
totals, differencing against the project's released cells, complementary suppression), withhold
cells jointly across columns, and build the developer's table.

Entity sets (for differencing and for recording a release) are computed when asked for or when
the project already has released cells; DuckDB computes them inside the query as keyed hashes made
exactly like ``countyos.lab.disclosure.entity_hashes``. For registers (``entity_key_unique``) the
per-unit grouping is skipped and every row's unit is listed, so the claim is always verified: a
cell listing a unit twice proves it wrong and the run is redone with the exact plan.

The statistics SQL embeds the key block of the entity hash. It is never shown: the result's
``sql_rewritten`` carries a placeholder, and an engine error whose text quotes the SQL has the key
removed before it is raised. This module must not release anything: the caller releases what the
reports allow and then calls ``CheckedResult.record``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from countyos.engine import Engine, ParsedQuery, QueryLimits, TableSource, parse_read_only
from countyos.engine import functions as engine_functions
from countyos.errors import CountyOSError, InvalidInputError, TooLargeError
from countyos.lab.checked_sql.cells import complete_cells, output_table, read_cells
from countyos.lab.checked_sql.entity_sets import cell_entity_sets
from countyos.lab.checked_sql.plan import CheckedPlan
from countyos.lab.checked_sql.result import CheckedResult, developer_table, joint_reports
from countyos.lab.checked_sql.rewrite import (
    KEY_PLACEHOLDER,
    NULL_UNITS,
    SET_PREFIX,
    build_statistics_sql,
    layout,
    redact_hash_key,
    verification_column,
)
from countyos.lab.disclosure import (
    DisclosureReport,
    DisclosureRules,
    ReleasedCellStore,
    check_table,
)
from countyos.lab.disclosure.entity_sets import entity_hash_key

_Sets = tuple[dict[str, list[np.ndarray]], bool]


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
        entity_sets: compute entity sets (needed to record the release afterwards). On the
            registers fast path the units are listed anyway, to verify the uniqueness claim.
        explain: put reason codes in the status columns (pre-flight on twins only).

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
    differencing = released is not None and len(released) > 0
    per_entity = not plan.unique_entities
    need_sets = bool(entity_sets) or differencing
    names = layout(plan)
    sql, statistics, sets = _statistics(
        plan, engine, sources, limits, rules, hash_key, per_entity, need_sets or not per_entity
    )
    if sets is not None and sets[1] and not per_entity:
        per_entity = True  # a register listed a unit twice: redo with the exact plan
        sql, statistics, sets = _statistics(
            plan, engine, sources, limits, rules, hash_key, per_entity, need_sets
        )
    if not need_sets:
        sets = None
    cells = complete_cells(
        plan, read_cells(plan, statistics), rules.threshold, max(1, limits.max_rows)
    )
    list_columns = [
        name for name, kind in zip(statistics.column_names, statistics.schema.types, strict=True)
        if pa.types.is_list(kind) and name.startswith(SET_PREFIX)
    ]
    columns = statistics.drop_columns(list_columns).to_pydict()
    top = rules.contributions_needed
    tables = {}
    reports: dict[str, DisclosureReport] = {}
    cell_sets: dict[str, dict[tuple, np.ndarray]] | None = {} if sets is not None else None
    families_checked: set[str] = set()
    representatives: list[str] = []
    for column in plan.aggregate_outputs():
        spec = plan.aggregates[column.aggregate]
        result_columns = names.columns(spec)
        table = output_table(plan, spec, result_columns, column.name, cells, columns, top)
        per_cell = None
        if sets is not None and cell_sets is not None:
            by_row = sets[0][result_columns.entities]
            per_cell = {cell.key: by_row[cell.row] for cell in cells if cell.row is not None}
            cell_sets[column.name] = per_cell
        # columns of one family have the same units per cell: compare with the released cells
        # (and record) once per family; the joint decision withholds the cell in every column
        first_of_family = result_columns.entities not in families_checked
        families_checked.add(result_columns.entities)
        if first_of_family:
            representatives.append(column.name)
        tables[column.name] = table
        reports[column.name] = check_table(
            table,
            rules,
            table_id=f"{table_id}/{column.name}",
            released=released if differencing and first_of_family else None,
            entity_sets=per_cell if differencing and first_of_family else None,
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
        per_entity=per_entity,
        explain=explain,
        recorded_columns=tuple(representatives),
    )


def _statistics(
    plan: CheckedPlan,
    engine: Engine,
    sources: Mapping[str, TableSource],
    limits: QueryLimits,
    rules: DisclosureRules,
    hash_key: str,
    per_entity: bool,
    need_sets: bool,
) -> tuple[str, pa.Table, _Sets | None]:
    sql = build_statistics_sql(
        plan,
        per_entity=per_entity,
        entity_sets=need_sets,
        top=rules.contributions_needed,
        guard_errors=engine_allows_try(),
        hash_key=hash_key if need_sets else None,
    )
    try:
        result = engine.execute(_parsed(sql), sources, limits=limits)
    except CountyOSError as error:
        raise _without_key(error, hash_key) from None
    if result.truncated:
        raise TooLargeError(
            f"the query has more than {limits.max_rows} cells; group by fewer or coarser keys",
            details={"max_cells": limits.max_rows},
        )
    statistics = result.table
    if not need_sets:
        return sql, statistics, None
    if statistics.num_rows and any(statistics.column(NULL_UNITS).to_pylist()):
        read_cells(plan, statistics)  # raises the error about NULL entity keys
    names = layout(plan)
    flags = sorted({names.columns(spec).entities for spec in plan.aggregates})
    per_flag: dict[str, list[np.ndarray]] = {}
    duplicated = False
    for flag in flags:
        per_flag[flag], repeated = cell_entity_sets(statistics.column(flag))
        duplicated = duplicated or repeated
    if not per_entity and not duplicated:
        verify = verification_column(plan)
        if verify not in per_flag:
            duplicated = cell_entity_sets(statistics.column(verify))[1]
    return sql, statistics, (per_flag, duplicated)


@functools.lru_cache(maxsize=64)
def _parsed(sql: str) -> ParsedQuery:
    """The engine's guarded parse of a statistics query (the same plans are run again and again;
    a parsed query is immutable: engines copy its tree before changing it)."""
    return parse_read_only(sql)


def _without_key(error: CountyOSError, hash_key: str) -> CountyOSError:
    """The engine's error with the hash key block removed from its message and details."""

    def scrub(value: object) -> object:
        if isinstance(value, str):
            return value.replace(hash_key, KEY_PLACEHOLDER)
        if isinstance(value, dict):
            return {scrub(key): scrub(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(scrub(item) for item in value)
        return value

    error.message = str(scrub(error.message))
    error.args = tuple(scrub(argument) for argument in error.args)
    error.details = dict(scrub(error.details))  # type: ignore[arg-type]
    return error


def engine_allows_try() -> bool:
    """Whether the engine's function allowlist admits ``TRY(…)`` (errors become NULL)."""
    return engine_functions.is_allowed_function("try")


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
