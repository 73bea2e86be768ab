"""Writing a Demo County to files."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from countyos.errors import InvalidInputError


def test_write_round_trips(small_county, tmp_path):
    out = tmp_path / "nested" / "demo"
    written = small_county.write(out)
    assert set(written) == {d.name for d in small_county.datasets} | {"townships", "manifest"}
    for dataset in small_county.datasets:
        path = written[dataset.name]
        assert path == out / f"{dataset.name}.parquet"
        assert pq.read_table(path).equals(dataset.table)
    geojson = json.loads(written["townships"].read_text(encoding="utf-8"))
    assert geojson == json.loads(json.dumps(small_county.geojson))
    manifest = json.loads(written["manifest"].read_text(encoding="utf-8"))
    assert manifest["county_code"] == small_county.county_code
    assert {d["name"]: d["rows"] for d in manifest["datasets"]} == {
        d.name: d.num_rows for d in small_county.datasets}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_write_overwrites_previous_files(small_county, tmp_path):
    small_county.write(tmp_path)
    (tmp_path / "population_registry.parquet").write_bytes(b"garbage")
    small_county.write(tmp_path)
    table = pq.read_table(tmp_path / "population_registry.parquet")
    assert table.num_rows == small_county.dataset("population_registry").num_rows


def test_write_into_a_file_is_refused(small_county, tmp_path):
    target = tmp_path / "a_file"
    target.write_text("x")
    with pytest.raises(InvalidInputError):
        small_county.write(target)
    assert target.read_text() == "x"
