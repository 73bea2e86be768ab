"""TwinBuilder: schema identity, determinism, marginals, rare values, errors."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from tests.unit.lab.twins.twins_testdata import ENTERPRISE_COLUMNS, PERSON_COLUMNS, RARE_TOWNS

from countyos.errors import ConflictError, InvalidInputError, TooLargeError
from countyos.lab.twins import TwinBuilder, TwinColumn


@pytest.fixture(scope="module")
def person_twin(persons: pa.Table) -> pa.Table:
    return TwinBuilder(seed=3).add("persons", persons, PERSON_COLUMNS)


def test_twin_has_exactly_the_real_schema(persons, person_twin):
    assert person_twin.schema.equals(persons.schema, check_metadata=True)
    assert person_twin.num_rows == persons.num_rows


def test_exotic_types_nullability_and_metadata_are_kept():
    rng = np.random.default_rng(5)
    rows = 400
    schema = pa.schema(
        [
            pa.field("code", pa.dictionary(pa.int16(), pa.string()), nullable=False),
            pa.field("amount", pa.decimal128(12, 2)),
            pa.field("seen_at", pa.timestamp("ms", tz="Asia/Shanghai"), nullable=False),
            pa.field("small", pa.int8()),
            pa.field("ratio", pa.float32(), nullable=False),
            pa.field("label", pa.large_string()),
            pa.field("flag", pa.bool_()),
            pa.field("when", pa.date64()),
        ],
        metadata={b"classification": b"internal"},
    )
    table = pa.table(
        {
            "code": pa.array(rng.choice(["a", "b", "c"], rows)).dictionary_encode().cast(schema.field("code").type),
            "amount": pa.array([decimal.Decimal(f"{v:.2f}") for v in rng.gamma(2, 50, rows)], pa.decimal128(12, 2)),
            "seen_at": pa.array(rng.integers(1.6e12, 1.7e12, rows), pa.int64()).cast(schema.field("seen_at").type),
            "small": pa.array(rng.integers(-100, 100, rows), pa.int8()),
            "ratio": pa.array(rng.random(rows).astype(np.float32)),
            "label": pa.array(rng.choice(["x", "y", None], rows), pa.large_string()),
            "flag": pa.array(rng.random(rows) < 0.4),
            "when": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 300, rows)], pa.date64()),
        },
        schema=schema,
    )
    columns = [TwinColumn(name, "measure", None) for name in schema.names]
    twin = TwinBuilder(seed=1).add("mixed", table, columns, rows=250)
    assert twin.schema.equals(schema, check_metadata=True)
    assert twin.num_rows == 250
    for field in schema:
        if not field.nullable:
            assert twin.column(field.name).null_count == 0
    assert twin.column("label").null_count > 0  # the real null rate (about a third) is kept
    assert pc.min(twin.column("amount")).as_py() >= 0


def test_same_seed_same_twin_other_seed_other_twin(persons, person_twin):
    again = TwinBuilder(seed=3).add("persons", persons, PERSON_COLUMNS)
    other = TwinBuilder(seed=4).add("persons", persons, PERSON_COLUMNS)
    assert again.equals(person_twin)
    assert not other.equals(person_twin)


def test_rows_argument_sets_the_twin_size(persons):
    twin = TwinBuilder(seed=1).add("persons", persons, PERSON_COLUMNS, rows=7000)
    assert twin.num_rows == 7000
    assert pc.count_distinct(twin.column("person_id")).as_py() == 7000
    assert pc.count_distinct(twin.column("resident_id")).as_py() == 7000


def test_rare_categories_never_appear(persons, person_twin):
    twin_towns = set(person_twin.column("township").to_pylist())
    assert not twin_towns & set(RARE_TOWNS)
    # the real non-rare towns all survive, and rare ones merge into "其他"
    real_towns = set(persons.column("township").to_pylist()) - set(RARE_TOWNS)
    assert real_towns <= twin_towns
    assert twin_towns - real_towns <= {"其他"}


def test_rare_integer_and_boolean_values_are_dropped():
    rng = np.random.default_rng(2)
    rows = 1000
    level = rng.choice([1, 2, 3], rows)
    level[:4] = 99  # four rows with a rare level
    flag = np.zeros(rows, dtype=bool)
    flag[:3] = True  # three rows flagged: rare
    table = pa.table({"level": level, "flag": flag})
    columns = [TwinColumn("level", "dimension", None), TwinColumn("flag", "dimension", None)]
    twin = TwinBuilder(seed=9).add("levels", table, columns)
    assert set(twin.column("level").to_pylist()) == {1, 2, 3}
    assert not any(twin.column("flag").to_pylist())


def test_all_rare_text_becomes_other_only():
    table = pa.table({"remark": [f"remark number {i}" for i in range(300)]})
    twin = TwinBuilder(seed=1).add("notes", table, [TwinColumn("remark", "dimension", None)])
    assert set(twin.column("remark").to_pylist()) == {"other"}


def test_extreme_values_are_not_copied(persons, person_twin):
    real_income = persons.column("income").to_numpy(zero_copy_only=False)
    twin_income = person_twin.column("income").to_numpy(zero_copy_only=False)
    real_max = np.nanmax(real_income)
    assert np.nanmax(twin_income) < real_max / 10  # the single richest person leaves no trace
    assert not np.isin(real_max, twin_income)
    real_ages, twin_ages = persons.column("age").to_numpy(), person_twin.column("age").to_numpy()
    assert twin_ages.min() >= real_ages.min() and twin_ages.max() <= real_ages.max()


def test_null_rates_and_roundings_follow_the_real_column(persons, person_twin):
    real_rate = persons.column("income").null_count / persons.num_rows
    twin_rate = person_twin.column("income").null_count / person_twin.num_rows
    assert abs(real_rate - twin_rate) < 0.03
    incomes = person_twin.column("income").drop_null().to_numpy()
    assert np.allclose(incomes, np.round(incomes, 2))
    assert pc.all(pc.less_equal(person_twin.column("birth_date"), pa.scalar(dt.date(2024, 6, 30)))).as_py()


def test_twin_is_deterministic_regardless_of_other_builders(enterprises):
    first = TwinBuilder(seed=21)
    first.add("noise", pa.table({"x": np.arange(100)}), [TwinColumn("x", "measure", None)])
    a = first.add("enterprises", enterprises, ENTERPRISE_COLUMNS)
    b = TwinBuilder(seed=21).add("enterprises", enterprises, ENTERPRISE_COLUMNS)
    assert a.drop(["enterprise_code"]).equals(b.drop(["enterprise_code"]))


def test_tiny_tables_release_nothing_about_columns():
    table = pa.table({"score": pa.array([1.5, 2.5, 3.5], pa.float64()), "group": ["a", "b", "a"]})
    twin = TwinBuilder(seed=1).add("tiny", table, [TwinColumn("score", "measure", None), TwinColumn("group", "dimension", None)])
    assert twin.column("score").null_count == 3
    assert set(twin.column("group").to_pylist()) == {"other"}


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([TwinColumn("a", "measure", None)], "no description"),
        ([TwinColumn("a", "measure", None), TwinColumn("b", "measure", None), TwinColumn("c", "measure", None)], "not in the table"),
        ([TwinColumn("a", "secret", None), TwinColumn("b", "measure", None)], "unknown role"),
        ([TwinColumn("a", "measure", ""), TwinColumn("b", "measure", None)], "detected must be"),
        ([TwinColumn("a", "measure", None, "person"), TwinColumn("b", "measure", None)], "key domain"),
        ([TwinColumn("a", "measure", None), TwinColumn("a", "measure", None)], "twice"),
    ],
)
def test_bad_column_descriptions_are_refused(columns, message):
    table = pa.table({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    with pytest.raises(InvalidInputError, match=message):
        TwinBuilder(seed=1).add("t", table, columns)


def test_bad_arguments_are_refused(persons):
    builder = TwinBuilder(seed=1)
    table = pa.table({"a": [1.0, 2.0]})
    columns = [TwinColumn("a", "measure", None)]
    with pytest.raises(InvalidInputError):
        builder.add("t", table, columns, rows=-1)
    with pytest.raises(InvalidInputError):
        builder.add("", table, columns)
    with pytest.raises(InvalidInputError, match="no rows"):
        builder.add("empty", table.slice(0, 0), columns, rows=5)
    with pytest.raises(TooLargeError):
        builder.add("t", table, columns, rows=10**9)
    with pytest.raises(InvalidInputError, match="cannot be twinned"):
        builder.add("blob", pa.table({"b": pa.array([b"x"])}), [TwinColumn("b", "measure", None)])
    builder.add("t", table, columns)
    with pytest.raises(ConflictError):
        builder.add("t", table, columns)
    with pytest.raises(InvalidInputError):
        TwinBuilder(seed=1, min_category_count=0)
    with pytest.raises(InvalidInputError):
        TwinBuilder(seed=1, region_codes=["33"])
    assert builder.datasets == ("t",)


def test_empty_table_gives_an_empty_twin():
    table = pa.table({"a": pa.array([], pa.float64()), "k": pa.array([], pa.string())})
    columns = [TwinColumn("a", "measure", None), TwinColumn("k", "entity_key", None, "thing")]
    twin = TwinBuilder(seed=1).add("empty", table, columns)
    assert twin.num_rows == 0 and twin.schema.equals(table.schema)
