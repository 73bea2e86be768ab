"""Arrow → Iceberg-compatible schemas, casting batches, the commit-schema check and evolution rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from countyos.errors import InvalidInputError
from countyos.lake import cast_to_compatible, iceberg_compatible, type_signature
from countyos.lake.schemas import check_commit_schema, plan_evolution


def _one(data_type: pa.DataType) -> pa.DataType:
    return iceberg_compatible(pa.schema([pa.field("c", data_type)])).field("c").type


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (pa.large_string(), pa.string()),
        (pa.string_view(), pa.string()),
        (pa.large_binary(), pa.binary()),
        (pa.timestamp("ns"), pa.timestamp("us")),
        (pa.timestamp("s"), pa.timestamp("us")),
        (pa.timestamp("ns", tz="Asia/Shanghai"), pa.timestamp("us", tz="UTC")),
        (pa.uint8(), pa.int32()),
        (pa.uint16(), pa.int32()),
        (pa.int8(), pa.int32()),
        (pa.uint32(), pa.int64()),
        (pa.uint64(), pa.int64()),
        (pa.float16(), pa.float32()),
        (pa.dictionary(pa.int32(), pa.large_string()), pa.string()),
        (pa.null(), pa.string()),
        (pa.date64(), pa.date32()),
        (pa.time32("ms"), pa.time64("us")),
        (pa.time64("ns"), pa.time64("us")),
        (pa.decimal256(20, 2), pa.decimal128(20, 2)),
        (pa.large_list(pa.large_string()), pa.list_(pa.field("element", pa.string()))),
        (pa.map_(pa.large_string(), pa.uint8()), pa.map_(pa.string(), pa.field("value", pa.int32()))),
        (
            pa.struct([("when", pa.timestamp("ns")), ("tag", pa.dictionary(pa.int8(), pa.string()))]),
            pa.struct([("when", pa.timestamp("us")), ("tag", pa.string())]),
        ),
    ],
)
def test_types_are_mapped_to_what_iceberg_stores(given: pa.DataType, expected: pa.DataType) -> None:
    assert _one(given) == expected


@pytest.mark.parametrize(
    "kept",
    [pa.bool_(), pa.int32(), pa.int64(), pa.float32(), pa.float64(), pa.string(), pa.binary(),
     pa.date32(), pa.time64("us"), pa.timestamp("us"), pa.timestamp("us", tz="UTC"),
     pa.decimal128(38, 10), pa.binary(16)],
)
def test_storable_types_are_kept(kept: pa.DataType) -> None:
    assert _one(kept) == kept


def test_mapping_is_idempotent_and_keeps_names_order_nullability_but_drops_metadata() -> None:
    schema = pa.schema(
        [
            pa.field("b", pa.large_string(), nullable=False, metadata={b"PARQUET:field_id": b"7"}),
            pa.field("a", pa.uint64()),
        ],
        metadata={b"pandas": b"{}"},
    )
    once = iceberg_compatible(schema)
    assert once.names == ["b", "a"]
    assert not once.field("b").nullable and once.field("a").nullable
    assert once.field("b").metadata is None and once.metadata is None
    assert iceberg_compatible(once).equals(once, check_metadata=True)


@pytest.mark.parametrize(
    "refused", [pa.duration("s"), pa.month_day_nano_interval(), pa.decimal256(40, 2)]
)
def test_types_without_iceberg_equivalent_are_refused_naming_the_column(refused: pa.DataType) -> None:
    with pytest.raises(InvalidInputError, match="'payload'") as caught:
        iceberg_compatible(pa.schema([("ok", pa.int64()), ("payload", refused)]))
    assert caught.value.details["column"] == "payload"


def test_cast_truncates_nanoseconds_and_keeps_the_instant_of_zoned_times() -> None:
    shanghai = pa.array([1_700_000_000_123_456_789], pa.timestamp("ns", tz="Asia/Shanghai"))
    batch = pa.record_batch(
        {
            "at": shanghai,
            "kind": pa.array(["a", "b", "a"][:1]).dictionary_encode(),
            "nothing": pa.nulls(1),
            "count": pa.array([200], pa.uint8()),
        }
    )
    cast = cast_to_compatible(batch)
    assert isinstance(cast, pa.RecordBatch)
    assert cast.schema == iceberg_compatible(batch.schema)
    assert cast.column("at")[0].value == 1_700_000_000_123_456  # microseconds since the epoch, UTC
    assert cast.column("kind").to_pylist() == ["a"]
    assert cast.column("nothing").to_pylist() == [None]
    assert cast.column("count").to_pylist() == [200]


def test_cast_of_a_table_leaves_compatible_columns_alone() -> None:
    table = pa.table({"n": pa.array([1, 2], pa.int64()), "s": pa.array(["x", None], pa.large_string())})
    cast = cast_to_compatible(table)
    assert isinstance(cast, pa.Table)
    assert cast.schema == pa.schema([("n", pa.int64()), ("s", pa.string())])
    assert cast.column("s").to_pylist() == ["x", None]


def test_cast_overflow_names_the_column_but_never_the_value() -> None:
    secret = 2**64 - 12345
    table = pa.table({"account": pa.array([secret], pa.uint64())})
    with pytest.raises(InvalidInputError) as caught:
        cast_to_compatible(table)
    assert "account" in caught.value.message
    assert str(secret) not in caught.value.message
    assert str(secret) not in str(caught.value.details)


def test_cast_of_a_nested_column() -> None:
    table = pa.table({"tags": pa.array([["a", "b"], None], pa.large_list(pa.large_string()))})
    cast = cast_to_compatible(table)
    assert cast.column("tags").to_pylist() == [["a", "b"], None]
    assert type_signature(cast.schema.field("tags").type) == "list<string>"


def test_decimal_and_date_values_survive_the_cast() -> None:
    table = pa.table(
        {
            "amount": pa.array([Decimal("12.34")], pa.decimal256(10, 2)),
            "day": pa.array([dt.datetime(2024, 5, 6)], pa.date64()),
        }
    )
    cast = cast_to_compatible(table)
    assert cast.column("amount").to_pylist() == [Decimal("12.34")]
    assert cast.column("day").to_pylist() == [dt.date(2024, 5, 6)]


def test_signature_ignores_nested_nullability_and_list_field_names() -> None:
    assert type_signature(pa.list_(pa.field("element", pa.int64(), nullable=False))) == type_signature(
        pa.list_(pa.int64())
    )
    assert type_signature(pa.large_string()) != type_signature(pa.string())
    assert type_signature(pa.struct([("a", pa.int32())])) != type_signature(pa.struct([("b", pa.int32())]))


class TestCommitSchema:
    def test_compatible_schema_passes(self) -> None:
        check_commit_schema(pa.schema([("id", pa.int64()), ("名称", pa.string()), ("a.b", pa.float64())]))

    def test_incompatible_type_is_named_with_the_type_to_cast_to(self) -> None:
        with pytest.raises(InvalidInputError, match="'when'.*timestamp\\[us\\]"):
            check_commit_schema(pa.schema([("id", pa.int64()), ("when", pa.timestamp("ns"))]))

    def test_large_string_is_refused(self) -> None:
        with pytest.raises(InvalidInputError, match="'name'"):
            check_commit_schema(pa.schema([("name", pa.large_string())]))

    @pytest.mark.parametrize(
        "schema",
        [
            pa.schema([]),
            pa.schema([("", pa.int64())]),
            pa.schema([("Name", pa.string()), ("name", pa.string())]),
            pa.schema([("x", pa.int64()), ("x", pa.int64())]),
        ],
    )
    def test_empty_and_ambiguous_names_are_refused(self, schema: pa.Schema) -> None:
        with pytest.raises(InvalidInputError):
            check_commit_schema(schema)

    def test_not_a_schema_is_refused(self) -> None:
        with pytest.raises(InvalidInputError):
            check_commit_schema({"id": "int64"})  # type: ignore[arg-type]


class TestEvolution:
    current = pa.schema([("id", pa.int64()), ("name", pa.string())])

    def test_same_schema_changes_nothing(self) -> None:
        assert plan_evolution(self.current, self.current, table="t") == ([], False)

    def test_added_columns_are_listed_in_new_order(self) -> None:
        new = pa.schema([("id", pa.int64()), ("z", pa.int32()), ("name", pa.string()), ("a", pa.bool_())])
        assert plan_evolution(self.current, new, table="t") == (["z", "a"], True)

    def test_columns_added_at_the_end_need_no_reorder(self) -> None:
        new = pa.schema([("id", pa.int64()), ("name", pa.string()), ("extra", pa.float64())])
        assert plan_evolution(self.current, new, table="t") == (["extra"], False)

    def test_dropped_column_is_refused(self) -> None:
        with pytest.raises(InvalidInputError, match="'name'.*dropping"):
            plan_evolution(self.current, pa.schema([("id", pa.int64())]), table="t")

    def test_changed_type_is_refused(self) -> None:
        new = pa.schema([("id", pa.string()), ("name", pa.string())])
        with pytest.raises(InvalidInputError, match="'id'.*int64 to string") as caught:
            plan_evolution(self.current, new, table="t")
        assert caught.value.details["column"] == "id"

    def test_integer_widening_is_a_type_change_too(self) -> None:
        current = pa.schema([("n", pa.int32())])
        with pytest.raises(InvalidInputError, match="'n'"):
            plan_evolution(current, pa.schema([("n", pa.int64())]), table="t")
