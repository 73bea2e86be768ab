"""Published units: proven real against the job's inputs, hashed once, split into cell sets.

Tables are published with the real in-job API outside the sandbox; the sets are compared with
``countyos.lab.disclosure.entity_hashes`` on each cell's keys (the reference definition).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from countyos.errors import PermissionDeniedError
from countyos.lab.disclosure import entity_hashes
from countyos.lab.sandbox import job_api, load_published_table, published_units, read_manifest
from countyos.lab.sandbox.published_units import cell_entity_sets, real_units, unit_hashes

SECRET = b"s" * 32


@pytest.fixture(autouse=True)
def fresh_cache():
    published_units.clear_cache()
    yield
    published_units.clear_cache()


def people(pids) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = len(pids)
    income = rng.normal(1000, 100, rows)
    income[:20] = np.nan                        # the sum's units differ from the rows'
    return pd.DataFrame({"town": rng.choice(["east", "west", "north"], rows), "pid": pids,
                         "income": income})


def publish(tmp_path, monkeypatch, frame, name="by_town"):
    out = tmp_path / f"out-{name}"
    out.mkdir()
    monkeypatch.setenv("COUNTYOS_OUT", str(out))
    job_api.publish_table(name, frame, by=["town"], entity="pid", count=True, sum="income")
    return load_published_table(read_manifest(out)[0])


def write_input(path, pids) -> dict:
    pq.write_table(pa.table({"pid": pids, "town": ["x"] * len(pids)}), path)
    return {"people": path}


@pytest.mark.parametrize("kind", ["text", "integer"])
def test_cell_sets_equal_the_reference_hashes(tmp_path, monkeypatch, kind):
    ids = list(range(1, 301))
    pids = [f"P{i:04d}" for i in ids] if kind == "text" else ids
    frame = people([pids[i % 250] for i in range(600)])            # 250 units, several rows each
    table = publish(tmp_path, monkeypatch, frame)
    inputs = write_input(tmp_path / "people.parquet", pids)         # 300 real units
    hashes = unit_hashes(table, inputs, SECRET)
    for column in ("count", "sum_income"):
        sets = cell_entity_sets(table, column, hashes)
        # the real keys in their own type: integer ids hash as integers, as checked SQL does
        reference = {key: entity_hashes(keys if kind == "text" else pc.cast(keys, pa.int64()),
                                        SECRET)
                     for key, keys in table.entity_keys(column).items()}
        assert sets.keys() == reference.keys() and len(sets) == 3
        for key, expected in reference.items():
            assert sets[key].dtype == expected.dtype
            assert np.array_equal(sets[key], expected)
    counts = {c.key: c.n_entities for c in table.output_table("sum_income").cells}
    assert {k: len(v) for k, v in cell_entity_sets(table, "sum_income", hashes).items()} == counts


def test_one_invented_unit_is_refused(tmp_path, monkeypatch):
    pids = [f"P{i:04d}" for i in range(200)]
    table = publish(tmp_path, monkeypatch, people(pids[:199] + ["P9999"]))
    with pytest.raises(PermissionDeniedError, match="not in its granted data"):
        unit_hashes(table, write_input(tmp_path / "people.parquet", pids), SECRET)


def test_integer_keys_must_match_their_decimal_text_exactly(tmp_path, monkeypatch):
    frame = people([f"{i:03d}" for i in range(100)])                # "007" is not the unit 7
    table = publish(tmp_path, monkeypatch, frame)
    with pytest.raises(PermissionDeniedError):
        unit_hashes(table, write_input(tmp_path / "people.parquet", list(range(100))), SECRET)


def test_no_entity_column_in_the_inputs_means_no_real_units(tmp_path, monkeypatch):
    table = publish(tmp_path, monkeypatch, people([f"P{i}" for i in range(50)]))
    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"person": [f"P{i}" for i in range(50)]}), path)
    with pytest.raises(PermissionDeniedError):
        unit_hashes(table, {"people": path}, SECRET)


def test_real_units_are_cached_per_file_and_shared_by_hard_links(tmp_path, monkeypatch):
    calls = []
    original = published_units.keyed_hashes
    monkeypatch.setattr(published_units, "keyed_hashes",
                        lambda keys, secret: calls.append(len(keys)) or original(keys, secret))
    path = tmp_path / "people.parquet"
    write_input(path, [f"P{i}" for i in range(40)])
    link = tmp_path / "job2-people.parquet"
    os.link(path, link)
    first = real_units({"people": path}, "pid", SECRET)
    assert real_units({"people": link}, "pid", SECRET) is first        # same file: cached
    assert len(calls) == 1
    assert real_units({"people": path}, "pid", b"t" * 32) is not first  # another secret
    time.sleep(0.01)
    write_input(tmp_path / "new.parquet", [f"Q{i}" for i in range(41)])
    os.replace(tmp_path / "new.parquet", path)                          # a new file there
    again = real_units({"people": path}, "pid", SECRET)
    assert again is not first and "Q0" in again.keys.to_pylist()
    assert len(calls) == 3
