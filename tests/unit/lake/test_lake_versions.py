"""Creating tables, committing versions, time travel, history and schema evolution (both catalogs)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.unit.lake.lake_helpers import PEOPLE, StageFn, files_under, people

from countyos.errors import ImportFileError, InvalidInputError, NotFoundError
from countyos.lake import Lake


def _rows(paths: list[str]) -> list[dict]:
    """All rows of the given Parquet files, ordered by id."""
    rows = [row for path in paths for row in pq.read_table(path).to_pylist()]
    return sorted(rows, key=lambda row: row["id"])


def test_first_commit_creates_the_table_with_one_snapshot(lake: Lake, stage: StageFn, staging: Path) -> None:
    assert not lake.exists("people")
    staged = stage("part.parquet", people([1, 2, 3]))
    snapshot_id = lake.commit_version("people", PEOPLE, [staged])

    assert lake.exists("people") and lake.tables() == ["people"]
    assert lake.current_snapshot_id("people") == snapshot_id
    [info] = lake.snapshots("people")
    assert info.snapshot_id == snapshot_id and info.parent_id is None
    assert info.total_rows == 3 and info.added_rows == 3 and info.total_files == 1
    files = lake.data_files("people")
    assert len(files) == 1 and Path(files[0]).is_relative_to(lake.warehouse_dir)
    assert _rows(files) == people([1, 2, 3]).to_pylist()
    assert not staged.exists(), "the staged file is moved, not copied"
    assert lake.schema("people").equals(PEOPLE)


def test_a_new_version_replaces_the_content_and_time_travel_gives_the_old_one(
    lake: Lake, stage: StageFn
) -> None:
    first = lake.commit_version("people", PEOPLE, [stage("a.parquet", people([1, 2]))])
    first_files = lake.data_files("people")
    second = lake.commit_version(
        "people", PEOPLE, [stage("b.parquet", people([10, 11])), stage("c.parquet", people([12]))]
    )

    assert second != first and lake.current_snapshot_id("people") == second
    assert _rows(lake.data_files("people")) == people([10, 11, 12]).to_pylist()
    assert lake.data_files("people", second) == lake.data_files("people")
    assert lake.data_files("people", first) == first_files
    assert _rows(lake.data_files("people", first)) == people([1, 2]).to_pylist()

    history = lake.snapshots("people")
    assert [info.snapshot_id for info in history] == [first, second]
    assert history[1].parent_id == first
    assert history[1].total_rows == 3 and history[1].deleted_rows == 2 and history[1].total_files == 2
    assert history[0].committed_at <= history[1].committed_at


def test_pyiceberg_scan_agrees_with_the_file_list(lake: Lake, stage: StageFn) -> None:
    first = lake.commit_version("people", PEOPLE, [stage("a.parquet", people([1, 2]))])
    lake.commit_version("people", PEOPLE, [stage("b.parquet", people([3]))])
    iceberg_table = lake.iceberg_table("people")
    old = iceberg_table.scan(snapshot_id=first).to_arrow().sort_by("id")
    assert old.to_pylist() == people([1, 2]).to_pylist()
    assert iceberg_table.scan().to_arrow().to_pylist() == people([3]).to_pylist()


def test_duckdb_reads_a_version_through_its_file_list(lake: Lake, stage: StageFn) -> None:
    lake.commit_version("people", PEOPLE, [stage("a.parquet", people([1, 2])), stage("b.parquet", people([5]))])
    files = lake.data_files("people")
    with duckdb.connect() as connection:
        total = connection.execute("SELECT sum(id) FROM read_parquet(?)", [files]).fetchone()[0]
    assert total == 1 + 2 + 5


def test_empty_version(lake: Lake, stage: StageFn) -> None:
    lake.commit_version("people", PEOPLE, [stage("a.parquet", people([1]))])
    empty = lake.commit_version("people", PEOPLE, [])
    assert lake.current_snapshot_id("people") == empty
    assert lake.data_files("people") == []
    assert lake.snapshots("people")[-1].total_rows == 0


def test_snapshot_properties_are_recorded(lake: Lake, stage: StageFn) -> None:
    lake.commit_version(
        "people", PEOPLE, [stage("a.parquet", people([1]))], snapshot_properties={"countyos.import-id": "42"}
    )
    assert lake.snapshots("people")[0].summary["countyos.import-id"] == "42"


@pytest.mark.parametrize("key", ["operation", "total-records", "countyos", "Countyos.x", "countyos.x y"])
def test_snapshot_properties_may_not_shadow_iceberg_fields(sqlite_lake: Lake, stage: StageFn, key: str) -> None:
    staged = stage("a.parquet", people([1]))
    with pytest.raises(InvalidInputError):
        sqlite_lake.commit_version("people", PEOPLE, [staged], snapshot_properties={key: "x"})
    assert not sqlite_lake.exists("people") and staged.exists()


class TestEvolution:
    def test_added_and_reordered_columns(self, lake: Lake, stage: StageFn) -> None:
        first = lake.commit_version("people", PEOPLE, [stage("a.parquet", people([1]))])
        wider = pa.schema([("district", pa.string()), *PEOPLE])
        data = people([7]).add_column(0, "district", pa.array(["东城"]))
        second = lake.commit_version("people", wider, [stage("b.parquet", data)])

        assert lake.schema("people").equals(wider)
        assert lake.schema("people", second).equals(wider)
        assert lake.schema("people", first).equals(PEOPLE)
        assert pq.read_schema(lake.data_files("people")[0]).names == wider.names
        assert _rows(lake.data_files("people")) == data.to_pylist()
        assert _rows(lake.data_files("people", first)) == people([1]).to_pylist()
        scan = lake.iceberg_table("people").scan().to_arrow()
        assert scan.to_pylist() == data.to_pylist()

    def test_unusual_column_names_evolve(self, lake: Lake, stage: StageFn) -> None:
        schema = pa.schema([("户籍.地址", pa.string()), ("Id", pa.int64())])
        lake.commit_version("odd", schema, [stage("a.parquet", {"户籍.地址": ["x"], "Id": [1]}, schema)])
        wider = pa.schema([("Id", pa.int64()), ("new col", pa.float64()), ("户籍.地址", pa.string())])
        lake.commit_version("odd", wider, [stage("b.parquet", {"Id": [2], "new col": [0.5], "户籍.地址": ["y"]}, wider)])
        assert lake.schema("odd").equals(wider)

    @pytest.mark.parametrize(
        ("schema", "column"),
        [
            (pa.schema([("id", pa.string()), ("name", pa.string()), ("born", pa.timestamp("us"))]), "id"),
            (pa.schema([("id", pa.int64()), ("name", pa.string())]), "born"),
            (pa.schema([("id", pa.int64()), ("name", pa.string()), ("born", pa.date32())]), "born"),
        ],
    )
    def test_type_change_or_dropped_column_is_refused_and_changes_nothing(
        self, lake: Lake, stage: StageFn, staging: Path, schema: pa.Schema, column: str
    ) -> None:
        first = lake.commit_version("people", PEOPLE, [stage("a.parquet", people([1, 2]))])
        before = files_under(lake.warehouse_dir)
        values = {
            "id": ["1"] if schema.field("id").type == pa.string() else [1],
            "name": ["x"],
            "born": [None],
        }
        staged = stage("b.parquet", {name: values[name] for name in schema.names}, schema)

        with pytest.raises(InvalidInputError, match=f"'{column}'") as caught:
            lake.commit_version("people", schema, [staged])

        assert caught.value.details["column"] == column
        assert lake.current_snapshot_id("people") == first
        assert lake.schema("people").equals(PEOPLE)
        assert files_under(lake.warehouse_dir) == before
        assert staged.exists(), "a refused version leaves the staged file where it was"


class TestNames:
    @pytest.mark.parametrize(
        "name",
        ["", "People", "1people", "_x", "people-2", "../escape", "a/b", "x" * 64, "people;drop", "名册", "a.b", " x"],
    )
    def test_invalid_table_names_are_refused(self, sqlite_lake: Lake, stage: StageFn, name: str) -> None:
        staged = stage("a.parquet", people([1]))
        with pytest.raises(InvalidInputError, match="invalid table name"):
            sqlite_lake.commit_version(name, PEOPLE, [staged])
        for method in (sqlite_lake.exists, sqlite_lake.snapshots, sqlite_lake.drop, sqlite_lake.data_files):
            with pytest.raises(InvalidInputError):
                method(name)
        assert staged.exists() and sqlite_lake.tables() == []
        assert files_under(sqlite_lake.warehouse_dir) == set()

    def test_longest_valid_name(self, sqlite_lake: Lake, stage: StageFn) -> None:
        name = "p" + "0" * 62
        sqlite_lake.commit_version(name, PEOPLE, [stage("a.parquet", people([1]))])
        assert sqlite_lake.exists(name)

    @pytest.mark.parametrize("namespace", ["Hub", "hub.x", "", "../x"])
    def test_invalid_namespace_is_refused(self, tmp_path: Path, namespace: str) -> None:
        with pytest.raises(InvalidInputError, match="namespace"):
            Lake(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "wh", namespace=namespace)


class TestMissing:
    def test_unknown_table(self, lake: Lake) -> None:
        for method in (lake.snapshots, lake.data_files, lake.schema, lake.drop, lake.current_snapshot_id):
            with pytest.raises(NotFoundError, match="'nobody'"):
                method("nobody")

    def test_unknown_snapshot(self, lake: Lake, stage: StageFn) -> None:
        snapshot_id = lake.commit_version("people", PEOPLE, [stage("a.parquet", people([1]))])
        with pytest.raises(NotFoundError):
            lake.data_files("people", snapshot_id + 1)
        with pytest.raises(NotFoundError):
            lake.schema("people", snapshot_id + 1)


def test_two_lakes_in_one_database_keep_their_namespaces_apart(tmp_path: Path, stage: StageFn) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with Lake(url, tmp_path / "wh", namespace="hub") as hub, Lake(url, tmp_path / "wh", namespace="lab") as lab:
        hub.commit_version("people", PEOPLE, [stage("a.parquet", people([1]))])
        assert hub.exists("people") and not lab.exists("people")
        lab.commit_version("people", PEOPLE, [stage("b.parquet", people([2]))])
        assert _rows(hub.data_files("people")) == people([1]).to_pylist()
        assert _rows(lab.data_files("people")) == people([2]).to_pylist()


def test_a_reopened_lake_sees_the_committed_versions(tmp_path: Path, stage: StageFn) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Lake(url, tmp_path / "wh") as lake:
        snapshot_id = lake.commit_version("people", PEOPLE, [stage("a.parquet", people([1, 2]))])
    with Lake(url, tmp_path / "wh") as reopened:
        assert reopened.current_snapshot_id("people") == snapshot_id
        assert _rows(reopened.data_files("people")) == people([1, 2]).to_pylist()


def test_warehouse_path_with_spaces_hash_and_chinese(tmp_path: Path, stage: StageFn) -> None:
    odd = tmp_path / "数据 仓库#1?x"
    with Lake(f"sqlite:///{tmp_path / 'c.db'}", odd) as lake:
        first = lake.commit_version("people", PEOPLE, [stage("a.parquet", people([1]))])
        lake.commit_version("people", PEOPLE, [stage("b.parquet", people([2]))])
        assert all(Path(path).is_file() and Path(path).is_relative_to(odd) for path in lake.data_files("people"))
        assert _rows(lake.data_files("people", first)) == people([1]).to_pylist()


def test_bad_catalog_urls(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="URL"):
        Lake("not a url", tmp_path / "wh")
    with pytest.raises(InvalidInputError, match="driver"):
        Lake("nosuchdb+nodriver://x/y", tmp_path / "wh")


def test_schema_mismatch_between_files_and_schema_is_refused(sqlite_lake: Lake, stage: StageFn) -> None:
    other = pa.schema([("id", pa.int32()), ("name", pa.string()), ("born", pa.timestamp("us"))])
    staged = stage("a.parquet", people([1]).cast(other))
    with pytest.raises(ImportFileError, match="'id'") as caught:
        sqlite_lake.commit_version("people", PEOPLE, [staged])
    assert caught.value.file == "a.parquet"
    assert not sqlite_lake.exists("people")


def test_many_versions_keep_time_travel_while_old_metadata_files_are_pruned(
    sqlite_lake: Lake, stage: StageFn
) -> None:
    ids = [sqlite_lake.commit_version("people", PEOPLE, [stage(f"v{n}.parquet", people([n]))]) for n in range(22)]
    assert [info.snapshot_id for info in sqlite_lake.snapshots("people")] == ids
    assert _rows(sqlite_lake.data_files("people", ids[0])) == people([0]).to_pylist()
    metadata_dir = Path(sqlite_lake.data_files("people")[0]).parent.parent / "metadata"
    assert len(list(metadata_dir.glob("*.metadata.json"))) <= 21
