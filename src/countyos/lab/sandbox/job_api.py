"""``countyos_job``: what a lab job's code uses inside the sandbox to read data and publish outputs.

Mounted read-only as ``/opt/countyos/countyos_job.py`` (with ``countyos_job_aggregate.py``, the
aggregation in ``job_aggregate.py``); job code does ``import countyos_job``.
Reads inputs from ``/data/<name>.parquet`` and writes outputs under ``/out`` (``COUNTYOS_DATA`` /
``COUNTYOS_OUT`` override both, e.g. on a synthetic twin outside the sandbox).

Row-level data is handed to :func:`publish_table` / :func:`publish_figure`, which aggregate it
themselves so the checker gets the per-cell facts it needs: ``/out/<name>.table.parquet`` (the
candidate output: group values and statistics), ``/out/.quarantine/<name>.cells.parquet`` (per
cell and statistic: value, distinct entities, absolute total, three largest absolute entity
totals) and ``/out/.quarantine/<name>.entities.parquet`` (the entity keys, as text, behind each
cell, for the differencing check). Quarantine files never leave the domain.
``/out/manifest.json`` lists every published output. **Anything a job writes to /out without this
API is ignored**: only manifest entries are checked and considered for release.

Semantics follow ``countyos.lab.disclosure.stats``: ``count`` counts rows; a unit's contribution
to a ``sum``/``mean`` cell is the sum of its rows' non-null values there; rows with a null value do
not count for that statistic; null group values form their own group; every combination of the
observed (or declared) levels is a cell, empty ones included.

Imports only the standard library, numpy, pandas and pyarrow inside the sandbox; never
``countyos`` there (outside it, the aggregation module is taken from the package).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

try:  # inside the sandbox: the sibling file mounted beside this one
    from countyos_job_aggregate import PublishError, aggregate
except ImportError:  # outside the sandbox (tests, developers on synthetic twins)
    from countyos.lab.sandbox.job_aggregate import PublishError, aggregate

__all__ = ["InputNotFoundError", "PublishError", "aggregate", "inputs", "publish_figure",
           "publish_metrics", "publish_model_summary", "publish_table", "read"]

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
METRIC_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,62}$")
MAX_OUTPUTS = 100
MAX_METRICS = 1_000
MAX_PARAMS = 10_000
MAX_FIGURE_BYTES = 10 * 1024**2
QUARANTINE = ".quarantine"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


class InputNotFoundError(LookupError):
    """No input of that name was mounted for this job."""


def data_dir() -> Path:
    """Where inputs are mounted (``/data`` in the sandbox)."""
    return Path(os.environ.get("COUNTYOS_DATA", "/data"))


def out_dir() -> Path:
    """Where outputs go (``/out`` in the sandbox)."""
    return Path(os.environ.get("COUNTYOS_OUT", "/out"))


def inputs() -> list[str]:
    """Names of the inputs mounted for this job."""
    return sorted(p.name[: -len(".parquet")] for p in data_dir().glob("*.parquet"))


def read(name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read input ``name`` (``/data/<name>.parquet``) as a DataFrame.

    Raises:
        PublishError: a malformed name. InputNotFoundError: no such input.
    """
    _check_name(name)
    path = data_dir() / f"{name}.parquet"
    if not path.is_file():
        raise InputNotFoundError(f"no input named {name!r}; available: {inputs()}")
    return pd.read_parquet(path, columns=list(columns) if columns is not None else None)


def publish_table(name: str, data: pd.DataFrame, *, by: Sequence[str], entity: str,
                  count: bool = True, sum: str | None = None, mean: str | None = None,
                  levels: Mapping[str, Sequence] | None = None) -> None:
    """Aggregate row-level ``data`` by ``by`` and publish the table with its per-cell facts.

    Args:
        name: output name, ``^[a-z][a-z0-9_]{0,62}$``, unique within the job.
        data: row-level rows (a DataFrame or pyarrow Table).
        by: group-by columns (at least one).
        entity: the column identifying units (person, firm); thresholds count its distinct values.
        count: publish the row count per cell (column ``count``).
        sum: a numeric column to total per cell (column ``sum_<column>``).
        mean: a numeric column to average per cell (column ``mean_<column>``).
        levels: declared levels per group column, listed (as empty cells) even when absent.

    Raises:
        PublishError: bad name or columns, no statistic, null entity keys, too many cells.
    """
    _check_new_name(name)
    table, cells, entities, metadata = aggregate(data, by=by, entity=entity, count=count,
                                                 sum=sum, mean=mean, levels=levels)
    files = _write_table_files(name, table, cells, entities)
    _add_to_manifest({"name": name, "kind": "table", "files": files, "metadata": metadata})


def publish_figure(name: str, figure, *, data: pd.DataFrame, by: Sequence[str], entity: str,
                   count: bool = True, sum: str | None = None, mean: str | None = None,
                   levels: Mapping[str, Sequence] | None = None, dpi: int = 100) -> None:
    """Publish a matplotlib figure as PNG together with the table it shows (checked as a table).

    Args:
        name: output name (as for :func:`publish_table`).
        figure: a matplotlib ``Figure`` (anything with ``savefig``).
        data, by, entity, count, sum, mean, levels: the rows behind the figure, as for
            :func:`publish_table`; the figure may show nothing the table does not.
        dpi: resolution of the PNG (10 to 300).

    Raises:
        PublishError: as for :func:`publish_table`, or the figure does not render to a PNG of at
            most 10 MiB.
    """
    _check_new_name(name)
    if not hasattr(figure, "savefig"):
        raise PublishError("publish_figure needs a matplotlib figure (an object with savefig)")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 10 <= dpi <= 300:
        raise PublishError("dpi must be a whole number from 10 to 300")
    table, cells, entities, metadata = aggregate(data, by=by, entity=entity, count=count,
                                                 sum=sum, mean=mean, levels=levels)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    png = buffer.getvalue()
    if not png.startswith(b"\x89PNG\r\n\x1a\n") or len(png) > MAX_FIGURE_BYTES:
        raise PublishError("the figure did not render to a PNG of at most 10 MiB")
    files = _write_table_files(name, table, cells, entities)
    files["figure"] = f"{name}.png"
    _atomic_write(out_dir() / files["figure"], png)
    _add_to_manifest({"name": name, "kind": "figure", "files": files, "metadata": metadata})


def publish_metrics(name: str, metrics: Mapping[str, float], *, n_entities: int) -> None:
    """Publish named numbers (e.g. model accuracy) computed over ``n_entities`` units.

    Raises:
        PublishError: bad names, non-finite values, more than 1,000 metrics, bad ``n_entities``.
    """
    _check_new_name(name)
    if not isinstance(metrics, Mapping) or not metrics or len(metrics) > MAX_METRICS:
        raise PublishError(f"metrics must be a mapping of 1 to {MAX_METRICS} names to numbers")
    values = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not METRIC_PATTERN.match(key):
            raise PublishError(f"metric names must match {METRIC_PATTERN.pattern}")
        values[key] = _finite(value, "a metric")
    n_entities = _count(n_entities, "n_entities")
    files = {"metrics": f"{name}.metrics.json"}
    body = {"metrics": values, "n_entities": n_entities}
    _atomic_write(out_dir() / files["metrics"], json.dumps(body).encode())
    _add_to_manifest({"name": name, "kind": "metrics", "files": files,
                      "metadata": {"n_entities": n_entities, "metrics": sorted(values)}})


def publish_model_summary(name: str, *, params: Mapping[str, float], residual_df: int,
                          n_obs: int) -> None:
    """Publish fitted model parameters with the degrees of freedom the checker needs.

    Raises:
        PublishError: bad or non-finite parameters, negative counts, ``residual_df > n_obs``.
    """
    _check_new_name(name)
    if not isinstance(params, Mapping) or not params or len(params) > MAX_PARAMS:
        raise PublishError(f"params must be a mapping of 1 to {MAX_PARAMS} names to numbers")
    values = {}
    for key, value in params.items():
        key = str(key)
        if not key or len(key) > 200 or not key.isprintable():
            raise PublishError("parameter names must be 1 to 200 printable characters")
        values[key] = _finite(value, "a parameter")
    residual_df, n_obs = _count(residual_df, "residual_df"), _count(n_obs, "n_obs")
    if residual_df > n_obs:
        raise PublishError("residual_df cannot exceed n_obs")
    files = {"model": f"{name}.model.json"}
    body = {"params": values, "residual_df": residual_df, "n_obs": n_obs}
    _atomic_write(out_dir() / files["model"], json.dumps(body).encode())
    _add_to_manifest({"name": name, "kind": "model_summary", "files": files,
                      "metadata": {"residual_df": residual_df, "n_obs": n_obs,
                                   "n_params": len(values)}})


# --- writing ------------------------------------------------------------------------------------

def _write_table_files(name: str, table: pa.Table, cells: pa.Table, entities: pa.Table) -> dict:
    files = {"table": f"{name}.table.parquet",
             "cells": f"{QUARANTINE}/{name}.cells.parquet",
             "entities": f"{QUARANTINE}/{name}.entities.parquet"}
    (out_dir() / QUARANTINE).mkdir(parents=True, exist_ok=True)
    for role, frame in (("cells", cells), ("entities", entities), ("table", table)):
        buffer = pa.BufferOutputStream()
        pq.write_table(frame, buffer)
        _atomic_write(out_dir() / files[role], buffer.getvalue().to_pybytes())
    return files


def _atomic_write(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def _manifest() -> dict:
    path = out_dir() / MANIFEST
    if not path.exists():
        return {"version": MANIFEST_VERSION, "outputs": []}
    return json.loads(path.read_text(encoding="utf-8"))


def _add_to_manifest(entry: dict) -> None:
    manifest = _manifest()
    manifest["outputs"].append(entry)
    _atomic_write(out_dir() / MANIFEST, json.dumps(manifest, indent=1).encode())


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise PublishError(f"names must match {NAME_PATTERN.pattern}")


def _check_new_name(name: str) -> None:
    _check_name(name)
    outputs = _manifest()["outputs"]
    if any(entry.get("name") == name for entry in outputs):
        raise PublishError(f"an output named {name!r} was already published")
    if len(outputs) >= MAX_OUTPUTS:
        raise PublishError(f"a job publishes at most {MAX_OUTPUTS} outputs")


def _finite(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PublishError(f"{what} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise PublishError(f"{what} must be finite")
    return number


def _count(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise PublishError(f"{what} must be a whole number of at least 0")
    return int(value)
