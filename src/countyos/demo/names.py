"""Word lists for fictional Chinese names: people, roads, villages, residential compounds.

Owns the vocabularies and their weights (surname frequencies of an eastern Zhejiang county, given-
name characters by sex and birth era) and vectorised samplers that turn them into name arrays.
It must not decide who is born when or lives where. Road and compound words are generic ones
found in many Chinese towns; names of the real county's landmarks are left out on purpose.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from countyos.demo.textutil import join, pick

#: Surnames with approximate frequencies (per cent) in eastern Zhejiang.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("陈", 7.2), ("王", 6.8), ("张", 5.0), ("李", 3.6), ("徐", 3.4), ("黄", 2.9), ("胡", 2.7),
    ("周", 2.7), ("吴", 2.6), ("孙", 2.2), ("杨", 2.1), ("叶", 2.0), ("朱", 2.0), ("刘", 1.9),
    ("金", 1.8), ("沈", 1.7), ("邵", 1.5), ("郑", 1.5), ("林", 1.3), ("赵", 1.2), ("蒋", 1.1),
    ("方", 1.1), ("施", 1.0), ("毛", 1.0), ("何", 1.0), ("许", 1.0), ("俞", 0.95), ("谢", 0.9),
    ("钱", 0.9), ("姚", 0.9), ("潘", 0.9), ("马", 0.8), ("应", 0.7), ("宋", 0.7), ("董", 0.7),
    ("余", 0.7), ("戚", 0.6), ("史", 0.6), ("罗", 0.6), ("袁", 0.6), ("卢", 0.6), ("丁", 0.6),
    ("汪", 0.6), ("魏", 0.5), ("韩", 0.5), ("范", 0.5), ("严", 0.5), ("岑", 0.45), ("柴", 0.4),
    ("鲁", 0.4), ("楼", 0.4), ("翁", 0.4), ("孔", 0.4), ("诸", 0.35), ("屠", 0.3), ("干", 0.2),
    ("褚", 0.2), ("童", 0.35), ("傅", 0.4), ("曹", 0.4), ("欧阳", 0.05), ("司马", 0.02),
    ("诸葛", 0.02),
)

#: Given-name characters by sex and birth era, most common first.
GIVEN_CHARACTERS: dict[tuple[str, str], str] = {
    ("M", "before1965"): "国建华明德荣忠根法富林福祥金海水兴才宝昌良生财培友松康伯志庆",
    ("M", "1965to1989"): "伟军强勇斌峰杰涛磊波刚平辉健东超鹏亮飞晓建永海明华文立俊锋",
    ("M", "1990to2009"): "浩宇杰俊凯鑫豪晨博磊帅翔然泽轩天子涛辰阳一文佳家旭振鹏伟毅航",
    ("M", "since2010"): "梓睿浩宇轩子沐辰宸奕铭皓泽煜俊博然逸一航锦晨楷熙言安瑞恒川屹",
    ("F", "before1965"): "秀英兰珍芳凤玉美琴娟花梅月彩素翠菊仙娥云金桂香妹爱红霞萍莲宝",
    ("F", "1965to1989"): "丽红燕萍霞静敏芳娟艳琳婷洁慧颖英玲雪丹蓉倩晓微佳怡莉君亚媛琼",
    ("F", "1990to2009"): "婷佳雨欣怡梦琪雪倩思诗嘉晨文悦妍蕾璐瑶静洁丹颖露月涵蓉楠菲婧",
    ("F", "since2010"): "梓涵欣若可诗语一依雨芯沐婉悦汐玥瑶妍桐苒晴宁安朵萱希言馨锦初",
}
#: Share of one-character given names by birth era.
SINGLE_CHARACTER_SHARE = {"before1965": 0.25, "1965to1989": 0.32, "1990to2009": 0.22,
                          "since2010": 0.1}
ERA_BOUNDS = (("before1965", 0, 1965), ("1965to1989", 1965, 1990), ("1990to2009", 1990, 2010),
              ("since2010", 2010, 10_000))

ROAD_WORDS = (
    "青云", "兴业", "丰乐", "振兴", "迎宾", "滨河", "文化", "育才", "锦绣", "新城", "工业", "科技",
    "明珠", "长春", "望湖", "翠柳", "桃源", "金桥", "银杏", "梧桐", "东升", "西河", "南山", "北湖",
    "和平", "幸福", "安康", "春晖", "秋实", "玉兰", "凤凰", "世纪", "光明", "胜利", "团结", "健康",
    "永安", "太平", "双桥", "通济", "富民", "惠民", "朝阳", "新湖", "环城", "临江", "海晏", "星河",
    "泰安", "长兴", "德胜", "兴园", "汇金", "创业", "开元", "荷花", "樱花", "学府", "民安", "聚贤",
)
ROAD_SUFFIXES = ("路", "路", "路", "路", "路", "路", "街", "街", "大道", "巷")
COMPOUND_WORDS = (
    "锦绣", "阳光", "翠湖", "金色", "怡景", "香樟", "碧水", "丽园", "东方", "新苑", "星河", "御景",
    "紫荆", "绿洲", "春江", "名都", "华庭", "康城", "枫林", "书香", "和园", "悦澜", "君悦", "江南",
)
COMPOUND_SUFFIXES = ("花园", "家园", "小区", "新村", "公寓", "苑", "府", "名邸")
VILLAGE_FIRST = "上下东西南北前后大小新老横高石桥塘"
VILLAGE_SECOND = "岙塘桥湾山溪埠庄浦头岭坑畈堰墩弄浜洋"
PLACES = (
    "菜市场", "农贸市场", "公园", "小学", "中学", "幼儿园", "体育馆", "汽车站", "文化广场", "商场",
    "工业园区", "老年活动中心", "社区服务中心", "停车场", "滨江绿道", "商业街", "夜市", "图书馆",
)


def zipf_weights(count: int, offset: float = 3.0) -> np.ndarray:
    """Normalised weights ``1 / (rank + offset)`` for ``count`` items, most common first."""
    weights = 1.0 / (np.arange(count) + offset)
    return weights / weights.sum()


def surnames(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` surnames drawn by frequency."""
    words = [word for word, _ in SURNAMES]
    weights = np.array([weight for _, weight in SURNAMES])
    return pick(words, rng.choice(len(words), size=n, p=weights / weights.sum()))


def given_names(rng: np.random.Generator, is_male: np.ndarray, birth_year: np.ndarray) -> pa.Array:
    """Given names (one or two characters) fitting each person's sex and birth era."""
    n = len(is_male)
    vocabulary: list[str] = [""]
    first = np.zeros(n, dtype=np.int64)
    second = np.zeros(n, dtype=np.int64)
    for era, start, stop in ERA_BOUNDS:
        for sex in ("M", "F"):
            rows = np.flatnonzero(((is_male if sex == "M" else ~is_male))
                                  & (birth_year >= start) & (birth_year < stop))
            if len(rows) == 0:
                continue
            characters = GIVEN_CHARACTERS[(sex, era)]
            base = len(vocabulary)
            vocabulary.extend(characters)
            weights = zipf_weights(len(characters))
            first[rows] = base + rng.choice(len(characters), size=len(rows), p=weights)
            two = rng.random(len(rows)) >= SINGLE_CHARACTER_SHARE[era]
            picked = base + rng.choice(len(characters), size=len(rows), p=weights)
            second[rows] = np.where(two, picked, 0)
    return join(pick(vocabulary, first), pick(vocabulary, second))


def person_names(rng: np.random.Generator, is_male: np.ndarray, birth_year: np.ndarray
                 ) -> pa.Array:
    """Full fictional names: surname then given name."""
    return join(surnames(rng, len(is_male)), given_names(rng, is_male, birth_year))


def road_names(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` road names such as 青云路 or 兴业大道."""
    return join(pick(ROAD_WORDS, rng.integers(0, len(ROAD_WORDS), n)),
                pick(ROAD_SUFFIXES, rng.integers(0, len(ROAD_SUFFIXES), n)))


def compound_names(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` names of residential compounds such as 翠湖家园."""
    return join(pick(COMPOUND_WORDS, rng.integers(0, len(COMPOUND_WORDS), n)),
                pick(COMPOUND_SUFFIXES, rng.integers(0, len(COMPOUND_SUFFIXES), n)))


def village_names(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` village names such as 下塘村 or 东岙村."""
    return join(pick(list(VILLAGE_FIRST), rng.integers(0, len(VILLAGE_FIRST), n)),
                pick(list(VILLAGE_SECOND), rng.integers(0, len(VILLAGE_SECOND), n)), "村")


def places(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` public places (菜市场, 小学, ...) for complaint texts."""
    return pick(PLACES, rng.integers(0, len(PLACES), n))
