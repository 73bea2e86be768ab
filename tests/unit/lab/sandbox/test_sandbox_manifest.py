"""Reading a job's outputs back: the manifest is job-controlled, so every tampering must be refused.

Valid output directories are made with the real in-job API (``countyos_job``) outside the
sandbox, then altered the way a hostile job could.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from countyos.errors import InvalidInputError
from countyos.lab.disclosure import DisclosureRules, check_table, entity_hashes
from countyos.lab.sandbox import (
    job_api,
    load_metrics,
    load_model_summary,
    load_published_table,
    read_manifest,
)


@pytest.fixture
def published(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("COUNTYOS_OUT", str(out))
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"town": rng.choice(["east", "west", "north"], 300),
                          "pid": rng.integers(0, 120, 300),
                          "income": rng.normal(1000, 300, 300)})
    frame.loc[frame.index[:7], "income"] = np.nan
    job_api.publish_table("by_town", frame, by=["town"], entity="pid", sum="income",
                          mean="income")
    job_api.publish_metrics("fit", {"r2": 0.4}, n_entities=120)
    job_api.publish_model_summary("ols", params={"x": 2.0}, residual_df=298, n_obs=300)
    return out


def rewrite_manifest(out, change):
    manifest = json.loads((out / "manifest.json").read_text())
    change(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))


def test_valid_outputs_are_read_and_verified(published):
    outputs = read_manifest(published)
    assert [(o.name, o.kind) for o in outputs] == [("by_town", "table"), ("fit", "metrics"),
                                                   ("ols", "model_summary")]
    table = load_published_table(outputs[0])
    assert set(table.output.release_files) == {"table"}
    assert load_metrics(outputs[1])["metrics"] == {"r2": 0.4}
    assert load_model_summary(outputs[2])["residual_df"] == 298
    report = check_table(table.output_table("count"), DisclosureRules(threshold=10))
    assert report is not None
    sets = {key: entity_hashes(keys, b"k" * 16) for key, keys in
            table.entity_keys("sum_income").items()}
    counts = {cell.key: cell.n_entities for cell in table.output_table("sum_income").cells}
    assert {key: len(hashes) for key, hashes in sets.items()} == counts


def test_no_manifest_means_no_outputs(tmp_path):
    (tmp_path / "stray.csv").write_text("a,b\n1,2\n")
    assert read_manifest(tmp_path) == []


@pytest.mark.parametrize("change, message", [
    (lambda m: m["outputs"][0].update(name="../../etc"), "name"),
    (lambda m: m["outputs"][0].update(name="By_Town"), "name"),
    (lambda m: m["outputs"][0].update(kind="shell"), "kind"),
    (lambda m: m["outputs"][0]["files"].update(table="/etc/passwd"), "other files"),
    (lambda m: m["outputs"][0]["files"].update(table="../by_town.table.parquet"),
     "other files"),
    (lambda m: m["outputs"][0]["files"].pop("cells"), "other files"),
    (lambda m: m["outputs"][0].update(extra=1), "exactly"),
    (lambda m: m.update(version=2), "version"),
    (lambda m: m["outputs"].append(dict(m["outputs"][1])), "repeats"),
    (lambda m: m["outputs"][0]["metadata"].update(by=[]), "'by'"),
    (lambda m: m["outputs"][0]["metadata"].update(entity="town"), "'entity'"),
    (lambda m: m["outputs"][0]["metadata"]["statistics"][1].update(output_column="count"),
     "inconsistent"),
    (lambda m: m["outputs"][0]["metadata"].update(n_cells=10**9), "n_cells"),
    (lambda m: m["outputs"][1]["metadata"].update(n_entities=-1), "n_entities"),
    (lambda m: m["outputs"][2]["metadata"].update(residual_df=10**6), "residual_df"),
])
def test_tampered_manifests_are_refused(published, change, message):
    rewrite_manifest(published, change)
    with pytest.raises(InvalidInputError, match=message):
        read_manifest(published)


def test_manifest_that_is_not_json_or_too_large(published):
    (published / "manifest.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        read_manifest(published)
    (published / "manifest.json").write_bytes(b" " * (1024 * 1024 + 1))
    with pytest.raises(InvalidInputError, match="larger"):
        read_manifest(published)


def test_symlinks_out_of_the_directory_are_refused(published, tmp_path):
    secret = tmp_path / "secret.parquet"
    pq.write_table(pa.table({"x": [1]}), secret)
    table_file = published / "by_town.table.parquet"
    table_file.unlink()
    table_file.symlink_to(secret)
    with pytest.raises(InvalidInputError, match="not a regular file"):
        read_manifest(published)


def test_symlinked_quarantine_directory_is_refused(published, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    os.rename(published / ".quarantine", elsewhere)
    (published / ".quarantine").symlink_to(elsewhere)
    with pytest.raises(InvalidInputError, match="plain directory"):
        read_manifest(published)


def test_symlinked_manifest_is_refused(published, tmp_path):
    real = tmp_path / "manifest.json"
    os.rename(published / "manifest.json", real)
    (published / "manifest.json").symlink_to(real)
    with pytest.raises(InvalidInputError, match="not a regular file"):
        read_manifest(published)


def test_missing_file_is_refused(published):
    (published / ".quarantine" / "by_town.entities.parquet").unlink()
    with pytest.raises(InvalidInputError, match="missing"):
        read_manifest(published)


def _rewrite_parquet(path, change):
    table = pq.read_table(path)
    pq.write_table(change(table), path)


def _set_column(table, name, values):
    index = table.column_names.index(name)
    return table.set_column(index, table.schema.field(index), pa.array(values,
                                                                        table.schema.field(index).type))


@pytest.mark.parametrize("tamper, message", [
    # the released table says something else than the checked facts
    (("table", lambda t: _set_column(t, "count", [v + 1 for v in t["count"].to_pylist()])),
     "released count values differ"),
    (("table", lambda t: _set_column(t, "town", ["east", "east", "east"])), "group values"),
    (("table", lambda t: t.drop_columns(["mean_income"])), "columns"),
    # facts that cannot come from real data
    (("cells", lambda t: _set_column(t, "n_entities", [10**6] * t.num_rows)), "count"),
    (("cells", lambda t: _set_column(t, "abs_total", [0.0 if v is not None else None
                                                       for v in t["abs_total"].to_pylist()])),
     "absolute totals"),
    (("cells", lambda t: _set_column(t, "top_contributions", [
        list(reversed(v)) if v else v for v in t["top_contributions"].to_pylist()])),
     "top contributions"),
    # entity sets that do not back the counts
    (("entities", lambda t: t.slice(1)), "entity"),
    (("entities", lambda t: pa.concat_tables([t, t.slice(0, 1)])), "repeat"),
    # a repeat is found whatever string type holds the keys; keys must be text
    (("entities", lambda t: t.set_column(2, "entity", pa.array(
        [t["entity"][0].as_py()] * 2 + t["entity"].to_pylist()[2:], pa.large_string()))),
     "repeat"),
    (("entities", lambda t: t.set_column(2, "entity", pa.array(
        [int(v) for v in t["entity"].to_pylist()], pa.int64()))), "column types"),
])
def test_tampered_table_files_are_refused(published, tamper, message):
    role, change = tamper
    files = {"table": published / "by_town.table.parquet",
             "cells": published / ".quarantine/by_town.cells.parquet",
             "entities": published / ".quarantine/by_town.entities.parquet"}
    _rewrite_parquet(files[role], change)
    output = read_manifest(published)[0]
    with pytest.raises(InvalidInputError, match=message):
        load_published_table(output)


def test_unreadable_parquet_is_refused(published):
    (published / "by_town.table.parquet").write_bytes(b"PAR1 not really PAR1")
    with pytest.raises(InvalidInputError, match="not readable Parquet"):
        load_published_table(read_manifest(published)[0])


def test_metrics_body_must_match_manifest(published):
    (published / "fit.metrics.json").write_text(json.dumps(
        {"metrics": {"r2": 0.4, "leak": 12345.0}, "n_entities": 120}))
    with pytest.raises(InvalidInputError, match="disagrees"):
        load_metrics(read_manifest(published)[1])
