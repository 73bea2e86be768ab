"""Fictional Chinese person names, enterprise names and generic addresses for twins.

Owns the parts lists (common surnames with rough frequencies, generic given-name characters by
sex, invented township, road, village and firm names) and vectorised assembly of names and
addresses from them with Arrow compute.

Must not read real data: every value is assembled from the fixed parts below. Collisions with
real values are removed by the caller (``identifiers.generate_fresh``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# common surnames with rough shares (per cent); the long tail is flattened
_SURNAMES = (
    ("王", 7.1), ("李", 7.0), ("张", 6.7), ("刘", 5.4), ("陈", 4.5), ("杨", 3.1), ("黄", 2.1),
    ("赵", 2.0), ("吴", 2.0), ("周", 1.9), ("徐", 1.6), ("孙", 1.5), ("马", 1.4), ("朱", 1.3),
    ("胡", 1.3), ("郭", 1.2), ("何", 1.1), ("高", 1.1), ("林", 1.1), ("罗", 0.9), ("郑", 0.9),
    ("梁", 0.9), ("谢", 0.8), ("宋", 0.7), ("唐", 0.7), ("许", 0.7), ("韩", 0.7), ("冯", 0.7),
    ("邓", 0.7), ("曹", 0.6), ("彭", 0.6), ("曾", 0.6), ("肖", 0.5), ("田", 0.5), ("董", 0.5),
    ("袁", 0.5), ("潘", 0.5), ("于", 0.5), ("蒋", 0.5), ("蔡", 0.5), ("余", 0.5), ("杜", 0.4),
    ("叶", 0.4), ("程", 0.4), ("苏", 0.4), ("魏", 0.4), ("吕", 0.4), ("丁", 0.4), ("任", 0.4),
    ("沈", 0.4), ("姚", 0.3), ("卢", 0.3), ("姜", 0.3), ("崔", 0.3), ("钟", 0.3), ("谭", 0.3),
    ("陆", 0.3), ("汪", 0.3), ("范", 0.3), ("金", 0.3), ("石", 0.3), ("廖", 0.3), ("贾", 0.3),
    ("夏", 0.3), ("付", 0.3), ("方", 0.3), ("邹", 0.3), ("孟", 0.3), ("熊", 0.3), ("秦", 0.3),
    ("邱", 0.3), ("江", 0.3), ("尹", 0.3), ("薛", 0.2), ("段", 0.2), ("雷", 0.2), ("侯", 0.2),
    ("龙", 0.2), ("史", 0.2), ("陶", 0.2), ("黎", 0.2), ("贺", 0.2), ("顾", 0.2), ("毛", 0.2),
    ("郝", 0.2), ("龚", 0.2), ("邵", 0.2), ("万", 0.2), ("钱", 0.2), ("严", 0.2), ("戴", 0.2),
)
_MALE_GIVEN = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波宇浩凯健俊帆旭宁龙斌锋建国峰成亮文志海东晨博阳然轩睿哲毅"
_FEMALE_GIVEN = "芳娜敏静丽艳娟霞秀燕玲丹萍红玉兰琳雪倩婷颖慧莉梅晶洁琴云佳欣怡悦涵诗雨萱蕾薇彤璐妍菲晓月"
_TWO_CHARACTER_GIVEN_SHARE = 0.7

_PLACE_STEMS = (
    "东湖", "西山", "南塘", "北岭", "青石", "白沙", "桃源", "梅溪", "竹林", "凤鸣", "龙泉", "云岭",
    "金沙", "银杏", "河埠", "横塘", "新桥", "长亭", "丰乐", "安和",
)
_TOWNSHIP_SUFFIXES = ("镇", "街道", "乡")
_TOWNSHIP_SUFFIX_SHARES = (0.55, 0.35, 0.10)
_ROADS = (
    "人民路", "解放路", "建设路", "新华路", "文化路", "胜利路", "环城路", "东风路", "振兴路", "和平路",
    "光明路", "工业路", "创业路", "学府路", "滨江路", "花园路", "健康路", "幸福路",
)
_VILLAGES = (
    "前洋村", "后山村", "上塘村", "下岙村", "东岙村", "西畈村", "中村", "新屋村", "杨家村", "王家村",
    "李家村", "陈家村", "石门村", "岭下村", "溪口村", "塘头村",
)
_FIRM_STEMS = (
    "恒达", "华宇", "金鼎", "宏盛", "瑞丰", "天成", "嘉禾", "博远", "润泽", "鑫源", "中盛", "永康",
    "新联", "海创", "卓越", "众鑫", "立信", "广益", "华腾", "明辉",
)
_FIRM_TRADES = (
    "机械", "电子", "科技", "纺织", "塑业", "新材料", "生物医药", "电器", "模具", "汽车部件", "食品",
    "建材", "贸易", "物流", "农业", "光电", "信息技术", "环保",
)
_FIRM_FORMS = ("有限公司", "股份有限公司", "经营部", "专业合作社")
_FIRM_FORM_SHARES = (0.78, 0.08, 0.1, 0.04)
_STREET_ADDRESS_SHARE = 0.6
_FLAT_SHARE = 0.7


def _pick(parts: tuple[str, ...] | str, count: int, rng: np.random.Generator, weights=None) -> pa.Array:
    values = pa.array(list(parts), type=pa.string())
    probabilities = None if weights is None else np.asarray(weights, dtype=np.float64) / np.sum(weights)
    return values.take(pa.array(rng.choice(len(values), size=count, p=probabilities)))


def _numbers(low: int, high: int, count: int, rng: np.random.Generator) -> pa.Array:
    return pc.cast(pa.array(rng.integers(low, high + 1, size=count)), pa.string())


def make_person_names(count: int, rng: np.random.Generator, male: np.ndarray | None = None) -> pa.Array:
    """Fictional names: a common surname and one or two generic given-name characters.

    Args:
        count: How many names.
        rng: Random generator.
        male: Per name ``1`` (male), ``0`` (female) or ``-1`` (unknown, drawn at random).
    """
    sex = np.full(count, -1, dtype=np.int8) if male is None else np.asarray(male, dtype=np.int8)
    sex = np.where(sex < 0, rng.integers(0, 2, size=count), sex)
    surnames = _pick(tuple(s for s, _ in _SURNAMES), count, rng, [w for _, w in _SURNAMES])
    male_first, female_first = _pick(_MALE_GIVEN, count, rng), _pick(_FEMALE_GIVEN, count, rng)
    male_second, female_second = _pick(_MALE_GIVEN, count, rng), _pick(_FEMALE_GIVEN, count, rng)
    is_male = pa.array(sex == 1)
    first = pc.if_else(is_male, male_first, female_first)
    second = pc.if_else(is_male, male_second, female_second)
    two = pa.array(rng.random(count) < _TWO_CHARACTER_GIVEN_SHARE)
    second = pc.if_else(two, second, pa.scalar("", pa.string()))
    return pc.binary_join_element_wise(surnames, first, second, "")


def make_addresses(count: int, rng: np.random.Generator) -> pa.Array:
    """Generic addresses of invented townships: street numbers with flats, or village houses."""
    township = pc.binary_join_element_wise(
        _pick(_PLACE_STEMS, count, rng), _pick(_TOWNSHIP_SUFFIXES, count, rng, _TOWNSHIP_SUFFIX_SHARES), ""
    )
    street = pc.binary_join_element_wise(
        township, _pick(_ROADS, count, rng), _numbers(1, 399, count, rng), pa.scalar("号"), ""
    )
    flat = pc.binary_join_element_wise(
        _numbers(1, 30, count, rng), pa.scalar("幢"), _numbers(1, 4, count, rng), pa.scalar("单元"),
        _numbers(1, 18, count, rng), pa.scalar("0"), _numbers(1, 4, count, rng), pa.scalar("室"), "",
    )
    with_flat = pa.array(rng.random(count) < _FLAT_SHARE)
    street = pc.if_else(with_flat, pc.binary_join_element_wise(street, flat, ""), street)
    village = pc.binary_join_element_wise(
        township, _pick(_VILLAGES, count, rng), _numbers(1, 299, count, rng), pa.scalar("号"), ""
    )
    on_street = pa.array(rng.random(count) < _STREET_ADDRESS_SHARE)
    return pc.if_else(on_street, street, village)


def make_enterprise_names(count: int, rng: np.random.Generator) -> pa.Array:
    """Fictional firm names: place, trade name, trade and legal form (``东湖恒达机械有限公司``)."""
    return pc.binary_join_element_wise(
        _pick(_PLACE_STEMS, count, rng), _pick(_FIRM_STEMS, count, rng), _pick(_FIRM_TRADES, count, rng),
        _pick(_FIRM_FORMS, count, rng, _FIRM_FORM_SHARES), "",
    )
