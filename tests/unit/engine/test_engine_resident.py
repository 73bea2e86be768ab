"""Resident tables and ranked sources: same rows as the files, ranks per key, memory budget."""

from __future__ import annotations

import random
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from countyos.engine import KEY_ROWS_COLUMN, RANK_COLUMN, TableSource, parse_read_only
from countyos.engine.base import size_in_bytes
from countyos.engine.duckdb import DuckDBEngine
from countyos.engine.duckdb_resident import estimate_bytes
from countyos.errors import InvalidInputError

ROWS = 5_000


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, list[dict]]:
    """Two files of one table: person ids repeating 1–40 times, some NULL, a text column."""
    rng = random.Random(11)
    rows = []
    for i in range(ROWS):
        person = None if i % 97 == 0 else int(rng.paretovariate(1.2)) % 400
        rows.append({"person": person, "town": rng.choice(["东", "西", "南"]),
                     "amount": rng.randint(-50, 500), "note": "x" * rng.randint(0, 30)})
    directory = tmp_path_factory.mktemp("resident")
    paths = []
    for part, chunk in enumerate((rows[: ROWS // 2], rows[ROWS // 2:])):
        path = directory / f"part{part}.parquet"
        pq.write_table(pa.Table.from_pylist(chunk), path, row_group_size=1000)
        paths.append(str(path))
    return paths[0], paths[1], rows


def _source(data, **options) -> TableSource:  # type: ignore[no-untyped-def]
    first, second, _ = data
    return TableSource("t", (first, second), ("person", "town", "amount"), **options)


def _rows(engine: DuckDBEngine, sql: str, source: TableSource) -> list[dict]:
    return engine.execute(parse_read_only(sql), {"t": source}).table.to_pylist()


def test_a_resident_table_answers_exactly_as_its_files(data) -> None:  # type: ignore[no-untyped-def]
    sql = "SELECT town, count(*) AS n, sum(amount) AS s, count(person) AS p FROM t GROUP BY town"
    with DuckDBEngine(resident_bytes=10**9) as engine:
        from_files = sorted(map(str, _rows(engine, sql, _source(data))))
        resident = _source(data, resident=True)
        assert sorted(map(str, _rows(engine, sql, resident))) == from_files
        used = engine._pool.resident_budget.used
        assert 0.5 * estimate_bytes(resident) <= used <= 2 * estimate_bytes(resident)
        assert sorted(map(str, _rows(engine, sql, resident))) == from_files  # loaded once
    assert engine._pool.resident_budget.used == 0                       # released on close


@pytest.mark.parametrize("resident", [True, False])
def test_ranks_number_each_keys_rows_once_and_count_them(data, resident) -> None:  # type: ignore[no-untyped-def]
    *_, rows = data
    with DuckDBEngine(resident_bytes=10**9) as engine:
        ranked = _source(data, resident=resident, rank_by="person")
        result = _rows(engine, f"SELECT person, {RANK_COLUMN} AS r, {KEY_ROWS_COLUMN} AS n "
                               "FROM t", ranked)
        assert (engine._pool.resident_budget.used > 0) is resident
    counts = Counter(row["person"] for row in rows)
    by_person: dict[object, list[int]] = {}
    for row in result:
        by_person.setdefault(row["person"], []).append(row["r"])
        assert row["n"] == counts[row["person"]]
    assert len(result) == ROWS
    for person, ranks in by_person.items():
        assert sorted(ranks) == list(range(1, counts[person] + 1))   # NULL keys: one group too


def test_resident_ranks_stay_fixed_while_loaded_and_view_ranks_are_drawn_anew(data) -> None:  # type: ignore[no-untyped-def]
    sql = f"SELECT amount, town FROM t WHERE person = 1 AND {RANK_COLUMN} = 1"
    with DuckDBEngine(resident_bytes=10**9) as engine:
        resident = _source(data, resident=True, rank_by="person")
        first = _rows(engine, sql, resident)
        assert all(_rows(engine, sql, resident) == first for _ in range(5))
        view = _source(data, rank_by="person")
        drawn = {str(_rows(engine, sql, view)) for _ in range(30)}
    assert len(drawn) > 1                                             # a fresh order per query


def test_over_budget_tables_stay_views_with_the_same_answers(data) -> None:  # type: ignore[no-untyped-def]
    sql = f"SELECT count(*) AS n FROM t WHERE {RANK_COLUMN} <= 2"
    size = estimate_bytes(_source(data, resident=True, rank_by="person"))
    with DuckDBEngine(resident_bytes=size - 1) as engine:
        answer = _rows(engine, sql, _source(data, resident=True, rank_by="person"))
        assert engine._pool.resident_budget.used == 0
    with DuckDBEngine(resident_bytes=size) as engine:
        assert _rows(engine, sql, _source(data, resident=True, rank_by="person")) == answer
        assert engine._pool.resident_budget.used > 0


def test_an_idle_resident_database_makes_room_for_a_new_one(data) -> None:  # type: ignore[no-untyped-def]
    one = _source(data, resident=True)
    other = _source(data, resident=True, rank_by="person")
    budget = max(estimate_bytes(one), estimate_bytes(other))
    with DuckDBEngine(resident_bytes=budget, max_idle_databases=4) as engine:
        _rows(engine, "SELECT count(*) FROM t", one)
        first = engine._pool.resident_budget.used
        assert first > 0 and len(engine._pool) == 1
        _rows(engine, "SELECT count(*) FROM t", other)                 # evicts the idle one
        assert len(engine._pool) == 1
        assert 0 < engine._pool.resident_budget.used != first
        _rows(engine, "SELECT count(*) FROM t", _source(data))         # a view: kept beside
        assert len(engine._pool) == 2


def test_the_estimate_counts_widths_strings_and_ranks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "w.parquet"
    texts = [f"长文本{i:04d}" * 10 for i in range(1000)]
    pq.write_table(pa.table({"a": pa.array(range(1000), pa.int64()),
                             "b": pa.array(range(1000), pa.int32()),
                             "s": pa.array(texts)}), path, use_dictionary=False)
    plain = estimate_bytes(TableSource("w", (str(path),), ("a", "b")))
    assert plain == 1000 * (8 + 4)
    assert estimate_bytes(TableSource("w", (str(path),), ("a", "b"), rank_by="a")) == plain + 16_000
    with_text = estimate_bytes(TableSource("w", (str(path),)))
    assert with_text >= plain + 1000 * 16 + sum(len(t.encode()) for t in texts)
    assert estimate_bytes(TableSource("w", (str(tmp_path / "gone.parquet"),))) is None


def test_the_budget_counts_what_loaded_tables_really_take(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "d.parquet"
    long_text = "城关镇人民政府办事大厅" * 8                      # dictionary-encoded: tiny on disk
    pq.write_table(pa.table({"s": pa.array([long_text] * 20_000)}), path)
    source = TableSource("d", (str(path),), resident=True)
    with DuckDBEngine(resident_bytes=10**9) as engine:
        engine.execute(parse_read_only("SELECT count(*) FROM d"), {"d": source})
        assert engine._pool.resident_budget.used > estimate_bytes(source)
        assert engine._pool.resident_budget.used >= 20_000 * len(long_text.encode())


def test_bad_ranked_sources_are_refused(data) -> None:  # type: ignore[no-untyped-def]
    first, second, _ = data
    with pytest.raises(InvalidInputError, match="does not grant"):
        TableSource("t", (first,), ("town",), rank_by="person").validate()
    with pytest.raises(InvalidInputError, match="reserves"):
        TableSource("t", (first,), ("town", RANK_COLUMN)).validate()
    with pytest.raises(InvalidInputError, match="blank"):
        TableSource("t", (first,), None, rank_by=" ").validate()
    with DuckDBEngine() as engine, pytest.raises(InvalidInputError, match="no column 'ghost'"):
        _rows(engine, "SELECT count(*) FROM t", TableSource("t", (first,), rank_by="ghost"))


def test_sizes_parse_in_decimal_and_binary_units() -> None:
    assert size_in_bytes("4GB") == 4 * 1000**3
    assert size_in_bytes(" 512MiB ") == 512 * 1024**2
    assert size_in_bytes("1.5GiB") == int(1.5 * 1024**3)
    with pytest.raises(InvalidInputError):
        size_in_bytes("lots")
