"""Reading what a job published: the strictly validated ``manifest.json`` of an output directory.

Owns :class:`PublishedOutput` and :func:`read_manifest`. The manifest is written by code running
inside the sandbox, so the job controls it: every field is checked against what the in-job API
(``countyos_job``) writes — names ``^[a-z][a-z0-9_]{0,62}$``, known kinds, the exact file names
the API uses for that name and kind (never a path taken from the manifest), regular files inside
the directory reached without symbolic links, bounded sizes, well-formed metadata. Files in the
directory that no entry names are ignored: they are never checked and never released.

Messages name the entry and field that is wrong and never quote the job's values. It must not
decide disclosure or release anything; table contents are checked in ``published_tables.py``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from countyos.errors import InvalidInputError
from countyos.lab.sandbox.limits import NAME_PATTERN

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_OUTPUTS = 100
MAX_CELLS = 100_000
MAX_GROUP_COLUMNS = 16
MAX_COLUMN_NAME = 200
QUARANTINE = ".quarantine"

KIND_TABLE, KIND_FIGURE, KIND_METRICS, KIND_MODEL = "table", "figure", "metrics", "model_summary"
KINDS = (KIND_TABLE, KIND_FIGURE, KIND_METRICS, KIND_MODEL)
STATISTICS = ("count", "sum", "mean")

#: Roles of files that never leave the domain (inputs of the checks only).
QUARANTINE_ROLES = frozenset({"cells", "entities"})

_MAX_FILE_BYTES = {
    "table": 256 * 1024**2, "cells": 256 * 1024**2, "entities": 1024**3,
    "figure": 10 * 1024**2, "metrics": 1024**2, "model": 4 * 1024**2,
}


def expected_files(name: str, kind: str) -> dict[str, str]:
    """The files (role → path relative to the output directory) the job API writes."""
    table_files = {"table": f"{name}.table.parquet",
                   "cells": f"{QUARANTINE}/{name}.cells.parquet",
                   "entities": f"{QUARANTINE}/{name}.entities.parquet"}
    if kind == KIND_TABLE:
        return table_files
    if kind == KIND_FIGURE:
        return {**table_files, "figure": f"{name}.png"}
    if kind == KIND_METRICS:
        return {"metrics": f"{name}.metrics.json"}
    if kind == KIND_MODEL:
        return {"model": f"{name}.model.json"}
    raise ValueError(kind)


@dataclass(frozen=True)
class PublishedOutput:
    """One output a job published through ``countyos_job``.

    Attributes:
        name: the output's name.
        kind: ``"table"``, ``"figure"``, ``"metrics"`` or ``"model_summary"``.
        files: role → absolute path; roles ``cells`` and ``entities`` are quarantine files.
        metadata: validated facts: tables and figures ``by``, ``entity``, ``statistics`` (each
            ``{"statistic", "column", "output_column"}``), ``n_cells``; metrics ``n_entities``,
            ``metrics``; model summaries ``residual_df``, ``n_obs``, ``n_params``.
    """

    name: str
    kind: str
    files: Mapping[str, Path]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def release_files(self) -> dict[str, Path]:
        """The files that may leave the domain once the checks allow it."""
        return {role: path for role, path in self.files.items() if role not in QUARANTINE_ROLES}


def read_manifest(output_dir: Path) -> list[PublishedOutput]:
    """The outputs a job published, after checking the manifest strictly.

    Args:
        output_dir: the job's output directory (``SandboxResult.output_dir``).

    Returns:
        The outputs in publication order (empty when the job published nothing).

    Raises:
        InvalidInputError: the manifest or a file it names breaks a rule; nothing of the job's
            outputs should be used then.
    """
    output_dir = Path(output_dir).absolute()
    manifest_path = output_dir / MANIFEST_NAME
    if not os.path.lexists(manifest_path):
        return []
    raw = _read_regular_file(output_dir, MANIFEST_NAME, MAX_MANIFEST_BYTES, "the manifest")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("the manifest is not valid JSON") from None
    if not isinstance(document, dict) or set(document) != {"version", "outputs"}:
        raise _invalid("the manifest must hold exactly 'version' and 'outputs'")
    if document["version"] != MANIFEST_VERSION:
        raise _invalid("the manifest has an unknown version")
    entries = document["outputs"]
    if not isinstance(entries, list) or len(entries) > MAX_OUTPUTS:
        raise _invalid(f"'outputs' must be a list of at most {MAX_OUTPUTS} entries")
    outputs: list[PublishedOutput] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        output = _check_entry(output_dir, position, entry)
        if output.name in seen:
            raise _invalid(f"output #{position} repeats the name of an earlier output")
        seen.add(output.name)
        outputs.append(output)
    return outputs


def _check_entry(output_dir: Path, position: int, entry: object) -> PublishedOutput:
    where = f"output #{position}"
    if not isinstance(entry, dict) or set(entry) != {"name", "kind", "files", "metadata"}:
        raise _invalid(f"{where} must hold exactly name, kind, files and metadata")
    name, kind = entry["name"], entry["kind"]
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise _invalid(f"{where} has a name not matching {NAME_PATTERN.pattern}")
    if kind not in KINDS:
        raise _invalid(f"{where} has an unknown kind", output=name)
    expected = expected_files(name, kind)
    if entry["files"] != expected:
        raise _invalid(f"{where} names other files than the job API writes", output=name)
    files = {}
    for role, relative in expected.items():
        _read_regular_file(output_dir, relative, _MAX_FILE_BYTES[role], f"{where} {role} file",
                           content=False)
        files[role] = output_dir / relative
    metadata = _check_metadata(where, name, kind, entry["metadata"])
    return PublishedOutput(name=name, kind=kind, files=files, metadata=metadata)


def _check_metadata(where: str, name: str, kind: str, metadata: object) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise _invalid(f"{where} metadata must be an object", output=name)
    if kind in (KIND_TABLE, KIND_FIGURE):
        return _table_metadata(where, name, metadata)
    if kind == KIND_METRICS:
        _exact_keys(where, name, metadata, {"n_entities", "metrics"})
        metrics = metadata["metrics"]
        if not isinstance(metrics, list) or not 1 <= len(metrics) <= 1000 or not all(
            isinstance(m, str) and 0 < len(m) <= 63 for m in metrics
        ):
            raise _invalid(f"{where} metadata 'metrics' must list 1 to 1000 names", output=name)
        return {"n_entities": _count(where, name, metadata, "n_entities"),
                "metrics": list(metrics)}
    _exact_keys(where, name, metadata, {"residual_df", "n_obs", "n_params"})
    checked = {key: _count(where, name, metadata, key) for key in ("residual_df", "n_obs",
                                                                  "n_params")}
    if checked["residual_df"] > checked["n_obs"]:
        raise _invalid(f"{where} metadata has residual_df above n_obs", output=name)
    return checked


def _table_metadata(where: str, name: str, metadata: dict) -> dict[str, Any]:
    _exact_keys(where, name, metadata, {"by", "entity", "statistics", "n_cells"})
    by, entity, statistics = metadata["by"], metadata["entity"], metadata["statistics"]
    if not isinstance(by, list) or not 1 <= len(by) <= MAX_GROUP_COLUMNS or not all(
        _column_name(column) for column in by
    ) or len(set(by)) != len(by):
        raise _invalid(f"{where} metadata 'by' must list 1 to {MAX_GROUP_COLUMNS} distinct "
                       "column names", output=name)
    if not _column_name(entity) or entity in by:
        raise _invalid(f"{where} metadata 'entity' must be a column name not in 'by'",
                       output=name)
    if not isinstance(statistics, list) or not 1 <= len(statistics) <= len(STATISTICS):
        raise _invalid(f"{where} metadata 'statistics' must list 1 to 3 statistics", output=name)
    checked_statistics, output_columns = [], set()
    for statistic in statistics:
        if not isinstance(statistic, dict) or set(statistic) != {"statistic", "column",
                                                                 "output_column"}:
            raise _invalid(f"{where} has a malformed statistic", output=name)
        kind, column = statistic["statistic"], statistic["column"]
        valid = (kind == "count" and column is None) or (kind in ("sum", "mean")
                                                         and _column_name(column))
        expected_column = kind if column is None else f"{kind}_{column}"
        if not valid or statistic["output_column"] != expected_column \
                or expected_column in output_columns or expected_column in by:
            raise _invalid(f"{where} has an inconsistent statistic", output=name)
        output_columns.add(expected_column)
        checked_statistics.append({"statistic": kind, "column": column,
                                   "output_column": expected_column})
    n_cells = _count(where, name, metadata, "n_cells")
    if not 1 <= n_cells <= MAX_CELLS:
        raise _invalid(f"{where} metadata 'n_cells' must be 1 to {MAX_CELLS}", output=name)
    return {"by": list(by), "entity": entity, "statistics": checked_statistics,
            "n_cells": n_cells}


def _column_name(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_COLUMN_NAME and value.isprintable()


def _exact_keys(where: str, name: str, metadata: dict, keys: set[str]) -> None:
    if set(metadata) != keys:
        raise _invalid(f"{where} metadata must hold exactly {sorted(keys)}", output=name)


def _count(where: str, name: str, metadata: dict, key: str) -> int:
    value = metadata[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**12:
        raise _invalid(f"{where} metadata '{key}' must be a whole number of at least 0",
                       output=name)
    return value


def _read_regular_file(output_dir: Path, relative: str, max_bytes: int, what: str,
                       *, content: bool = True) -> bytes:
    """Check ``output_dir/relative`` is a regular file reached without links; maybe read it."""
    current = output_dir
    for part in Path(relative).parts[:-1]:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            raise _invalid(f"{what} is missing") from None
        if not stat.S_ISDIR(mode):
            raise _invalid(f"{what} is not inside a plain directory")
    path = output_dir / relative
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise _invalid(f"{what} is missing") from None
    except OSError:
        raise _invalid(f"{what} is not a regular file") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise _invalid(f"{what} is not a regular file")
        if info.st_size > max_bytes:
            raise _invalid(f"{what} is larger than {max_bytes} bytes")
        if not content:
            return b""
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            return handle.read(max_bytes + 1)
    finally:
        os.close(descriptor)


def _invalid(message: str, *, output: str | None = None) -> InvalidInputError:
    details = {"output": output} if output else {}
    return InvalidInputError(f"the job's output manifest is invalid: {message}", details=details)
