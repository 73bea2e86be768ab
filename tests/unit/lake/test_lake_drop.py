"""Dropping a table removes it from the catalog and deletes every file of every version."""

from __future__ import annotations

from pathlib import Path

import pytest

from countyos.errors import NotFoundError
from countyos.lake import Lake
from tests.unit.lake.lake_helpers import PEOPLE, StageFn, files_under, people


def test_drop_removes_the_table_and_all_its_files(lake: Lake, stage: StageFn) -> None:
    lake.commit_version("people", PEOPLE, [stage("a.parquet", people([1]))])
    lake.commit_version("people", PEOPLE, [stage("b.parquet", people([2]))])
    lake.commit_version("keep", PEOPLE, [stage("k.parquet", people([3]))])
    kept_files = files_under(lake.warehouse_dir / lake.namespace / "keep")
    old_files = [Path(path) for info in lake.snapshots("people") for path in lake.data_files("people", info.snapshot_id)]

    lake.drop("people")

    assert not lake.exists("people") and lake.tables() == ["keep"]
    assert not any(path.exists() for path in old_files)
    assert not (lake.warehouse_dir / lake.namespace / "people").exists()
    assert files_under(lake.warehouse_dir) == kept_files
    with pytest.raises(NotFoundError):
        lake.drop("people")


def test_a_dropped_name_can_be_used_again_without_its_old_versions(lake: Lake, stage: StageFn) -> None:
    old = lake.commit_version("people", PEOPLE, [stage("a.parquet", people([1]))])
    lake.drop("people")
    new = lake.commit_version("people", PEOPLE, [stage("b.parquet", people([2]))])
    assert [info.snapshot_id for info in lake.snapshots("people")] == [new]
    with pytest.raises(NotFoundError):
        lake.data_files("people", old)
