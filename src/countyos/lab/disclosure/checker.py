"""The disclosure check of one output table, end to end, and the record of what was released.

Owns the order of the checks: primary checks per cell, differencing against the project's earlier
releases, then complementary suppression, then the report. After a release decision the caller
records the released cells with :func:`record_release` so that later outputs are checked against
them. This module must not compute statistics, persist the store or release anything itself.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from countyos.errors import InvalidInputError
from countyos.lab.disclosure.cells import OutputTable
from countyos.lab.disclosure.differencing import find_differencing
from countyos.lab.disclosure.messages import reason_texts
from countyos.lab.disclosure.primary import primary_failures
from countyos.lab.disclosure.released_store import ReleasedCellStore
from countyos.lab.disclosure.report import CellOutcome, DisclosureReport
from countyos.lab.disclosure.rules import DisclosureRules
from countyos.lab.disclosure.secondary import complementary_suppression
from countyos.lab.disclosure.status import CellStatus, leading_status


def check_table(
    table: OutputTable,
    rules: DisclosureRules | None = None,
    *,
    table_id: str = "output",
    released: ReleasedCellStore | None = None,
    entity_sets: Mapping[tuple, np.ndarray] | None = None,
) -> DisclosureReport:
    """Decide which cells of an output table may be released.

    Args:
        table: the cells of the table with their statistics.
        rules: the risk appetite (default: :class:`DisclosureRules` defaults, i.e. ACRO's).
        table_id: the caller's name of this output (used in cell ids and reports).
        released: the project's earlier releases; when given, every cell that passes its
            primary checks is compared with them (differencing) and needs an entity set.
        entity_sets: entity set per cell key (from ``entity_hashes``), required with
            ``released``.

    Returns:
        The report: one outcome per cell and a summary.

    Raises:
        InvalidInputError: bad cell statistics, or a missing entity set while differencing.
    """
    rules = rules or DisclosureRules()
    if not isinstance(table_id, str) or not table_id:
        raise InvalidInputError("table_id must be a non-empty name")
    if released is not None and entity_sets is None:
        raise InvalidInputError("differencing against earlier releases needs entity_sets")
    failed: dict[tuple, tuple[CellStatus, ...]] = {}
    hit_ids: dict[tuple, str] = {}
    for cell in table.cells:
        failures = primary_failures(cell, rules)
        if released is not None and not failures and cell.n_entities > 0:
            entities = entity_sets.get(cell.key) if entity_sets is not None else None
            if entities is None:
                raise InvalidInputError(
                    "an entity set is missing for a cell to compare with earlier releases",
                    details={"cell": table.describe(cell.key)},
                )
            hits = find_differencing(entities, released, rules.threshold)
            if hits:
                failures = (CellStatus.DIFFERENCING,)
                hit_ids[cell.key] = hits[0].released_cell_id
        if failures:
            failed[cell.key] = failures
    suppression = complementary_suppression(table, failed.keys(), rules)
    outcomes = []
    for cell in table.cells:
        failures = failed.get(cell.key, ())
        if failures:
            status = leading_status(failures)
        elif cell.key in suppression.complementary:
            status = CellStatus.COMPLEMENTARY
        else:
            status = CellStatus.OK
        english, chinese = _reasons(table, cell.key, status, failures, rules, hit_ids)
        outcomes.append(
            CellOutcome(
                key=cell.key,
                label=table.describe(cell.key),
                status=status,
                failed_checks=failures,
                released=status is CellStatus.OK,
                reason_en=english,
                reason_zh=chinese,
            )
        )
    unprotectable = tuple(
        cell.key for cell in table.cells if cell.key in suppression.unprotectable
    )
    return DisclosureReport(table_id, table.statistic, rules, tuple(outcomes), unprotectable)


def _reasons(
    table: OutputTable,
    key: tuple,
    status: CellStatus,
    failures: tuple[CellStatus, ...],
    rules: DisclosureRules,
    hit_ids: dict[tuple, str],
) -> tuple[str, str]:
    if not failures:
        structural = status is CellStatus.OK and key in rules.structural_zeros and (
            table.cell(key).n_entities == 0
        )
        return reason_texts(status, rules, structural=structural)
    texts = [
        reason_texts(failure, rules, released_cell_id=hit_ids.get(key)) for failure in failures
    ]
    return " ".join(text[0] for text in texts), "".join(text[1] for text in texts)


def released_cell_id(table_id: str, table: OutputTable, key: tuple) -> str:
    """The id under which a released cell is recorded: ``"<table_id> <cell label>"``."""
    return f"{table_id} {table.describe(key)}"


def record_release(
    store: ReleasedCellStore,
    report: DisclosureReport,
    table: OutputTable,
    entity_sets: Mapping[tuple, np.ndarray],
    digests: Mapping[tuple, str] | None = None,
) -> int:
    """Record the released cells of a table so later outputs are checked against them.

    Call it once the output is actually released (automatically or after review). Empty cells
    are not recorded (an empty set cannot be differenced).

    Args:
        store: the project's released-cell store.
        report: the report of the released table.
        table: the table the report was made from.
        entity_sets: entity set per cell key.
        digests: the digest naming each cell's definition, when the caller has one.

    Returns:
        The number of cells recorded.

    Raises:
        InvalidInputError: an entity set is missing for a released non-empty cell.
    """
    recorded = 0
    for outcome in report.cells:
        if not outcome.released or table.cell(outcome.key).n_entities == 0:
            continue
        entities = entity_sets.get(outcome.key)
        if entities is None:
            raise InvalidInputError(
                "an entity set is missing for a released cell",
                details={"cell": outcome.label},
            )
        digest = digests.get(outcome.key) if digests else None
        store.add(released_cell_id(report.table_id, table, outcome.key), entities, digest)
        recorded += 1
    return recorded


def record_deferred(
    store: ReleasedCellStore,
    report: DisclosureReport,
    table: OutputTable,
    digests: Mapping[tuple, str],
    recipe: str,
    bounds: Mapping[tuple, tuple[int, int]] | None = None,
) -> int:
    """Record the released cells of a table by size, digest and recipe (sets recomputed later).

    Like :func:`record_release`, for a caller that can recompute every cell's set from
    ``recipe`` (see ``countyos.lab.disclosure.released_focus``). ``bounds`` gives (lower, upper)
    bounds of a cell's number of units where it is not known exactly.

    Raises:
        InvalidInputError: a digest is missing for a released non-empty cell.
    """
    recorded = 0
    for outcome in report.cells:
        size = table.cell(outcome.key).n_entities
        if not outcome.released or size == 0:
            continue
        digest = digests.get(outcome.key)
        if digest is None:
            raise InvalidInputError("a digest is missing for a released cell",
                                    details={"cell": outcome.label})
        low, high = bounds.get(outcome.key, (size, size)) if bounds else (size, size)
        store.add_deferred(released_cell_id(report.table_id, table, outcome.key), int(low),
                           digest, recipe, int(max(low, high)))
        recorded += 1
    return recorded
