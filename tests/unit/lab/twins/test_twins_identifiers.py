"""Fresh identifiers: valid formats, consistency with the twin, never a real value."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from countyos.catalog.identifiers import is_mobile, is_resident_id, is_uscc
from countyos.errors import InternalError, InvalidInputError
from countyos.lab.twins import TwinBuilder, TwinColumn
from countyos.lab.twins.identifiers import (
    DEFAULT_REGION_CODES,
    PersonContext,
    generate_fresh,
    make_resident_ids,
    make_usccs,
)
from countyos.lab.twins.shapes import StringShapes
from tests.unit.lab.twins.twins_testdata import PERSON_COLUMNS


@pytest.fixture(scope="module")
def person_twin(persons: pa.Table) -> pa.Table:
    return TwinBuilder(seed=8).add("persons", persons, PERSON_COLUMNS)


def test_fresh_resident_ids_pass_the_check_digit_test_and_agree_with_the_twin(person_twin):
    ids = person_twin.column("resident_id").to_pylist()
    births = person_twin.column("birth_date").to_pylist()
    sexes = person_twin.column("sex").to_pylist()
    assert all(is_resident_id(value) for value in ids)
    assert len(set(ids)) == len(ids)
    for value, born, sex in zip(ids, births, sexes):
        assert value[6:14] == born.strftime("%Y%m%d")
        assert int(value[16]) % 2 == (1 if sex == "男" else 0)
        assert value[:6] in DEFAULT_REGION_CODES


def test_vectorised_check_characters_match_the_reference():
    rng = np.random.default_rng(1)
    ids = make_resident_ids(5000, rng, None, ("330281", "110101")).to_pylist()
    assert all(is_resident_id(value) for value in ids)
    assert any(value.endswith("X") for value in ids)  # the X check character is produced too
    codes = make_usccs(5000, rng, DEFAULT_REGION_CODES).to_pylist()
    assert all(is_uscc(code) for code in codes)
    broken = codes[0][:-1] + ("0" if codes[0][-1] != "0" else "1")
    assert not is_uscc(broken)  # the reference check rejects a wrong check character


def test_birth_dates_out_of_range_are_still_valid_ids():
    context = PersonContext(np.array([-40000.0, 0.0, np.nan]), np.array([0, 1, -1], dtype=np.int8))
    ids = make_resident_ids(3, np.random.default_rng(0), context, DEFAULT_REGION_CODES).to_pylist()
    assert all(is_resident_id(value) for value in ids)
    assert ids[1][6:14] == "19700101" and int(ids[1][16]) % 2 == 1


def test_other_identifiers_are_valid_and_fictional(persons, person_twin):
    mobiles = person_twin.column("mobile").to_pylist()
    assert all(is_mobile(value) for value in mobiles)
    names = person_twin.column("name").to_pylist()
    assert all(2 <= len(name) <= 3 for name in names)
    assert not set(names) & set(persons.column("name").to_pylist())


@pytest.mark.parametrize("column", ["person_id", "resident_id", "name", "mobile"])
def test_no_real_identifier_or_key_value_appears_in_the_twin(persons, person_twin, column):
    real_values = persons.column(column)
    assert not pc.any(pc.is_in(person_twin.column(column), value_set=real_values)).as_py()


def test_collisions_with_real_values_are_regenerated():
    # a maker over a small value space, half of it taken by real values: most first draws collide
    rng = np.random.default_rng(3)
    space = np.array([f"K{i:03d}" for i in range(1000)])
    real = pa.array(space[:500])
    calls = []

    def make(positions: np.ndarray) -> pa.Array:
        calls.append(positions.size)
        return pa.array(space[rng.integers(0, 1000, size=positions.size)])

    fresh = generate_fresh(make, 200, pa.string(), real, unique=True, what="code").to_pylist()
    assert len(fresh) == 200 and len(set(fresh)) == 200
    assert not set(fresh) & set(space[:500].tolist())
    assert len(calls) > 1 and calls[1] < calls[0]  # only the rejected positions were remade


def test_impossible_fresh_values_fail_cleanly():
    space = pa.array(["A", "B"])
    with pytest.raises(InternalError):
        generate_fresh(lambda p: space.take(pa.array(np.zeros(p.size, dtype=np.int64))), 3, pa.string(), space, unique=True, what="code")


def test_integer_targets_only_get_digit_strings():
    rng = np.random.default_rng(4)
    ids = generate_fresh(
        lambda positions: make_resident_ids(positions.size, rng, None, DEFAULT_REGION_CODES),
        2000, pa.int64(), pa.array([], pa.int64()), unique=True, what="id",
    )
    assert ids.type == pa.int64() and all(is_resident_id(str(v)) for v in ids.to_pylist())


def test_identifier_types_are_checked():
    table = pa.table({"name": pa.array(np.arange(50))})
    with pytest.raises(InvalidInputError, match="must be text"):
        TwinBuilder(seed=1).add("t", table, [TwinColumn("name", "identifier", "person_name")])
    table = pa.table({"v": pa.array(np.arange(50, dtype=np.float64))})
    with pytest.raises(InvalidInputError, match="text or integers"):
        TwinBuilder(seed=1).add("t", table, [TwinColumn("v", "identifier", None)])


def test_mobiles_stored_as_integers_stay_integers():
    rng = np.random.default_rng(6)
    table = pa.table({"phone": pa.array(13_000_000_000 + rng.choice(10**9, 500, replace=False), pa.int64())})
    twin = TwinBuilder(seed=2).add("t", table, [TwinColumn("phone", "identifier", "mobile")])
    assert twin.schema.equals(table.schema)
    assert all(is_mobile(str(v)) for v in twin.column("phone").to_pylist())
    assert not pc.any(pc.is_in(twin.column("phone"), value_set=table.column("phone"))).as_py()


def test_unnamed_identifiers_keep_common_shapes_but_never_rare_literals():
    rng = np.random.default_rng(5)
    values = [f"ZJ-{v:06d}" for v in rng.choice(10**6, 990, replace=False)]
    values += ["SECRET-LEAK-1"] * 3 + [f"PRIVATE{i}" for i in range(7)]
    table = pa.table({"passport": values})
    twin = TwinBuilder(seed=1).add("docs", table, [TwinColumn("passport", "identifier", "id_document")])
    out = twin.column("passport").to_pylist()
    assert all(v.startswith("ZJ-") and len(v) >= 9 and v[3:].isdigit() for v in out)
    assert not set(out) & set(values)


def test_shape_fallback_and_widening():
    rng = np.random.default_rng(2)
    uuids = pa.array([f"{rng.integers(0, 2**63):x}" for _ in range(200)])
    shapes = StringShapes.fit(uuids, 10, 200, rng)
    assert len(shapes.shapes) == 1
    sample = shapes.make(50, rng).to_pylist()
    assert all(v.isdigit() for v in sample)  # no common shape: plain digits, nothing copied
    narrow = StringShapes.fit(pa.array([f"A{i}" for i in range(10)] * 3), 10, 10_000, rng)
    assert all(len(s) >= 7 for s in narrow.shapes)  # widened from one digit to hold 10,000 values


def test_other_detected_kinds():
    rng = np.random.default_rng(7)
    rows = 300
    table = pa.table(
        {
            "firm": [f"真实企业{i}有限公司" for i in range(rows)],
            "email": [f"person{i}@real-county.gov.cn" for i in range(rows)],
            "phone": [f"0574-8{i:07d}" for i in range(rows)],
            "plate": [f"浙B{i:05d}" for i in range(rows)],
            "addr": [f"真实路{i}号" for i in range(rows)],
            "born": pa.array([dt.date(1980, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 9000, rows)]),
        }
    )
    columns = [
        TwinColumn("firm", "identifier", "enterprise_name"),
        TwinColumn("email", "identifier", "email"),
        TwinColumn("phone", "identifier", "phone"),
        TwinColumn("plate", "identifier", "license_plate"),
        TwinColumn("addr", "identifier", "address"),
        TwinColumn("born", "quasi_identifier", "birth_date"),
    ]
    twin = TwinBuilder(seed=3).add("firms", table, columns)
    for name in ("firm", "email", "phone", "plate", "addr"):
        assert not pc.any(pc.is_in(twin.column(name), value_set=table.column(name))).as_py()
    assert all(v.split("@")[1].startswith("example.") for v in twin.column("email").to_pylist())
    assert all(v.startswith("0574-") and len(v) == 13 for v in twin.column("phone").to_pylist())
    assert all(v.startswith("浙") and len(v) == 7 for v in twin.column("plate").to_pylist())
