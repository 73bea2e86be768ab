"""Identifiers of the Demo County: valid, consistent with the person or firm, and fictional."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from countyos.catalog.identifiers import (
    is_mobile,
    is_resident_id,
    is_uscc,
    resident_id_check_char,
    uscc_check_char,
)
from countyos.demo import COUNTY_CODE
from countyos.demo.idcodes import credit_codes, organization_bodies, resident_ids
from tests.unit.demo.demo_helpers import column, table

# Real county-level codes of Ningbo (3302xx), the prefecture the fictional code sits under.
REAL_NINGBO_CODES = {"330201", "330203", "330204", "330205", "330206", "330211", "330212",
                     "330213", "330225", "330226", "330281", "330282", "330283"}
GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def test_county_code_is_fictional():
    assert len(COUNTY_CODE) == 6 and COUNTY_CODE.isdigit()
    assert COUNTY_CODE.startswith("3302")
    assert COUNTY_CODE not in REAL_NINGBO_CODES


def test_every_resident_id_is_valid_and_matches_birth_date_and_sex(county):
    registry = table(county, "population_registry").to_pylist()
    assert registry
    for person in registry:
        id_number = person["id_number"]
        assert is_resident_id(id_number), "invalid resident ID generated"
        assert id_number[:6] == COUNTY_CODE
        assert id_number[6:14] == person["birth_date"].strftime("%Y%m%d")
        sequence_is_odd = int(id_number[16]) % 2 == 1
        assert sequence_is_odd == (person["sex"] == "男")


def test_resident_ids_are_unique(county):
    ids = column(county, "population_registry", "id_number")
    assert len(set(ids)) == len(ids)


def test_vectorised_resident_check_matches_reference():
    rng = np.random.default_rng(3)
    births = np.datetime64("1930-01-01") + rng.integers(0, 35_000, 2_000)
    sequence = rng.integers(0, 1000, 2_000)
    ids = resident_ids("330299", births, sequence).to_pylist()
    assert {i[17] for i in ids} >= {"X", "0", "1"}  # every kind of check character occurs
    for id_number in ids:
        assert id_number[17] == resident_id_check_char(id_number[:17])


def test_corrupting_any_digit_of_a_generated_id_is_detected(county):
    id_number = column(county, "population_registry", "id_number")[0]
    for position in range(17):
        digit = int(id_number[position])
        corrupted = id_number[:position] + str((digit + 1) % 10) + id_number[position + 1:]
        assert not is_resident_id(corrupted)


def test_every_credit_code_is_valid_unique_and_structured(county):
    codes = column(county, "enterprise_registry", "uscc")
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert is_uscc(code), "invalid credit code generated"
        assert code[:2] in {"91", "93"}
        assert code[2:8] == COUNTY_CODE
        body, check = code[8:16], code[16]
        values = [int(c) if c.isdigit() else ord(c) - 55 for c in body]
        remainder = 11 - sum(v * w for v, w in zip(values, GB11714_WEIGHTS)) % 11
        assert check == {10: "X", 11: "0"}.get(remainder, str(remainder))


def test_credit_code_style_follows_founding_date(county):
    rows = table(county, "enterprise_registry").select(["uscc", "founded_date"]).to_pylist()
    for row in rows:
        new_style = row["uscc"][8:10] == "MA"
        assert new_style == (row["founded_date"] >= date(2015, 10, 1))


def test_cooperatives_carry_type_3_and_their_name(county):
    rows = table(county, "enterprise_registry").select(["uscc", "name", "industry_section"])
    for row in rows.to_pylist():
        if row["uscc"].startswith("93"):
            assert row["industry_section"] == "A"
            assert row["name"].endswith("专业合作社")
        else:
            assert row["name"].endswith("公司")


def test_vectorised_credit_check_matches_reference():
    rng = np.random.default_rng(5)
    new_style = rng.random(3_000) < 0.5
    registration = np.full((3_000, 2), [ord("9"), ord("1")], dtype=np.uint8)
    codes = credit_codes("330299", registration, organization_bodies(rng, new_style)).to_pylist()
    for code in codes:
        assert code[17] == uscc_check_char(code[:17])


def test_credit_codes_refuse_characters_outside_the_alphabet():
    body = np.full((1, 8), ord("I"), dtype=np.uint8)  # I is not in the GB 32100 alphabet
    registration = np.array([[ord("9"), ord("1")]], dtype=np.uint8)
    with pytest.raises(ValueError):
        credit_codes("330299", registration, body)


def test_mobiles_valid_and_absent_for_children(county):
    rows = table(county, "population_registry").select(["birth_date", "mobile"]).to_pylist()
    with_mobile = [r for r in rows if r["mobile"] is not None]
    assert len(with_mobile) > 0.8 * len(rows)
    for row in with_mobile:
        assert is_mobile(row["mobile"])
        assert row["birth_date"].year <= 2025 - 12
