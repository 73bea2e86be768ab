"""The in-job output API (``countyos_job``) outside the sandbox: aggregation and its files.

The per-cell facts are compared with ``countyos.lab.disclosure.compute_cell_stats`` (written
independently by the disclosure checks) and with plain pandas group-bys.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from countyos.lab.disclosure import compute_cell_stats
from countyos.lab.sandbox import job_api


@pytest.fixture
def out(tmp_path, monkeypatch):
    directory = tmp_path / "out"
    directory.mkdir()
    monkeypatch.setenv("COUNTYOS_OUT", str(directory))
    monkeypatch.setenv("COUNTYOS_DATA", str(tmp_path / "data"))
    return directory


def people(seed: int, rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8, 1, rows) * rng.choice([1, -1], rows, p=[0.9, 0.1])
    income[rng.random(rows) < 0.1] = np.nan
    town = rng.choice(["east", "west", "north", None], rows, p=[0.5, 0.3, 0.15, 0.05])
    return pd.DataFrame({
        "town": pd.array(town, dtype="object"),
        "sex": rng.choice(["F", "M"], rows),
        "pid": rng.integers(0, rows // 3, rows),  # several rows per person
        "income": income,
    })


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("statistic", ["count", "sum", "mean"])
def test_cell_facts_match_the_disclosure_library(seed, statistic):
    frame = people(seed)
    kwargs = {"count": statistic == "count", "sum": "income" if statistic == "sum" else None,
              "mean": "income" if statistic == "mean" else None}
    _, cells, _, _ = job_api.aggregate(frame, by=["town", "sex"], entity="pid", **kwargs)
    ours = cells.to_pylist()
    reference = compute_cell_stats(pa.Table.from_pandas(frame, preserve_index=False),
                                   ["town", "sex"], "pid", statistic,
                                   None if statistic == "count" else "income", top_n=3)
    assert len(ours) == len(reference.cells)
    by_key = {(row["key.town"], row["key.sex"]): row for row in ours}
    for cell in reference.cells:
        row = by_key[cell.key]
        assert row["n_entities"] == cell.n_entities
        if cell.value is None:
            assert row["value"] is None
        else:
            assert row["value"] == pytest.approx(cell.value, rel=1e-12)
        if statistic != "count":
            assert row["abs_total"] == pytest.approx(cell.abs_total, rel=1e-12)
            assert list(row["top_contributions"]) == pytest.approx(list(cell.top_contributions))


def test_table_and_entity_sets_agree_with_pandas():
    frame = people(7)
    table, cells, entities, metadata = job_api.aggregate(
        frame, by=["town"], entity="pid", sum="income", mean="income")
    released = {line["town"]: line for line in table.to_pylist()}
    assert len(released) == frame.town.nunique(dropna=False)
    for town, group in frame.groupby("town", dropna=False):
        line = released[None if pd.isna(town) else town]
        assert line["count"] == len(group)
        assert line["sum_income"] == pytest.approx(group["income"].sum())
        assert line["mean_income"] == pytest.approx(group["income"].mean())
    members = entities.to_pandas()
    for fact in cells.to_pylist():
        if fact["statistic"] != "count":
            continue
        in_cell = members[(members.entity_scope == "rows") & (members.cell == fact["cell"])]
        town = fact["key.town"]
        group = frame[frame.town.isna()] if town is None else frame[frame.town == town]
        assert set(in_cell.entity) == {str(p) for p in group.pid}
    value_scope = members[members.entity_scope == "value:income"]
    assert not value_scope.empty  # income has nulls, so its units differ from the rows'
    assert metadata["statistics"][1] == {"statistic": "sum", "column": "income",
                                         "output_column": "sum_income"}


def test_empty_cells_and_declared_levels_are_listed():
    frame = pd.DataFrame({"town": ["east", "east", "west"], "sex": ["F", "M", "F"],
                          "pid": ["a", "b", "c"], "income": [1.0, 2.0, 3.0]})
    table, _, _, metadata = job_api.aggregate(
        frame, by=["town", "sex"], entity="pid", sum="income",
        levels={"town": ["south", "east", "west"]})
    result = table.to_pylist()
    assert metadata["n_cells"] == 6
    assert [line["town"] for line in result] == ["south", "south", "east", "east", "west", "west"]
    empty = next(line for line in result if (line["town"], line["sex"]) == ("west", "M"))
    assert empty["count"] == 0 and empty["sum_income"] is None


def test_publish_table_writes_release_quarantine_and_manifest(out):
    frame = people(4)
    job_api.publish_table("income_by_town", frame, by=["town"], entity="pid", mean="income")
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["outputs"][0]
    assert entry["kind"] == "table"
    assert entry["files"] == {"table": "income_by_town.table.parquet",
                              "cells": ".quarantine/income_by_town.cells.parquet",
                              "entities": ".quarantine/income_by_town.entities.parquet"}
    released = pq.read_table(out / "income_by_town.table.parquet")
    assert released.column_names == ["town", "count", "mean_income"]
    assert "pid" not in pq.read_table(out / ".quarantine/income_by_town.cells.parquet").column_names


def test_metrics_model_and_duplicate_names(out):
    job_api.publish_metrics("fit", {"r2": 0.25, "rmse": 3}, n_entities=120)
    job_api.publish_model_summary("ols", params={"Intercept": 1.5, "C(town)[T.west]": -0.2},
                                  residual_df=97, n_obs=100)
    with pytest.raises(job_api.PublishError, match="already published"):
        job_api.publish_metrics("fit", {"r2": 0.3}, n_entities=120)
    kinds = [entry["kind"] for entry in json.loads((out / "manifest.json").read_text())["outputs"]]
    assert kinds == ["metrics", "model_summary"]
    body = json.loads((out / "ols.model.json").read_text())
    assert body == {"params": {"Intercept": 1.5, "C(town)[T.west]": -0.2}, "residual_df": 97,
                    "n_obs": 100}


@pytest.mark.parametrize("call, message", [
    (lambda f: job_api.publish_table("Bad-Name", f, by=["town"], entity="pid"), "names must"),
    (lambda f: job_api.publish_table("t", f, by=[], entity="pid"), "non-empty list"),
    (lambda f: job_api.publish_table("t", f, by=["town"], entity="nope"), "no column"),
    (lambda f: job_api.publish_table("t", f, by=["town"], entity="town"), "entity column"),
    (lambda f: job_api.publish_table("t", f, by=["town"], entity="pid", count=False),
     "at least one statistic"),
    (lambda f: job_api.publish_table("t", f, by=["town"], entity="pid", sum="sex"),
     "not numeric"),
    (lambda f: job_api.publish_table("t", f.assign(pid=None), by=["town"], entity="pid"),
     "nulls"),
    (lambda f: job_api.publish_table("t", f.assign(pid=1.5), by=["town"], entity="pid"),
     "integers or text"),
    (lambda f: job_api.publish_table("t", f.assign(income=np.inf), by=["town"], entity="pid",
                                     sum="income"), "infinite"),
    (lambda f: job_api.publish_metrics("m", {"a": float("nan")}, n_entities=3), "finite"),
    (lambda f: job_api.publish_metrics("m", {"bad name": 1.0}, n_entities=3), "metric names"),
    (lambda f: job_api.publish_model_summary("m", params={"x": 1.0}, residual_df=5, n_obs=4),
     "residual_df"),
    (lambda f: job_api.publish_figure("fig", object(), data=f, by=["town"], entity="pid"),
     "matplotlib figure"),
])
def test_bad_publications_are_refused_and_write_nothing(out, call, message):
    with pytest.raises(job_api.PublishError, match=message):
        call(people(5))
    assert not (out / "manifest.json").exists()


def test_too_many_cells_are_refused(out):
    frame = pd.DataFrame({"a": range(400), "b": range(400), "pid": range(400)})
    with pytest.raises(job_api.PublishError, match="cells"):
        job_api.publish_table("wide", frame, by=["a", "b"], entity="pid")


def test_read_names_missing_inputs(out, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"x": [1, 2]}).to_parquet(data / "present.parquet")
    assert job_api.inputs() == ["present"]
    assert list(job_api.read("present").x) == [1, 2]
    with pytest.raises(job_api.InputNotFoundError):
        job_api.read("absent")
    with pytest.raises(job_api.PublishError):
        job_api.read("../etc/passwd")


def _facts(frame, **kwargs):
    table, cells, entities, metadata = job_api.aggregate(frame, **kwargs)
    members = {}
    for row in entities.to_pylist():
        members.setdefault((row["entity_scope"], row["cell"]), set()).add(row["entity"])
    return table.to_pylist(), cells.to_pylist(), members, metadata


@pytest.mark.parametrize("variant", ["str", "pyarrow-string", "python-string", "category"])
def test_column_types_do_not_change_what_is_published(variant):
    """Text group and entity columns give the same table, facts and entity sets as plain
    Python objects (the reference path), whatever pandas type holds them."""
    frame = people(9)
    frame["pid"] = [f"P{p:04d}" for p in frame["pid"]]
    reference = frame.astype({"town": object, "sex": object, "pid": object})
    dtype = {"str": "str", "pyarrow-string": "string[pyarrow]", "python-string": "string[python]",
             "category": "category"}[variant]
    typed = frame.astype({"town": dtype, "sex": dtype, "pid": dtype})
    kwargs = {"by": ["town", "sex"], "entity": "pid", "sum": "income",
              "levels": {"sex": ["M", "F", "X"]}}
    assert _facts(typed, **kwargs) == _facts(reference, **kwargs)


@pytest.mark.parametrize("dtype", ["int64", "Int64", "uint32", "int64[pyarrow]"])
def test_integer_columns_group_and_key_like_python_ints(dtype):
    frame = people(10)
    frame["age_band"] = (frame.index % 4) * 10
    reference = frame.astype({"age_band": object, "pid": object})
    typed = frame.astype({"age_band": dtype, "pid": dtype})
    kwargs = {"by": ["age_band"], "entity": "pid", "count": True, "levels": {"age_band": [40, 0]}}
    ours, theirs = _facts(typed, **kwargs), _facts(reference, **kwargs)
    assert ours == theirs
    assert [row["age_band"] for row in ours[0]] == [40, 0, 10, 20, 30]
    assert all(entity.isdigit() for cell in ours[2].values() for entity in cell)
