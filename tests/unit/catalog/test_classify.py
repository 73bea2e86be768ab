"""Column classification: name rules, value evidence with real check characters, policy."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from countyos.catalog.classify import (
    LEVELS,
    ROLES,
    SAMPLE_LIMIT,
    ColumnProposal,
    propose_column,
    propose_columns,
)
from countyos.catalog.identifiers import (
    USCC_ALPHABET,
    is_resident_id,
    is_uscc,
    resident_id_check_char,
    uscc_check_char,
)
from countyos.errors import InvalidInputError

SURNAMES = "王李张刘陈杨黄赵吴周徐孙朱胡郭何高林罗郑梁谢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚华玉红建国"


def _resident_id(rng: random.Random, *, valid: bool = True) -> str:
    first17 = (f"3302{rng.randint(10, 99)}{rng.randint(1940, 2010)}{rng.randint(1, 12):02d}"
               f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}")
    check = resident_id_check_char(first17)
    if not valid:
        check = rng.choice([c for c in "0123456789X" if c != check])
    return first17 + check


def _uscc(rng: random.Random, *, valid: bool = True) -> str:
    first17 = "91330281" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    check = uscc_check_char(first17)
    if not valid:
        check = rng.choice([c for c in USCC_ALPHABET if c != check])
    return first17 + check


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"


def _person_name(rng: random.Random) -> str:
    if rng.random() < 0.05:
        return rng.choice(["欧阳", "司马", "诸葛"]) + rng.choice(GIVEN)
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))
    return rng.choice(SURNAMES) + given


def _address(rng: random.Random) -> str:
    town = rng.choice(["阳明街道", "梨洲街道", "泗门镇", "马渚镇"])
    return f"浙江省余姚市{town}{rng.choice(['新建路', '南雷路', '舜水北路'])}{rng.randint(1, 400)}号"


def _mixed(rng: random.Random, good: list[object], *, nulls: int, bad: list[object]) -> list[object]:
    values = good + [None] * nulls + bad
    rng.shuffle(values)
    return values


def _assert_no_value_quoted(proposal: ColumnProposal, values: list[object]) -> None:
    for reason in proposal.reasons:
        for value in values:
            if isinstance(value, str) and len(value) >= 2:
                assert value not in reason


# -- resident ID numbers ----------------------------------------------------------------------


def test_resident_ids_with_valid_check_digits_are_a_core_identifier() -> None:
    rng = random.Random(1)
    ids = [_resident_id(rng) for _ in range(180)]
    values = _mixed(rng, ids, nulls=15, bad=[_resident_id(rng, valid=False) for _ in range(8)])
    proposal = propose_column("col_07", pa.string(), values)
    assert proposal.detected == "resident_id"
    assert (proposal.role, proposal.level, proposal.personal) == ("identifier", "core", True)
    assert any("valid check digits" in r for r in proposal.reasons)
    _assert_no_value_quoted(proposal, values)


def test_resident_ids_with_wrong_check_digits_do_not_count() -> None:
    rng = random.Random(2)
    wrong = [_resident_id(rng, valid=False) for _ in range(200)]
    assert not any(is_resident_id(v) for v in wrong)
    proposal = propose_column("col_07", pa.string(), wrong)
    assert proposal.detected != "resident_id"
    assert proposal.role != "identifier" and proposal.level != "core"


def test_order_numbers_of_18_digits_are_not_resident_ids() -> None:
    rng = random.Random(3)
    orders = []
    while len(orders) < 300:
        candidate = "".join(rng.choice("0123456789") for _ in range(18))
        if not is_resident_id(candidate):
            orders.append(candidate)
    proposal = propose_column("order_no", pa.string(), orders)
    assert proposal.detected is None
    assert (proposal.role, proposal.personal) == ("dimension", False)


def test_one_valid_id_among_many_values_is_not_evidence() -> None:
    rng = random.Random(4)
    values = [_resident_id(rng)] + [f"A{i:05d}" for i in range(99)]
    proposal = propose_column("ref", pa.string(), values)
    assert proposal.detected != "resident_id"


def test_half_valid_ids_stay_below_the_share_but_are_noted() -> None:
    rng = random.Random(5)
    values = [_resident_id(rng) for _ in range(50)] + [_resident_id(rng, valid=False) for _ in range(50)]
    proposal = propose_column("ref", pa.string(), values)
    assert proposal.detected != "resident_id"
    assert any("below the 80%" in r and "resident ID" in r for r in proposal.reasons)


def test_id_column_named_sfzh_stays_an_identifier_when_values_are_dirty() -> None:
    rng = random.Random(6)
    dirty = [_resident_id(rng, valid=False) for _ in range(100)]
    proposal = propose_column("SFZH", pa.string(), dirty)
    assert (proposal.detected, proposal.role, proposal.level) == ("resident_id", "identifier", "core")
    assert any("few sampled values are valid" in r for r in proposal.reasons)


def test_ids_padded_lower_case_or_full_width_are_still_recognised() -> None:
    rng = random.Random(7)
    ids = [_resident_id(rng) for _ in range(100)]
    disguised = [f"  {v.lower()} " for v in ids[:50]]
    disguised += [v.translate(str.maketrans("0123456789", "０１２３４５６７８９")) for v in ids[50:]]
    proposal = propose_column("misc", pa.string(), disguised)
    assert proposal.detected == "resident_id"


def test_value_evidence_outranks_a_key_name() -> None:
    rng = random.Random(8)
    proposal = propose_column("person_id", pa.string(), [_resident_id(rng) for _ in range(50)])
    assert (proposal.role, proposal.level, proposal.personal) == ("identifier", "core", True)
    assert any("pseudonymise" in r for r in proposal.reasons)


def test_sample_is_spread_over_the_whole_column_not_its_head() -> None:
    rng = random.Random(9)
    head = [f"N{i}" for i in range(600)]
    values = head + [_resident_id(rng) for _ in range(4 * SAMPLE_LIMIT)]
    assert propose_column("x", pa.string(), values).detected == "resident_id"
    assert propose_column("x", pa.string(), values) == propose_column("x", pa.string(), values)


# -- mobile numbers, USCC --------------------------------------------------------------------


def test_mobile_numbers_in_text_and_integer_columns() -> None:
    rng = random.Random(10)
    mobiles = [_mobile(rng) for _ in range(120)]
    formatted = [f"+86 {m[:3]}-{m[3:7]}-{m[7:]}" for m in mobiles[:20]] + mobiles[20:]
    values = _mixed(rng, formatted, nulls=10, bad=["0574-6234567", "unknown"])
    proposal = propose_column("contact", pa.string(), values)
    assert (proposal.detected, proposal.role, proposal.level, proposal.personal) == (
        "mobile", "identifier", "sensitive", True)
    as_int = propose_column("c3", pa.int64(), [int(m) for m in mobiles])
    assert as_int.detected == "mobile" and as_int.role == "identifier"


def test_eleven_digit_numbers_outside_mobile_ranges_are_not_mobiles() -> None:
    rng = random.Random(11)
    values = [f"1{rng.choice('012')}{rng.randint(0, 999_999_999):09d}" for _ in range(100)]
    assert propose_column("c", pa.string(), values).detected != "mobile"


def test_uscc_with_valid_check_character_is_an_enterprise_key() -> None:
    rng = random.Random(12)
    codes = [_uscc(rng) for _ in range(100)]
    values = _mixed(rng, codes, nulls=10, bad=[_uscc(rng, valid=False) for _ in range(5)])
    proposal = propose_column("org", pa.string(), values)
    assert (proposal.detected, proposal.role, proposal.level, proposal.personal) == (
        "uscc", "entity_key", "internal", False)


def test_uscc_with_wrong_check_character_does_not_count() -> None:
    rng = random.Random(13)
    wrong = [_uscc(rng, valid=False) for _ in range(100)]
    assert not any(is_uscc(v) for v in wrong)
    assert propose_column("org", pa.string(), wrong).detected is None


# -- personal names and addresses ------------------------------------------------------------


def test_chinese_personal_names_with_nulls_and_noise() -> None:
    rng = random.Random(14)
    names = [_person_name(rng) for _ in range(300)]
    values = _mixed(rng, names, nulls=30, bad=["未知", "--", "待补充"])
    proposal = propose_column("col_b", pa.string(), values)
    assert (proposal.detected, proposal.role, proposal.level, proposal.personal) == (
        "person_name", "identifier", "sensitive", True)
    _assert_no_value_quoted(proposal, values)


@pytest.mark.parametrize("column", ["商品名称", "item", "name"])
def test_product_names_are_not_personal_names(column: str) -> None:
    rng = random.Random(15)
    products = ["纯牛奶", "矿泉水", "苹果", "大米", "食用油", "洗衣粉", "酱油", "面包", "鸡蛋", "白菜"]
    proposal = propose_column(column, pa.string(), [rng.choice(products) for _ in range(200)])
    assert proposal.detected != "person_name"
    assert proposal.personal is False and proposal.role == "dimension"


def test_products_starting_with_surname_characters_are_not_names() -> None:
    products = ["杨梅汁", "马铃薯", "胡萝卜", "高粱酒", "金针菇", "石榴", "罗汉果", "何首乌",
                "黄桃罐头", "林檎干", "白萝卜", "朱古力"]
    assert all(p[0] in SURNAMES + "马金石白" for p in products)
    proposal = propose_column("goods", pa.string(), products * 3)
    assert proposal.detected != "person_name"


def test_place_names_are_not_personal_names() -> None:
    rng = random.Random(16)
    places = [rng.choice(["马渚镇", "黄家埠镇", "陆埠镇", "朗霞街道", "谢家路村"]) for _ in range(100)]
    assert propose_column("loc", pa.string(), places).detected != "person_name"


def test_addresses_of_residents_and_of_firms() -> None:
    rng = random.Random(17)
    addresses = _mixed(rng, [_address(rng) for _ in range(100)], nulls=5, bad=["不详"])
    home = propose_column("col_c", pa.string(), addresses)
    assert (home.detected, home.role, home.level, home.personal) == (
        "address", "identifier", "sensitive", True)
    firm = propose_column("注册地址", pa.string(), addresses)
    assert (firm.detected, firm.role, firm.personal) == ("address", "identifier", False)
    assert firm.level == "internal"


def test_township_values_are_a_quasi_identifier() -> None:
    rng = random.Random(18)
    values = [rng.choice(["阳明街道", "梨洲街道", "泗门镇", "大岚镇", "鹿亭乡"]) for _ in range(100)]
    proposal = propose_column("area", pa.string(), values)
    assert (proposal.detected, proposal.role, proposal.personal) == ("township", "quasi_identifier", False)


def test_sex_values_are_a_quasi_identifier() -> None:
    rng = random.Random(19)
    proposal = propose_column("c9", pa.string(), [rng.choice(["男", "女"]) for _ in range(60)])
    assert (proposal.detected, proposal.role, proposal.personal) == ("sex", "quasi_identifier", True)


# -- name rules and policy ---------------------------------------------------------------------

_STRING = pa.string()


@pytest.mark.parametrize(
    ("name", "data_type", "role", "level", "personal"),
    [
        ("身份证号", _STRING, "identifier", "core", True),
        ("sfzh", _STRING, "identifier", "core", True),
        ("id_number", _STRING, "identifier", "core", True),
        ("法定代表人身份证号码", _STRING, "identifier", "core", True),
        ("手机号码", _STRING, "identifier", "sensitive", True),
        ("联系电话", _STRING, "identifier", "sensitive", True),
        ("mobilePhone", _STRING, "identifier", "sensitive", True),
        ("姓名", _STRING, "identifier", "sensitive", True),
        ("name", _STRING, "identifier", "sensitive", True),
        ("patient_name", _STRING, "identifier", "sensitive", True),
        ("家庭住址", _STRING, "identifier", "sensitive", True),
        ("address", _STRING, "identifier", "sensitive", True),
        ("出生日期", pa.date32(), "quasi_identifier", "sensitive", True),
        ("birth_date", pa.date32(), "quasi_identifier", "sensitive", True),
        ("性别", _STRING, "quasi_identifier", "internal", True),
        ("gender", _STRING, "quasi_identifier", "internal", True),
        ("age", pa.int32(), "quasi_identifier", "internal", True),
        ("所属乡镇", _STRING, "quasi_identifier", "internal", False),
        ("person_id", _STRING, "entity_key", "internal", True),
        ("人员编号", _STRING, "entity_key", "internal", True),
        ("household_id", pa.int64(), "entity_key", "internal", True),
        ("统一社会信用代码", _STRING, "entity_key", "internal", False),
        ("credit_code", _STRING, "entity_key", "internal", False),
        ("诊断", _STRING, "measure", "sensitive", True),
        ("diagnosis", _STRING, "measure", "sensitive", True),
        ("工资", pa.float64(), "measure", "sensitive", True),
        ("缴费基数", pa.float64(), "measure", "sensitive", True),
        ("contribution_base", pa.float64(), "measure", "sensitive", True),
        ("金额", pa.float64(), "measure", "internal", False),
        ("cost", pa.float64(), "measure", "internal", False),
        ("营业收入", pa.float64(), "measure", "internal", False),
        ("男性人数", pa.int64(), "measure", "internal", False),
        ("出生率", pa.float64(), "measure", "internal", False),
        ("product_name", _STRING, "dimension", "internal", False),
        ("company_name", _STRING, "identifier", "internal", False),
        ("year", pa.int32(), "dimension", "public", False),
        ("status", pa.int8(), "dimension", "internal", False),
        ("daily_kwh", pa.float64(), "measure", "internal", False),
    ],
)
def test_names_alone_give_the_policy(name: str, data_type: pa.DataType, role: str, level: str,
                                     personal: bool) -> None:
    proposal = propose_column(name, data_type, [])
    assert (proposal.role, proposal.level, proposal.personal) == (role, level, personal)
    assert proposal.reasons


def test_low_cardinality_text_is_a_dimension() -> None:
    rng = random.Random(20)
    values = [rng.choice(["制造业", "批发零售", "建筑业"]) for _ in range(200)]
    proposal = propose_column("sector_zh", pa.string(), values)
    assert (proposal.role, proposal.level, proposal.personal) == ("dimension", "internal", False)


def test_all_null_and_nan_columns_fall_back_to_the_type() -> None:
    assert propose_column("x", pa.float64(), [None, float("nan")] * 20).role == "measure"
    assert propose_column("x", pa.string(), [None, "", "NULL", " "] * 20).role == "dimension"


# -- whole tables and input errors -------------------------------------------------------------


def test_propose_columns_on_a_realistic_registry_sample() -> None:
    rng = random.Random(21)
    rows = 1500
    table = pa.table({
        "person_id": [f"P{i:07d}" for i in range(rows)],
        "xm": [_person_name(rng) for _ in range(rows)],
        "sfzh": [_resident_id(rng) if i % 40 else None for i in range(rows)],
        "sjhm": [_mobile(rng) for _ in range(rows)],
        "住址": [_address(rng) for _ in range(rows)],
        "年龄": pa.array([rng.randint(0, 99) for _ in range(rows)], pa.int16()),
        "缴费基数": [round(rng.uniform(3000, 30000), 2) for _ in range(rows)],
        "参保状态": [rng.choice(["正常", "暂停", "终止"]) for _ in range(rows)],
    })
    proposals = propose_columns(table)
    assert list(proposals) == table.column_names
    assert {p.level for p in proposals.values()} <= set(LEVELS)
    assert {p.role for p in proposals.values()} <= set(ROLES)
    assert proposals["person_id"].role == "entity_key"
    assert proposals["xm"].detected == "person_name"
    assert proposals["sfzh"].detected == "resident_id" and proposals["sfzh"].level == "core"
    assert proposals["sjhm"].detected == "mobile"
    assert proposals["住址"].detected == "address"
    assert proposals["年龄"].role == "quasi_identifier"
    assert proposals["缴费基数"].role == "measure" and proposals["缴费基数"].level == "sensitive"
    assert proposals["参保状态"].role == "dimension" and not proposals["参保状态"].personal
    for name, proposal in proposals.items():
        _assert_no_value_quoted(proposal, table.column(name).to_pylist()[:200])


def test_ambiguous_name_with_values_that_are_not_names_is_a_dimension() -> None:
    proposal = propose_column("xm", pa.string(), [f"项目{i}" for i in range(50)])
    assert proposal.role == "dimension" and not proposal.personal


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_column_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidInputError):
        propose_column(name, pa.string(), [])


def test_bad_type_and_table_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        propose_column("x", "string", [])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        propose_columns({"x": [1]})  # type: ignore[arg-type]
    duplicated = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    with pytest.raises(InvalidInputError, match="a"):
        propose_columns(duplicated)


def test_proposal_refuses_unknown_level_or_role() -> None:
    with pytest.raises(InvalidInputError):
        ColumnProposal("secret", "identifier", True, None, ())
    with pytest.raises(InvalidInputError):
        ColumnProposal("core", "owner", True, None, ())
