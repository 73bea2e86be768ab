"""Concurrent commits: different tables both land; racing writers of one table never lose silently."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from countyos.errors import ConflictError
from countyos.lake import Lake
from tests.unit.lake.lake_helpers import PEOPLE, StageFn, files_under, people

WRITERS = 4


def _race(calls: list[Callable[[], int]]) -> list[int | BaseException]:
    """Run the calls in threads released together; each result is a snapshot id or the error."""
    barrier = threading.Barrier(len(calls))
    results: list[int | BaseException] = [RuntimeError("not run")] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except BaseException as error:  # noqa: BLE001 - the test inspects every outcome
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _ids_in(paths: list[str]) -> list[int]:
    return sorted(row["id"] for path in paths for row in pq.read_table(path).to_pylist())


def test_commits_to_different_tables_from_two_threads_both_land(lake: Lake, stage: StageFn) -> None:
    lake.commit_version("left", PEOPLE, [stage("l0.parquet", people([0]))])
    lake.commit_version("right", PEOPLE, [stage("r0.parquet", people([0]))])
    staged = {name: stage(f"{name}.parquet", people([1, 2] if name == "left" else [3])) for name in ("left", "right")}
    results = _race([lambda name=name: lake.commit_version(name, PEOPLE, [staged[name]]) for name in staged])

    assert all(isinstance(result, int) for result in results), results
    for name, result in zip(staged, results):
        assert lake.current_snapshot_id(name) == result
    assert _ids_in(lake.data_files("left")) == [1, 2]
    assert _ids_in(lake.data_files("right")) == [3]


def test_first_commits_of_different_new_tables_both_land(lake: Lake, stage: StageFn) -> None:
    staged = [stage(f"n{index}.parquet", people([index])) for index in range(2)]
    results = _race([lambda index=index: lake.commit_version(f"new_{index}", PEOPLE, [staged[index]]) for index in range(2)])
    assert all(isinstance(result, int) for result in results), results
    assert lake.tables() == ["new_0", "new_1"]


@pytest.mark.parametrize("existing", [True, False], ids=["existing-table", "new-table"])
def test_racing_writers_of_one_table_either_land_or_get_a_conflict(
    lake: Lake, stage: StageFn, staging: Path, existing: bool
) -> None:
    if existing:
        lake.commit_version("people", PEOPLE, [stage("base.parquet", people([0]))])
    before = len(lake.snapshots("people")) if existing else 0
    staged = [stage(f"w{writer}.parquet", people([100 + writer])) for writer in range(WRITERS)]
    results = _race(
        [lambda writer=writer: lake.commit_version("people", PEOPLE, [staged[writer]]) for writer in range(WRITERS)]
    )

    landed = {writer: result for writer, result in enumerate(results) if isinstance(result, int)}
    refused = [result for result in results if not isinstance(result, int)]
    assert all(isinstance(error, ConflictError) for error in refused), refused
    assert landed, "at least one writer must land"

    history = lake.snapshots("people")
    assert len(history) == before + len(landed), "every writer that was told 'landed' is a version"
    assert {info.snapshot_id for info in history} >= set(landed.values())
    for writer, snapshot_id in landed.items():
        assert _ids_in(lake.data_files("people", snapshot_id)) == [100 + writer]
    current = lake.current_snapshot_id("people")
    assert current in landed.values()
    assert history[-1].snapshot_id == current
    for older, newer in zip(history, history[1:]):
        assert newer.parent_id == older.snapshot_id, "versions form one line; none was overwritten blindly"

    referenced = {Path(path) for info in history for path in lake.data_files("people", info.snapshot_id)}
    data_dir_files = {path for path in files_under(lake.warehouse_dir) if path.parent.name == "data"}
    assert data_dir_files == referenced, "writers that got a conflict left no data files"
    assert not any(staging.glob("w*.parquet")), "staged files were moved (and deleted on conflict)"
