"""Loading a published table (or figure's table) and proving its three files agree.

Owns :class:`PublishedTable` and :func:`load_published_table`, plus :func:`load_metrics` and
:func:`load_model_summary`. The files come from inside the sandbox, so before anyone checks or
releases them this module verifies that the candidate table (what would be released) says exactly
what the quarantine cell facts say (what the disclosure checks look at), and that the entity sets
match the distinct-entity counts: same cells in the same order, same group values, same values,
counts, totals and top contributions that can be true of real data. It then hands the cells to
``countyos.lab.disclosure`` as :class:`OutputTable` objects, and the units behind each cell —
the distinct entity keys once, and per cell their positions among them (``published_units.py``
proves them real and hashes each once) — for the differencing check.

Limit: the facts are computed by code running in the job's own process; a hostile job can feed
the API invented rows. Consistency is proved here, honesty of the inputs is not.

It must not decide disclosure or release anything.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from countyos.errors import InvalidInputError
from countyos.lab.disclosure import CellStats, OutputTable
from countyos.lab.sandbox.manifest import (
    KIND_FIGURE,
    KIND_METRICS,
    KIND_MODEL,
    KIND_TABLE,
    MAX_CELLS,
    PublishedOutput,
)

TOP_CONTRIBUTIONS = 3
MAX_ENTITY_ROWS = 50_000_000
_FACT_COLUMNS = ["statistic", "column", "output_column", "entity_scope", "value", "n_entities",
                 "abs_total", "top_contributions"]
_SLACK = 1e-9


@dataclass(frozen=True)
class PublishedTable:
    """A verified table output.

    Attributes:
        output: the manifest entry.
        table: the candidate release (group columns, then one column per statistic).
        cells: quarantine: one row per cell and statistic (see ``countyos_job``).
        entities: quarantine: ``entity_scope``, ``cell``, ``entity`` (text keys).
        units: the distinct entity keys (text) of ``entities``, each once.
        unit_codes: per row of ``entities``, the position of its key in ``units``.
    """

    output: PublishedOutput
    table: pa.Table
    cells: pa.Table
    entities: pa.Table
    units: pa.Array
    unit_codes: np.ndarray

    @property
    def by(self) -> list[str]:
        """The group columns."""
        return list(self.output.metadata["by"])

    @property
    def output_columns(self) -> list[str]:
        """The statistic columns of the table, e.g. ``count``, ``sum_income``."""
        return [s["output_column"] for s in self.output.metadata["statistics"]]

    def _rows(self, output_column: str) -> pa.Table:
        if output_column not in self.output_columns:
            raise InvalidInputError(f"the table has no statistic column {output_column!r}")
        return self.cells.filter(pc.equal(self.cells["output_column"], output_column))

    def _keys(self, rows: pa.Table) -> list[tuple]:
        columns = [rows[f"key.{name}"].to_pylist() for name in self.by]
        return list(zip(*columns))

    def output_table(self, output_column: str, *, margins_known: bool = False) -> OutputTable:
        """The cells of one statistic column as a ``countyos.lab.disclosure.OutputTable``."""
        rows = self._rows(output_column)
        statistic = rows["statistic"][0].as_py()
        cells = [
            CellStats(key=key, statistic=statistic, value=value, n_entities=n,
                      abs_total=abs_total, top_contributions=tuple(top or ()))
            for key, value, n, abs_total, top in zip(
                self._keys(rows), rows["value"].to_pylist(), rows["n_entities"].to_pylist(),
                rows["abs_total"].to_pylist(), rows["top_contributions"].to_pylist())
        ]
        return OutputTable.from_cells(cells, dimensions=self.by, margins_known=margins_known)

    def entity_keys(self, output_column: str) -> dict[tuple, pa.Array]:
        """Entity keys (text) behind every non-empty cell of one statistic column.

        Hash them with ``countyos.lab.disclosure.entity_hashes`` for the differencing check.
        """
        return {key: self.units.take(pa.array(codes))
                for key, codes in self.cell_units(output_column).items()}

    def cell_units(self, output_column: str) -> dict[tuple, np.ndarray]:
        """Positions in :attr:`units` of the units behind every non-empty cell of one column.

        Within a cell each unit appears once (checked when the table was loaded).
        """
        rows = self._rows(output_column)
        scope = rows["entity_scope"][0].as_py()
        member = pc.equal(self.entities["entity_scope"], scope).to_numpy(zero_copy_only=False)
        cell_numbers = self.entities["cell"].to_numpy()[member]
        codes = self.unit_codes[member]
        order = np.argsort(cell_numbers, kind="stable")
        sorted_cells, codes = cell_numbers[order], codes[order]
        keys = self._keys(rows)
        bounds = np.searchsorted(sorted_cells, np.arange(len(keys) + 1))
        return {keys[cell]: codes[bounds[cell]:bounds[cell + 1]]
                for cell in range(len(keys)) if bounds[cell + 1] > bounds[cell]}


def load_published_table(output: PublishedOutput) -> PublishedTable:
    """Read a table or figure output and verify its files against each other.

    Args:
        output: an entry of ``read_manifest`` of kind ``table`` or ``figure``.

    Returns:
        The verified table.

    Raises:
        InvalidInputError: unreadable files or any inconsistency (the message names the check,
            never a value).
    """
    if output.kind not in (KIND_TABLE, KIND_FIGURE):
        raise InvalidInputError(f"output {output.name!r} is not a table")
    metadata = output.metadata
    n_cells, by = metadata["n_cells"], metadata["by"]
    statistics = metadata["statistics"]
    table = _read(output, "table", MAX_CELLS)
    cells = _read(output, "cells", MAX_CELLS * len(statistics))
    entities = _read(output, "entities", MAX_ENTITY_ROWS)
    units, unit_codes = _units(entities)
    problem = _check(table, cells, entities, unit_codes, by, statistics, n_cells)
    if problem:
        raise InvalidInputError(f"the published table {output.name!r} is inconsistent: {problem}",
                                details={"output": output.name})
    return PublishedTable(output, table, cells, entities, units, unit_codes)


def _units(entities: pa.Table) -> tuple[pa.Array, np.ndarray]:
    """The distinct entity keys and each row's position among them (one hashing pass)."""
    if entities.column_names[-1:] != ["entity"] or not (
            pa.types.is_string(entities.schema.field("entity").type)
            or pa.types.is_large_string(entities.schema.field("entity").type)):
        return pa.array([], pa.string()), np.zeros(entities.num_rows, dtype=np.int64)
    keys = entities["entity"].combine_chunks()
    if keys.null_count:
        return pa.array([], pa.string()), np.zeros(entities.num_rows, dtype=np.int64)
    encoded = keys.dictionary_encode()
    return (encoded.dictionary.cast(pa.string()),
            encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64))


def load_metrics(output: PublishedOutput) -> dict:
    """The verified body of a metrics output: ``{"metrics": {name: value}, "n_entities"}``."""
    body = _json(output, KIND_METRICS, "metrics", {"metrics", "n_entities"})
    metrics = body["metrics"]
    if not isinstance(metrics, dict) or sorted(metrics) != sorted(output.metadata["metrics"]) \
            or not all(_finite(v) for v in metrics.values()) \
            or body["n_entities"] != output.metadata["n_entities"]:
        raise InvalidInputError(f"metrics output {output.name!r} disagrees with its manifest")
    return body


def load_model_summary(output: PublishedOutput) -> dict:
    """The verified body of a model summary: ``{"params", "residual_df", "n_obs"}``."""
    body = _json(output, KIND_MODEL, "model", {"params", "residual_df", "n_obs"})
    params = body["params"]
    if not isinstance(params, dict) or len(params) != output.metadata["n_params"] \
            or not all(_finite(v) for v in params.values()) \
            or body["residual_df"] != output.metadata["residual_df"] \
            or body["n_obs"] != output.metadata["n_obs"]:
        raise InvalidInputError(f"model summary {output.name!r} disagrees with its manifest")
    return body


def _json(output: PublishedOutput, kind: str, role: str, keys: set[str]) -> dict:
    if output.kind != kind:
        raise InvalidInputError(f"output {output.name!r} is not of kind {kind}")
    try:
        body = json.loads(output.files[role].read_bytes())
    except (OSError, ValueError):
        raise InvalidInputError(f"output {output.name!r} is not readable JSON") from None
    if not isinstance(body, dict) or set(body) != keys:
        raise InvalidInputError(f"output {output.name!r} has an unexpected layout")
    return body


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _read(output: PublishedOutput, role: str, max_rows: int) -> pa.Table:
    try:
        parquet = pq.ParquetFile(output.files[role])
        if parquet.metadata.num_rows > max_rows:
            raise InvalidInputError(f"the {role} file of {output.name!r} has too many rows")
        return parquet.read()
    except InvalidInputError:
        raise
    except (OSError, pa.ArrowException, ValueError):
        raise InvalidInputError(f"the {role} file of {output.name!r} is not readable Parquet",
                                details={"output": output.name}) from None


def _check(table, cells, entities, unit_codes, by, statistics, n_cells) -> str | None:
    output_columns = [s["output_column"] for s in statistics]
    if table.column_names != [*by, *output_columns] or table.num_rows != n_cells:
        return "the table's columns or rows differ from the manifest"
    if cells.column_names != ["cell", *[f"key.{b}" for b in by], *_FACT_COLUMNS] \
            or cells.num_rows != n_cells * len(statistics):
        return "the cell facts have other columns or rows than the table"
    if entities.column_names != ["entity_scope", "cell", "entity"]:
        return "the entity sets have unexpected columns"
    if entities.schema.field("entity").type not in (pa.string(), pa.large_string()) \
            or not pa.types.is_integer(entities.schema.field("cell").type):
        return "the entity sets have unexpected column types"
    expected_types = {"cell": pa.int32(), "value": pa.float64(), "n_entities": pa.int64(),
                      "abs_total": pa.float64(), "top_contributions": pa.list_(pa.float64())}
    if any(cells.schema.field(k).type != t for k, t in expected_types.items()):
        return "the cell facts have unexpected column types"
    scope_sizes: dict[str, np.ndarray] = {}
    for index, statistic in enumerate(statistics):
        part = cells.slice(index * n_cells, n_cells)
        problem = _check_statistic(table, part, by, statistic, n_cells, scope_sizes)
        if problem:
            return problem
    return _check_entities(entities, unit_codes, scope_sizes, n_cells)


def _check_statistic(table, part, by, statistic, n_cells, scope_sizes) -> str | None:
    kind, column, output_column = (statistic["statistic"], statistic["column"],
                                   statistic["output_column"])
    for name, wanted in (("statistic", kind), ("column", column), ("output_column",
                                                                    output_column)):
        if part[name].to_pylist() != [wanted] * n_cells:
            return f"the facts of {output_column} are labelled inconsistently"
    if part["cell"].to_pylist() != list(range(n_cells)):
        return f"the facts of {output_column} are not in cell order"
    for name in by:
        if not part[f"key.{name}"].combine_chunks().equals(table[name].combine_chunks()):
            return f"the group values of {output_column} differ from the table's"
    released = table[output_column].combine_chunks()
    facts = part["value"].combine_chunks()
    if not released.cast(pa.float64()).equals(facts):
        return f"the released {output_column} values differ from the checked ones"
    scopes = set(part["entity_scope"].to_pylist())
    allowed = {"rows"} if kind == "count" else {"rows", f"value:{column}"}
    if len(scopes) != 1 or not scopes <= allowed:
        return f"the entity scope of {output_column} is invalid"
    n = part["n_entities"].to_numpy()
    if (n < 0).any():
        return f"{output_column} has negative entity counts"
    values = facts.to_numpy(zero_copy_only=False)
    scope = scopes.pop()
    if scope in scope_sizes and not np.array_equal(scope_sizes[scope], n):
        return f"{output_column} counts other entities than another statistic of its scope"
    scope_sizes[scope] = n
    if kind == "count":
        if part["abs_total"].null_count != n_cells or part["top_contributions"].null_count \
                != n_cells or np.isnan(values).any() or (values < n).any() \
                or ((values == 0) != (n == 0)).any():
            return "the count facts are impossible"
        return None
    return _check_contributions(part, values, n, output_column)


def _check_contributions(part, values, n, output_column) -> str | None:
    if part["abs_total"].null_count or part["top_contributions"].null_count:
        return f"{output_column} lacks contribution facts"
    if (np.isnan(values) != (n == 0)).any():
        return f"{output_column} has values for empty cells or none for filled ones"
    abs_total = part["abs_total"].to_numpy()
    if (abs_total < 0).any() or np.isnan(abs_total).any():
        return f"{output_column} has impossible absolute totals"
    filled = ~np.isnan(values)
    if (np.abs(values[filled]) > abs_total[filled] * (1 + _SLACK) + _SLACK).any():
        return f"{output_column} has values larger than their absolute totals"
    for top, count, total in zip(part["top_contributions"].to_pylist(), n.tolist(),
                                 abs_total.tolist()):
        if len(top) != min(TOP_CONTRIBUTIONS, count) or any(t < 0 for t in top) \
                or any(b > a for a, b in zip(top, top[1:])) \
                or sum(top) > total * (1 + _SLACK) + _SLACK:
            return f"{output_column} has impossible top contributions"
    return None


def _check_entities(entities, unit_codes, scope_sizes, n_cells) -> str | None:
    if entities.num_rows and (entities["entity"].null_count or entities["cell"].null_count):
        return "the entity sets hold nulls"
    present = set(pc.unique(entities["entity_scope"]).to_pylist()) if entities.num_rows else set()
    if not present <= set(scope_sizes):
        return "the entity sets hold a scope no statistic uses"
    all_cells = entities["cell"].to_numpy().astype(np.int64)
    n_units = int(unit_codes.max()) + 1 if unit_codes.size else 1
    for scope, sizes in scope_sizes.items():
        member = pc.equal(entities["entity_scope"], scope).to_numpy(zero_copy_only=False)
        cells = all_cells[member]
        if cells.size and (cells.min() < 0 or cells.max() >= n_cells):
            return "the entity sets name cells that do not exist"
        pairs = np.sort(cells * n_units + unit_codes[member])
        if (pairs[1:] == pairs[:-1]).any():
            return "the entity sets repeat an entity within a cell"
        if not np.array_equal(np.bincount(cells, minlength=n_cells), sizes):
            return "the entity sets do not match the distinct-entity counts"
    return None
