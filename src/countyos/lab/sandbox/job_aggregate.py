"""Aggregation of row-level data into a table and the per-cell facts the disclosure checks need.

Part of the in-job API: mounted read-only as ``/opt/countyos/countyos_job_aggregate.py`` beside
``countyos_job`` (``job_api.py``), which imports it. Pure functions: no files, no environment.
Semantics as ``countyos.lab.disclosure.stats`` (see ``job_api.py``). Imports only the standard
library, numpy, pandas and pyarrow; never ``countyos``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

MAX_CELLS = 100_000
TOP_CONTRIBUTIONS = 3
SCOPE_ROWS = "rows"


class PublishError(ValueError):
    """An output cannot be published as asked (the message says what is wrong)."""


def aggregate(data, *, by: Sequence[str], entity: str, count: bool = True,
              sum: str | None = None, mean: str | None = None,
              levels: Mapping[str, Sequence] | None = None):
    """Aggregate rows without writing anything (what :func:`publish_table` publishes).

    Returns:
        ``(table, cells, entities, metadata)``: the candidate table, the long per-cell facts
        (one row per cell and statistic), the entity keys per cell and scope (three
        ``pyarrow.Table``), and the manifest metadata (a dict).
    """
    frame = data.to_pandas() if isinstance(data, pa.Table) else data
    if not isinstance(frame, pd.DataFrame):
        raise PublishError("data must be a pandas DataFrame (or a pyarrow Table) of rows")
    by = _check_columns(frame, by, entity)
    statistics = [("count", None)] if count else []
    statistics += [(kind, column) for kind, column in (("sum", sum), ("mean", mean)) if column]
    if not statistics:
        raise PublishError("publish at least one statistic: count, sum or mean")
    if levels is not None and not isinstance(levels, Mapping):
        raise PublishError("levels must map group columns to lists of values")
    row_cells, keys = _cell_ids(frame, by, levels or {})
    n_cells = len(keys[0])
    entity_codes, entity_text = _entity_codes(frame[entity])
    n_units = int(entity_codes.max()) + 1 if len(entity_codes) else 1
    table_columns = dict(zip(by, keys))
    cell_tables, entity_tables, described, scopes = [], [], [], set()
    for kind, column in statistics:
        output_column = kind if column is None else f"{kind}_{column}"
        if output_column in table_columns:
            raise PublishError(f"output column {output_column!r} clashes with a group column")
        if column is None:
            used, values = np.ones(len(frame), dtype=bool), np.ones(len(frame))
        else:
            used, values = _numeric(frame, column, by, entity)
        scope = SCOPE_ROWS if column is None or used.all() else f"value:{column}"
        facts, pair_cells, pair_units = _cell_facts(
            row_cells[used], entity_codes[used], values[used], n_cells, n_units, kind)
        table_columns[output_column] = facts["table_value"]
        cell_tables.append(pa.table({
            "cell": pa.array(np.arange(n_cells, dtype=np.int32)),
            **{f"key.{name}": key for name, key in zip(by, keys)},
            "statistic": pa.array([kind] * n_cells, pa.string()),
            "column": pa.array([column] * n_cells, pa.string()),
            "output_column": pa.array([output_column] * n_cells, pa.string()),
            "entity_scope": pa.array([scope] * n_cells, pa.string()),
            "value": facts["value"],
            "n_entities": pa.array(facts["n_entities"], pa.int64()),
            "abs_total": facts["abs_total"],
            "top_contributions": facts["top"],
        }))
        if scope not in scopes:
            scopes.add(scope)
            entity_tables.append(pa.table({
                "entity_scope": pa.array([scope] * len(pair_cells), pa.string()),
                "cell": pa.array(pair_cells.astype(np.int32)),
                "entity": entity_text.take(pa.array(pair_units)),
            }))
        described.append({"statistic": kind, "column": column, "output_column": output_column})
    metadata = {"by": by, "entity": entity, "statistics": described, "n_cells": n_cells}
    return (pa.table(table_columns), pa.concat_tables(cell_tables),
            pa.concat_tables(entity_tables), metadata)


def _check_columns(frame: pd.DataFrame, by: Sequence[str], entity: str) -> list[str]:
    if isinstance(by, str) or not isinstance(by, Sequence) or not by:
        raise PublishError("by must be a non-empty list of column names")
    by = list(by)
    if len(set(by)) != len(by):
        raise PublishError("a group column is listed twice in by")
    for column in [*by, entity]:
        if not isinstance(column, str) or column not in frame.columns:
            raise PublishError(f"no column {column!r} in the data")
    if entity in by:
        raise PublishError("the entity column cannot also be a group column")
    if frame.columns.duplicated().any():
        raise PublishError("the data has duplicate column names")
    return by


def _cell_ids(frame: pd.DataFrame, by: list[str], levels: Mapping[str, Sequence]):
    """Each row's cell number (mixed radix over the levels) and the key arrays of all cells."""
    row_cells = np.zeros(len(frame), dtype=np.int64)
    level_series, sizes = [], []
    for column in by:
        codes, series = _encode(frame[column], levels.get(column))
        row_cells = row_cells * len(series) + codes
        level_series.append(series)
        sizes.append(len(series))
    n_cells = math.prod(sizes)
    if n_cells == 0:
        raise PublishError("the table has no cells: the data has no rows and no levels")
    if n_cells > MAX_CELLS:
        raise PublishError(f"the table would have {n_cells} cells; at most {MAX_CELLS} allowed")
    grid = np.unravel_index(np.arange(n_cells), sizes)
    keys = []
    for series, positions in zip(level_series, grid):
        try:
            keys.append(pa.Array.from_pandas(series.iloc[positions].reset_index(drop=True)))
        except (pa.ArrowException, TypeError, ValueError) as error:
            raise PublishError("group values must be of one type per column") from error
    return row_cells, keys


def _encode(column: pd.Series, declared: Sequence | None):
    """Codes per row and the levels (declared first, then observed sorted, then null).

    Rows are factorised once in the column's own type (integers, booleans, text) or as Python
    objects (anything else); only the distinct values are compared with the levels, with Python
    equality, so the grouping is the same either way.
    """
    dtype = column.dtype
    declared = list(declared or [])
    if isinstance(dtype, pd.CategoricalDtype):
        known = set(declared)
        declared += [level for level in column.cat.categories if level not in known]
        dtype = np.dtype(object)
    native = _natively_hashable(column)
    values = column if native else column.astype(object)
    missing = column.isna().to_numpy()
    row_codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = list(pd.Index(uniques).astype(object))  # first appearance, no nulls
    observed = list(distinct)
    try:
        observed.sort()
    except TypeError:
        pass
    order = list(declared)
    known = set(order)
    if len(known) != len(order):
        raise PublishError("declared levels of a group column contain duplicates")
    order += [level for level in observed if level not in known]
    positions = pd.Index(order, dtype=object).get_indexer(pd.Index(distinct, dtype=object))
    positions = np.append(positions, -1).astype(np.int64)   # factorize's -1 (null) stays -1
    codes = positions[row_codes]
    if (codes[~missing] < 0).any():
        raise PublishError(f"group column {column.name!r} has values that cannot be grouped")
    if missing.any():
        codes[missing] = len(order)
        order.append(None)
    try:
        series = pd.Series(order, dtype=dtype)
    except (TypeError, ValueError):
        series = pd.Series(order, dtype=object)
    return codes, series


def _natively_hashable(column: pd.Series) -> bool:
    """Whether the column's values group the same in their own type as Python objects do."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype) or dtype == np.dtype(object):
        return False
    return bool(pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
                or pd.api.types.is_string_dtype(dtype))


def _entity_codes(column: pd.Series):
    """Each row's unit number (first appearance) and the units' keys as text."""
    if column.isna().any():
        raise PublishError("the entity column has nulls; every row must belong to a unit")
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_float_dtype(column):
        raise PublishError("the entity column must hold integers or text")
    codes, uniques = pd.factorize(column.astype(object) if isinstance(
        column.dtype, pd.CategoricalDtype) else column)
    if pd.api.types.is_integer_dtype(column):
        text = pa.array(np.asarray(uniques, dtype=np.int64)).cast(pa.string())
    else:
        text = _as_text(uniques)
    return codes.astype(np.int64), text


def _as_text(uniques) -> pa.Array:
    """The distinct keys as text: taken as they are when all are strings, else ``str`` of each."""
    try:
        text = pa.array(uniques, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):
        text = None
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if text is None or text.null_count or not (pa.types.is_string(text.type)
                                               or pa.types.is_large_string(text.type)):
        return pa.array([str(value) for value in uniques], pa.string())
    return text.cast(pa.string())


def _numeric(frame: pd.DataFrame, column: str, by: list[str], entity: str):
    if not isinstance(column, str) or column not in frame.columns:
        raise PublishError(f"no column {column!r} in the data")
    if column in by or column == entity:
        raise PublishError(f"the value column {column!r} is also a group or entity column")
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        raise PublishError(f"the value column {column!r} is not numeric")
    values = series.astype("float64").to_numpy(dtype="float64", na_value=np.nan)
    used = ~np.isnan(values)
    if np.isinf(values[used]).any():
        raise PublishError(f"the value column {column!r} holds infinite values")
    return used, values


def _cell_facts(cells: np.ndarray, units: np.ndarray, values: np.ndarray, n_cells: int,
                n_units: int, kind: str):
    pair_ids, pair_of_row = np.unique(cells * n_units + units, return_inverse=True)
    pair_cells, pair_units = pair_ids // n_units, pair_ids % n_units
    rows = np.bincount(cells, minlength=n_cells)
    n_entities = np.bincount(pair_cells, minlength=n_cells)
    if kind == "count":
        return ({"table_value": pa.array(rows, pa.int64()),
                 "value": pa.array(rows.astype(np.float64)), "n_entities": n_entities,
                 "abs_total": pa.nulls(n_cells, pa.float64()),
                 "top": pa.nulls(n_cells, pa.list_(pa.float64()))}, pair_cells, pair_units)
    pair_abs = np.abs(np.bincount(pair_of_row.ravel(), weights=values, minlength=len(pair_ids)))
    sums = np.bincount(cells, weights=values, minlength=n_cells)
    empty = rows == 0
    value = sums if kind == "sum" else np.divide(sums, rows, out=np.zeros(n_cells),
                                                 where=~empty)
    value_array = pa.array(value, pa.float64(), mask=empty)
    abs_total = np.bincount(pair_cells, weights=pair_abs, minlength=n_cells)
    order = np.lexsort((-pair_abs, pair_cells))
    starts = np.searchsorted(pair_cells[order], np.arange(n_cells))
    kept = np.minimum(n_entities, TOP_CONTRIBUTIONS)
    offsets = np.concatenate([[0], np.cumsum(kept)]).astype(np.int32)
    within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], kept)
    top_values = pair_abs[order[np.repeat(starts, kept) + within]]
    top = pa.ListArray.from_arrays(pa.array(offsets), pa.array(top_values, pa.float64()))
    return ({"table_value": value_array, "value": value_array, "n_entities": n_entities,
             "abs_total": pa.array(abs_total, pa.float64()), "top": top},
            pair_cells, pair_units)
