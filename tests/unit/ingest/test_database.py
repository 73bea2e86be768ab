"""Database imports on SQLite and PostgreSQL: type mapping, streaming, overrides, URL secrecy."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from countyos.errors import ImportFileError, InvalidInputError
from countyos.ingest import stage_database_table

from .conftest import column, read_staged, staged_files

SECRET = "S3cret-Pw_42"


def sqlite_people(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'dept.db'}"
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    people = sa.Table(
        "人口",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("姓名", sa.Text),
        sa.Column("身份证号", sa.String(18)),
        sa.Column("收入", sa.Numeric(12, 2)),
        sa.Column("评分", sa.Float),
        sa.Column("出生日期", sa.Date),
        sa.Column("登记时间", sa.DateTime),
        sa.Column("在册", sa.Boolean),
        sa.Column("照片", sa.LargeBinary),
        sa.Column("备注日期", sa.Text),
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            people.insert(),
            [
                {
                    "id": i,
                    "姓名": f"居民{i}",
                    "身份证号": f"33028119900307{i:03d}X",
                    "收入": Decimal(f"{i}.25"),
                    "评分": i / 4,
                    "出生日期": dt.date(1990, 1, i),
                    "登记时间": dt.datetime(2024, 1, i, 8, 30),
                    "在册": i % 2 == 0,
                    "照片": bytes([i, 255]),
                    "备注日期": f"2024/1/{i}",
                }
                for i in range(1, 8)
            ],
        )
    engine.dispose()
    return url


def test_sqlite_table_streams_with_mapped_types(tmp_path: Path, staging: Path) -> None:
    url = sqlite_people(tmp_path)
    seen: list[tuple[int, int]] = []
    result = stage_database_table(
        url, "人口", staging, batch_rows=3, progress=lambda d, t: seen.append((d, t))
    )
    assert result.source_format == "database"
    assert result.rows == 7
    assert result.inferred_types == {
        "id": "int64",
        "姓名": "string",
        "身份证号": "string",
        "收入": "decimal(12,2)",
        "评分": "float64",
        "出生日期": "date",
        "登记时间": "timestamp",
        "在册": "bool",
        "照片": "string",
        "备注日期": "string",
    }
    table = read_staged(result)
    first = table.to_pylist()[0]
    assert first["收入"] == Decimal("1.25")
    assert first["出生日期"] == dt.date(1990, 1, 1)
    assert first["登记时间"] == dt.datetime(2024, 1, 1, 8, 30)
    assert first["身份证号"] == "33028119900307001X"
    assert [d for d, _ in seen[:3]] == [3, 6, 7] and seen[-1] == (7, 7)


def test_sqlite_overrides(tmp_path: Path, staging: Path) -> None:
    url = sqlite_people(tmp_path)
    result = stage_database_table(
        url, "人口", staging, type_overrides={"备注日期": "date", "id": "string"}
    )
    assert column(result, "备注日期")[:2] == [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]
    assert column(result, "id")[:2] == ["1", "2"]


def test_text_in_a_sqlite_integer_column_names_row_and_column(
    tmp_path: Path, staging: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'loose.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (n INTEGER)"))
        connection.execute(sa.text("INSERT INTO t VALUES (1), (2), (3), ('secret-text'), (5)"))
    engine.dispose()
    with pytest.raises(ImportFileError) as caught:
        stage_database_table(url, "t", staging, batch_rows=2)
    assert (caught.value.row, caught.value.column) == (4, "n")
    assert "secret-text" not in caught.value.message
    assert staged_files(staging) == []


@pytest.mark.parametrize(
    ("declared", "bad_value", "expected"),
    [
        ("DATETIME", "'secret-garbage'", "timestamp"),
        ("BOOLEAN", "7", "bool"),
        ("DATE", "'1990-02-30'", "date"),
    ],
)
def test_bad_stored_values_name_row_and_column(
    tmp_path: Path, staging: Path, declared: str, bad_value: str, expected: str
) -> None:
    url = f"sqlite:///{tmp_path / 'typed.db'}"
    engine = sa.create_engine(url)
    good = {"DATETIME": "'2024-01-01 08:00:00.000000'", "BOOLEAN": "1", "DATE": "'1990-02-01'"}[
        declared
    ]
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE TABLE t (v {declared})"))
        connection.execute(sa.text(f"INSERT INTO t VALUES ({good}), ({good}), ({bad_value})"))
    engine.dispose()
    with pytest.raises(ImportFileError) as caught:
        stage_database_table(url, "t", staging)
    assert (caught.value.row, caught.value.column) == (3, "v")
    assert expected in caught.value.message and "secret" not in caught.value.message
    assert staged_files(staging) == []


def test_empty_table_stages_no_files(tmp_path: Path, staging: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (n INTEGER, s TEXT)"))
    engine.dispose()
    result = stage_database_table(url, "t", staging)
    assert (result.rows, result.files) == (0, [])
    assert result.schema.names == ["n", "s"]


def test_unknown_table_is_invalid_input(tmp_path: Path, staging: Path) -> None:
    url = sqlite_people(tmp_path)
    with pytest.raises(InvalidInputError, match="no table 'nope'"):
        stage_database_table(url, "nope", staging)
    with pytest.raises(InvalidInputError):
        stage_database_table(url, "人口; DROP TABLE 人口", staging)
    assert staged_files(staging) == []
    assert stage_database_table(url, "人口", staging).rows == 7  # nothing was dropped


def test_missing_sqlite_file_is_not_created(tmp_path: Path, staging: Path) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(InvalidInputError, match="no SQLite database"):
        stage_database_table(f"sqlite:///{path}", "t", staging)
    assert not path.exists()


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://someone:{SECRET}@127.0.0.1:1/db",  # nothing listens on port 1
        f"nosuchdialect://someone:{SECRET}@127.0.0.1/db",
        f"not a url {SECRET}",
    ],
)
def test_the_password_is_never_echoed(tmp_path: Path, staging: Path, url: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        stage_database_table(url, "t", staging)
    assert SECRET not in caught.value.message
    assert SECRET not in json.dumps(caught.value.to_body(), default=str)
    assert SECRET not in repr(caught.value.__cause__) and caught.value.__suppress_context__


@pytest.mark.postgres
def test_postgres_table_streams_with_mapped_types(
    postgres_schema: tuple[str, str], staging: Path
) -> None:
    url, schema = postgres_schema
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(f'''
            CREATE TABLE "{schema}"."企业" (
                id bigint, small integer, credit_code varchar(18), 注册资本 numeric(14,2),
                ratio numeric, score double precision, founded date, updated timestamp,
                seen timestamptz, active boolean, logo bytea, extra jsonb, uid uuid,
                tags integer[], opened time, "interval" interval
            )''')
        )
        for i in range(1, 11):
            connection.execute(
                sa.text(f'''INSERT INTO "{schema}"."企业" VALUES (:i, :i, :code, :capital, :ratio, :score,
                    :founded, :updated, :seen, :active, :logo, CAST(:extra AS jsonb), :uid, :tags, '08:30',
                    interval '1 day')'''),
                {
                    "i": i,
                    "code": f"91330281MA2{i:06d}X",
                    "capital": Decimal(f"{i}000.50"),
                    "ratio": Decimal("0.125"),
                    "score": i / 8,
                    "founded": dt.date(2000, 1, i),
                    "updated": dt.datetime(2024, 1, i, 9),
                    "seen": dt.datetime(2024, 1, i, 8, tzinfo=dt.timezone(dt.timedelta(hours=8))),
                    "active": i % 3 == 0,
                    "logo": b"\x89PNG",
                    "extra": json.dumps({"镇": "阳明", "n": i}, ensure_ascii=False),
                    "uid": uuid.UUID(int=i),
                    "tags": [i, i + 1],
                },
            )
    engine.dispose()

    result = stage_database_table(
        url, f"{schema}.企业", staging, batch_rows=3, type_overrides={"ratio": "decimal(10,3)"}
    )
    assert result.rows == 10
    assert result.inferred_types == {
        "id": "int64",
        "small": "int64",
        "credit_code": "string",
        "注册资本": "decimal(14,2)",
        "ratio": "decimal(10,3)",
        "score": "float64",
        "founded": "date",
        "updated": "timestamp",
        "seen": "timestamptz",
        "active": "bool",
        "logo": "string",
        "extra": "string",
        "uid": "string",
        "tags": "string",
        "opened": "string",
        "interval": "string",
    }
    rows = read_staged(result).to_pylist()
    assert [row["id"] for row in rows] == list(range(1, 11))
    first = rows[0]
    assert first["注册资本"] == Decimal("1000.50")
    assert first["ratio"] == Decimal("0.125")
    assert first["seen"] == dt.datetime(2024, 1, 1, 0, tzinfo=dt.timezone.utc)
    assert json.loads(first["extra"]) == {"镇": "阳明", "n": 1}
    assert json.loads(first["tags"]) == [1, 2]
    assert first["uid"] == str(uuid.UUID(int=1))
    assert result.schema.field("seen").type == pa.timestamp("us", tz="UTC")


@pytest.mark.postgres
def test_postgres_unknown_table_hides_the_password(
    postgres_schema: tuple[str, str], staging: Path
) -> None:
    url, schema = postgres_schema
    with_password = (
        sa.engine.make_url(url).set(password=SECRET).render_as_string(hide_password=False)
    )
    with pytest.raises(InvalidInputError, match="no table") as caught:
        stage_database_table(with_password, f"{schema}.absent", staging)
    assert SECRET not in caught.value.message and "***" in caught.value.message
    assert staged_files(staging) == []
