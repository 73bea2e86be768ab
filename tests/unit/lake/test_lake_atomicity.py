"""A commit that fails changes nothing; staged files are checked before anything moves (attacks too)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from countyos.errors import ImportFileError, InvalidInputError
from countyos.lake import Lake
from tests.unit.lake.lake_helpers import PEOPLE, StageFn, files_under, people


@pytest.fixture
def committed(lake: Lake, stage: StageFn) -> tuple[int, set[Path]]:
    """A table ``people`` with one version; its snapshot id and the warehouse files after it."""
    snapshot_id = lake.commit_version("people", PEOPLE, [stage("v1.parquet", people([1, 2]))])
    return snapshot_id, files_under(lake.warehouse_dir)


def _assert_unchanged(lake: Lake, committed: tuple[int, set[Path]]) -> None:
    snapshot_id, files = committed
    assert lake.current_snapshot_id("people") == snapshot_id
    assert len(lake.snapshots("people")) == 1
    assert files_under(lake.warehouse_dir) == files


def _corrupt(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("problem", ["missing", "corrupt", "not parquet", "directory", "wrong schema"])
def test_a_bad_file_in_the_list_changes_nothing(
    lake: Lake, stage: StageFn, staging: Path, committed: tuple[int, set[Path]], problem: str
) -> None:
    good = stage("good.parquet", people([7]))
    bad = staging / "bad.parquet"
    if problem == "corrupt":
        _corrupt(stage("bad.parquet", people([8])))
    elif problem == "not parquet":
        bad.write_text("id,name\n1,x\n")
    elif problem == "directory":
        bad.mkdir()
    elif problem == "wrong schema":
        stage("bad.parquet", {"id": [1], "name": ["x"]}, pa.schema([("id", pa.int64()), ("name", pa.string())]))

    with pytest.raises(ImportFileError) as caught:
        lake.commit_version("people", PEOPLE, [good, bad])

    assert caught.value.file == "bad.parquet"
    assert str(staging) not in caught.value.message, "messages name the file, not the server's folders"
    _assert_unchanged(lake, committed)
    assert good.exists(), "nothing is moved before every file has been checked"


def test_a_failed_first_commit_creates_no_table(lake: Lake, stage: StageFn, staging: Path) -> None:
    good = stage("good.parquet", people([1]))
    with pytest.raises(ImportFileError):
        lake.commit_version("people", PEOPLE, [good, staging / "absent.parquet"])
    assert not lake.exists("people") and lake.tables() == []
    assert files_under(lake.warehouse_dir) == set()


def test_file_written_with_field_ids_is_refused(lake: Lake, stage: StageFn) -> None:
    with_ids = pa.schema(
        [field.with_metadata({b"PARQUET:field_id": str(index).encode()}) for index, field in enumerate(PEOPLE, 1)]
    )
    staged = stage("ids.parquet", people([1]).cast(with_ids))
    assert pq.read_schema(staged).field("id").metadata  # pyarrow kept the ids in the file
    with pytest.raises(ImportFileError, match="field ids"):
        lake.commit_version("people", PEOPLE, [staged])
    assert not lake.exists("people")


def test_columns_in_another_order_than_the_schema_are_refused(lake: Lake, stage: StageFn) -> None:
    reordered = people([1]).select(["name", "id", "born"])
    with pytest.raises(ImportFileError, match="order"):
        lake.commit_version("people", PEOPLE, [stage("a.parquet", reordered)])


def test_relative_path_and_non_list_are_refused(lake: Lake, stage: StageFn) -> None:
    staged = stage("a.parquet", people([1]))
    with pytest.raises(InvalidInputError, match="absolute"):
        lake.commit_version("people", PEOPLE, [Path("a.parquet")])
    with pytest.raises(InvalidInputError, match="list"):
        lake.commit_version("people", PEOPLE, staged)  # type: ignore[arg-type]
    assert staged.exists() and not lake.exists("people")


class TestAttacks:
    """Paths that would let a caller steal, move or expose files the lake must protect."""

    def test_another_tables_data_file_cannot_be_committed(self, lake: Lake, stage: StageFn) -> None:
        lake.commit_version("secret", PEOPLE, [stage("s.parquet", people([99]))])
        [secret_file] = lake.data_files("secret")
        with pytest.raises(ImportFileError, match="warehouse"):
            lake.commit_version("people", PEOPLE, [Path(secret_file)])
        assert Path(secret_file).is_file() and lake.data_files("secret") == [secret_file]
        assert not lake.exists("people")

    def test_a_dotdot_path_into_the_warehouse_is_caught(self, lake: Lake, stage: StageFn, staging: Path) -> None:
        lake.commit_version("secret", PEOPLE, [stage("s.parquet", people([99]))])
        [secret_file] = lake.data_files("secret")
        sneaky = staging / ".." / Path(secret_file).relative_to(staging.parent)
        with pytest.raises(ImportFileError, match="warehouse"):
            lake.commit_version("people", PEOPLE, [sneaky])
        assert Path(secret_file).is_file()

    def test_symbolic_link_is_refused(self, lake: Lake, stage: StageFn, staging: Path) -> None:
        lake.commit_version("secret", PEOPLE, [stage("s.parquet", people([99]))])
        [secret_file] = lake.data_files("secret")
        link = staging / "link.parquet"
        link.symlink_to(secret_file)
        with pytest.raises(ImportFileError, match="symbolic link"):
            lake.commit_version("people", PEOPLE, [link])
        assert link.is_symlink() and Path(secret_file).is_file()

    def test_symlinked_staging_folder_into_the_warehouse_is_caught(
        self, lake: Lake, stage: StageFn, tmp_path: Path
    ) -> None:
        lake.commit_version("secret", PEOPLE, [stage("s.parquet", people([99]))])
        [secret_file] = lake.data_files("secret")
        alias = tmp_path / "alias"
        alias.symlink_to(Path(secret_file).parent, target_is_directory=True)
        with pytest.raises(ImportFileError, match="warehouse"):
            lake.commit_version("people", PEOPLE, [alias / Path(secret_file).name])
        assert Path(secret_file).is_file()

    def test_the_same_file_twice_or_through_a_hard_link_is_refused(
        self, lake: Lake, stage: StageFn, staging: Path
    ) -> None:
        staged = stage("a.parquet", people([1]))
        twin = staging / "twin.parquet"
        os.link(staged, twin)
        for files in ([staged, staged], [staged, twin]):
            with pytest.raises(ImportFileError, match="twice"):
                lake.commit_version("people", PEOPLE, files)
        assert staged.exists() and twin.exists() and not lake.exists("people")

    def test_device_file_is_refused(self, lake: Lake) -> None:
        with pytest.raises(ImportFileError, match="regular file"):
            lake.commit_version("people", PEOPLE, [Path("/dev/null")])


def test_refused_commits_leave_no_files_behind(lake: Lake, stage: StageFn, staging: Path) -> None:
    """After a series of failures of every kind, only the files of the good versions exist."""
    lake.commit_version("people", PEOPLE, [stage("v1.parquet", people([1]))])
    attempts = [
        [staging / "absent.parquet"],
        [_corrupt(stage("c.parquet", people([2])))],
        [stage("d.parquet", {"id": ["x"], "name": ["y"], "born": [None]},
               pa.schema([("id", pa.string()), ("name", pa.string()), ("born", pa.timestamp("us"))]))],
    ]
    for files in attempts:
        with pytest.raises((ImportFileError, InvalidInputError)):
            lake.commit_version("people", PEOPLE, files)
    lake.commit_version("people", PEOPLE, [stage("v2.parquet", people([3]))])

    referenced = {Path(path) for info in lake.snapshots("people") for path in lake.data_files("people", info.snapshot_id)}
    data_dir_files = {path for path in files_under(lake.warehouse_dir) if path.parent.name == "data"}
    assert data_dir_files == referenced and len(referenced) == 2
