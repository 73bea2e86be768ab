"""Run ACRO (the SACRO project's output checker) on crosstabs; report as JSON the cells it flags.

Runs in its own venv (``/work/main/.venv-acro``: acro pins pandas <= 2.3.3, which clashes with
CountyOS's venv); ``tests/integration/lab/test_acro_agreement.py`` calls it as a subprocess and
compares the result with CountyOS's checks. Not a test module itself; it imports nothing from
CountyOS.

Usage::

    python acro_runner.py REQUEST.json [OUT.json]     # without OUT, the JSON goes to stdout

REQUEST is ``{"jobs": [{"name": ..., "mode": ..., "data": path, "tables": [...]}, ...]}`` (one
process for all jobs: importing acro takes seconds); modes:

- ``checks``: ``tables`` is a list of ``{"name", "rows", "cols", "statistic": "count" | "mean" |
  "sum", "value": column or null, "exclude": [values of the value column to drop], "require":
  [further columns that must not be null]}``; rows with a null in any of these columns are
  dropped; ACRO checks each crosstab (no suppression) and the flags per cell are written out;
- ``suppress``: ``tables`` as above plus ``"margins": true|false``; ACRO runs with
  ``suppress=True`` and the released table (NaN as null) and flags are written out.

Labels are written as strings (floats holding whole numbers without ``.0``) so both sides agree.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import warnings
from typing import Any

CHECK_NAMES = {
    "MinimumThresholdCheck": "threshold",
    "PPercentCheck": "p_ratio",
    "NKCheck": "nk",
    "PresenceOfZeroCheck": "zero",
}


def label(value: Any) -> str:
    """The string form of a group label, the same on both sides of the comparison."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item"):
        return label(value.item())
    return str(value)


_FRAMES: dict[str, Any] = {}


def load(path: str, spec: dict) -> Any:
    """The rows of one table: group columns and value without nulls, excluded values dropped."""
    import pandas as pd

    if path not in _FRAMES:
        _FRAMES[path] = pd.read_csv(path)
    frame = _FRAMES[path]
    needed = [spec["rows"], spec["cols"]] + ([spec["value"]] if spec.get("value") else [])
    needed += list(spec.get("require", []))
    frame = frame.dropna(subset=needed)
    if spec.get("value") and spec.get("exclude"):
        frame = frame[~frame[spec["value"]].isin(spec["exclude"])]
    return frame.reset_index(drop=True)


def crosstab(acro: Any, frame: Any, spec: dict, margins: bool) -> Any:
    rows, cols = frame[spec["rows"]], frame[spec["cols"]]
    if spec["statistic"] == "count":
        return acro.crosstab(rows, cols, margins=margins)
    return acro.crosstab(
        rows, cols, values=frame[spec["value"]], aggfunc=spec["statistic"], margins=margins
    )


def flags_of(outcome: Any) -> dict[str, dict[str, list[str]]]:
    """Per cell (row label -> column label) the CountyOS names of the checks ACRO failed."""
    result: dict[str, dict[str, list[str]]] = {}
    for row_label in outcome.index:
        row: dict[str, list[str]] = {}
        for col_label in outcome.columns:
            text = str(outcome.loc[row_label, col_label])
            col_key = label(col_label[-1] if isinstance(col_label, tuple) else col_label)
            row[col_key] = sorted(name for check, name in CHECK_NAMES.items() if check in text)
        result[label(row_label)] = row
    return result


def values_of(table: Any) -> dict[str, dict[str, float | None]]:
    result: dict[str, dict[str, float | None]] = {}
    for row_label in table.index:
        row: dict[str, float | None] = {}
        for col_label in table.columns:
            value = table.loc[row_label, col_label]
            col_key = label(col_label[-1] if isinstance(col_label, tuple) else col_label)
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            row[col_key] = None if missing else float(value)
        result[label(row_label)] = row
    return result


def run_job(job: dict) -> dict:
    """Run the crosstabs of one job with a fresh ACRO session."""
    from acro import ACRO

    acro = ACRO(suppress=job["mode"] == "suppress")
    logging.disable(logging.CRITICAL)
    config = {
        key: acro.config[key]
        for key in ("safe_threshold", "safe_pratio_p", "safe_nk_n", "safe_nk_k",
                    "zeros_are_disclosive")
    }
    tables = []
    for spec in job["tables"]:
        frame = load(job["data"], spec)
        table = crosstab(acro, frame, spec, bool(spec.get("margins", False)))
        output = list(acro.results.results.values())[-1]
        tables.append(
            {
                "name": spec["name"],
                "status": output.status,
                "flags": flags_of(output.outcome),
                "values": values_of(table),
            }
        )
    return {"name": job["name"], "config": config, "tables": tables}


def main(request_path: str, out_path: str | None = None) -> None:
    warnings.filterwarnings("ignore")
    logging.disable(logging.CRITICAL)
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    os.chdir(tempfile.mkdtemp(prefix="acro-runner-"))  # ACRO may write files in the cwd
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the JSON only
        from acro.version import __version__ as version

        jobs = [run_job(job) for job in request["jobs"]]
    result = {"acro_version": version, "jobs": jobs}
    if out_path is None:
        json.dump(result, sys.stdout)
        return
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
