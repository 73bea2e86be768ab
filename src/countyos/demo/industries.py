"""Industries of the Demo County (GB/T 4754-2017) and fictional company names.

Owns the industry mix of a manufacturing county (household appliances, moulds, plastics, auto
parts, new-energy vehicles, lithium batteries and their materials, optics, biomedicine and the
digital economy, then trade and services), each industry's firm-size, productivity, growth,
electricity and work-rhythm parameters, and the words fictional company names are made of. It
must not generate firms; ``enterprises`` does.

Parameter units: ``share`` per cent of all firms; ``median_employees`` persons; ``productivity``
annual revenue per employee in 10,000 yuan (万元); ``growth`` yearly log growth 2023–2025;
``kwh_per_wan`` electricity per 10,000 yuan of output; ``continuity`` 0 (stops on rest days)
to 1 (continuous process).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.demo.textutil import join, pick

SECTION_NAMES = {
    "A": "农、林、牧、渔业", "B": "采矿业", "C": "制造业", "D": "电力、热力、燃气及水生产和供应业",
    "E": "建筑业", "F": "批发和零售业", "G": "交通运输、仓储和邮政业", "H": "住宿和餐饮业",
    "I": "信息传输、软件和信息技术服务业", "J": "金融业", "K": "房地产业", "L": "租赁和商务服务业",
    "M": "科学研究和技术服务业", "N": "水利、环境和公共设施管理业", "O": "居民服务、修理和其他服务业",
    "P": "教育", "Q": "卫生和社会工作", "R": "文化、体育和娱乐业",
}


@dataclass(frozen=True)
class Industry:
    """One industry (a GB/T 4754 division, group or class) and its generator parameters."""

    section: str
    code: str
    name_zh: str
    share: float
    median_employees: float
    productivity: float
    growth: float
    kwh_per_wan: float
    continuity: float
    terms: tuple[str, ...]
    key: bool = False  # a key industry of the county: can hold a single champion

    @property
    def manufacturing(self) -> bool:
        """True for section C."""
        return self.section == "C"


def _i(section: str, code: str, name: str, share: float, employees: float, productivity: float,
       growth: float, kwh: float, continuity: float, terms: str, key: bool = False) -> Industry:
    return Industry(section, code, name, share, employees, productivity, growth, kwh, continuity,
                    tuple(terms.split()), key)


INDUSTRIES: tuple[Industry, ...] = (
    _i("C", "385", "家用电力器具制造", 4.5, 7.5, 110, 0.05, 120, 0.1, "电器 家电 电器科技 厨具", True),
    _i("C", "3525", "模具制造", 4.0, 6, 75, 0.04, 250, 0.1, "模具 模塑 精密模具 模具科技", True),
    _i("C", "3670", "汽车零部件及配件制造", 3.0, 9, 100, 0.08, 200, 0.2, "汽车部件 汽配 汽车零部件", True),
    _i("C", "3612", "新能源车整车制造", 0.05, 45, 320, 0.25, 80, 0.2, "新能源汽车 汽车", True),
    _i("C", "3841", "锂离子电池制造", 0.3, 19, 200, 0.12, 250, 0.4, "电池 新能源科技 储能科技", True),
    _i("C", "3985", "电子专用材料制造", 0.35, 15, 350, -0.06, 400, 0.7, "新材料 锂电材料 新能源材料", True),
    _i("C", "292", "塑料制品业", 6.0, 6, 120, 0.02, 500, 0.7, "塑业 塑料制品 塑胶 塑化", True),
    _i("C", "34", "通用设备制造业", 3.5, 7, 90, 0.04, 180, 0.1, "机械 机电 泵业 阀门 轴承", True),
    _i("C", "33", "金属制品业", 3.0, 6, 90, 0.03, 300, 0.3, "五金 金属制品 紧固件 不锈钢"),
    _i("C", "382", "输配电及控制设备制造", 1.5, 9, 120, 0.07, 120, 0.1, "电气 电力设备 开关", True),
    _i("C", "387", "照明器具制造", 1.5, 7, 80, 0.0, 150, 0.1, "照明 灯具 照明电器"),
    _i("C", "3983", "敏感元件及传感器制造", 1.0, 9, 130, 0.11, 150, 0.3, "传感器 智能科技 电子"),
    _i("C", "3976", "光电子器件制造", 0.8, 10.5, 140, 0.10, 160, 0.4, "光电 光电科技 激光", True),
    _i("C", "404", "光学仪器制造", 1.2, 9, 110, 0.10, 120, 0.1, "光学 光学仪器 光电仪器", True),
    _i("C", "2720", "化学药品制剂制造", 0.25, 22.5, 150, 0.06, 150, 0.5, "制药 药业", True),
    _i("C", "2761", "生物药品制造", 0.2, 19, 180, 0.09, 150, 0.5, "生物医药 生物科技 生物制药", True),
    _i("C", "358", "医疗仪器设备及器械制造", 0.4, 9, 110, 0.08, 100, 0.1, "医疗器械 医疗科技"),
    _i("C", "18", "纺织服装、服饰业", 1.5, 11, 50, -0.03, 80, 0.1, "服饰 服装 制衣"),
    _i("C", "21", "家具制造业", 0.7, 7.5, 60, -0.01, 100, 0.1, "家具 家居"),
    _i("C", "13", "农副食品加工业", 0.5, 7.5, 120, 0.02, 150, 0.3, "食品 农产品 食品科技"),
    _i("C", "26", "化学原料和化学制品制造业", 0.6, 11, 250, 0.02, 450, 0.9, "化工 化学 化工科技"),
    _i("A", "01", "农业", 1.2, 3, 30, 0.02, 40, 0.5, "农业发展 果蔬 杨梅 茶业"),
    _i("A", "05", "农、林、牧、渔专业及辅助性活动", 0.5, 3, 30, 0.02, 40, 0.5, "农业科技 农机服务"),
    _i("D", "44", "电力、热力生产和供应业", 0.3, 7.5, 200, 0.06, 60, 1.0, "能源 光伏科技 热电"),
    _i("E", "47", "房屋建筑业", 2.0, 15, 60, 0.0, 20, 0.2, "建设 建筑工程 建工"),
    _i("E", "48", "土木工程建筑业", 1.0, 11, 70, 0.0, 25, 0.2, "市政工程 交通工程 水利工程"),
    _i("E", "50", "建筑装饰、装修和其他建筑业", 3.0, 4.5, 50, 0.0, 15, 0.2, "装饰工程 装饰设计 幕墙"),
    _i("F", "51", "批发业", 15.0, 3, 150, 0.03, 10, 0.5, "贸易 进出口 商贸 国际贸易 塑化贸易"),
    _i("F", "52", "零售业", 8.0, 3, 60, 0.02, 25, 0.8, "商贸 超市 百货 商行"),
    _i("G", "54", "道路运输业", 2.0, 6, 50, 0.03, 15, 0.8, "物流 运输 货运"),
    _i("G", "59", "装卸搬运和仓储业", 1.0, 6, 40, 0.04, 40, 0.8, "仓储 供应链 仓储服务"),
    _i("H", "61", "住宿业", 0.5, 9, 25, 0.02, 60, 1.0, "酒店 宾馆"),
    _i("H", "62", "餐饮业", 1.5, 4.5, 25, 0.02, 80, 1.0, "餐饮 餐饮管理"),
    _i("I", "64", "互联网和相关服务", 1.5, 4, 60, 0.10, 20, 0.8, "网络科技 电子商务 互联网科技"),
    _i("I", "65", "软件和信息技术服务业", 2.5, 4.5, 50, 0.12, 20, 0.6, "信息技术 软件 数字科技 智能科技"),
    _i("J", "69", "其他金融业", 0.2, 4, 80, 0.0, 10, 0.4, "投资管理 资产管理"),
    _i("K", "70", "房地产业", 2.0, 6, 120, -0.08, 15, 0.6, "房地产开发 置业 物业管理"),
    _i("L", "71", "租赁业", 0.8, 3, 50, 0.02, 15, 0.5, "设备租赁 汽车租赁"),
    _i("L", "72", "商务服务业", 8.0, 3, 30, 0.03, 10, 0.4, "企业管理咨询 人力资源 广告 会展服务 商务咨询"),
    _i("M", "73", "研究和试验发展", 0.8, 6, 40, 0.08, 30, 0.4, "技术研究院 研发中心"),
    _i("M", "74", "专业技术服务业", 2.5, 4.5, 40, 0.05, 20, 0.4, "检测技术 工程设计 测绘 工程咨询"),
    _i("M", "75", "科技推广和应用服务业", 4.0, 3, 40, 0.06, 15, 0.4, "科技 新能源科技 技术服务 智能装备科技"),
    _i("N", "77", "生态保护和环境治理业", 0.5, 6, 50, 0.04, 40, 0.6, "环保科技 环境工程"),
    _i("O", "80", "居民服务业", 1.5, 4, 20, 0.02, 15, 0.8, "家政服务 保洁服务"),
    _i("O", "81", "机动车、电子产品和日用产品修理业", 1.0, 3, 30, 0.02, 30, 0.8, "汽车维修 汽车服务"),
    _i("P", "83", "教育", 0.5, 6, 20, 0.0, 25, 0.6, "教育科技 培训"),
    _i("Q", "84", "卫生", 0.3, 11, 40, 0.05, 40, 1.0, "健康管理 门诊部"),
    _i("R", "88", "文化艺术业", 0.8, 3, 30, 0.03, 20, 0.6, "文化传媒 文化发展"),
    _i("R", "89", "体育", 0.3, 3, 30, 0.04, 30, 0.8, "体育发展 健身"),
)

#: Characters of fictional trade names (字号); pairs listed in ``RESERVED_TRADE_NAMES`` are
#: never used because they are well-known real brands.
TRADE_FIRST = "华明瑞鑫宏恒达盛泰嘉远诚丰越凯聚博拓德锦信力欣和众天永荣昌隆兴亿正佳安康富祥润通汇立新伟卓"
TRADE_SECOND = "峰源辰科创维特美达诺邦迪瑞腾顺捷利翔阳宇泽森盈晟晖铭凡帆鼎澜沃朗睿威普菱格业晨星驰航"
RESERVED_TRADE_NAMES = frozenset({
    "方太", "公牛", "华为", "格力", "美的", "海尔", "吉利", "容百", "均胜", "金田", "杉杉", "博威",
    "宁德", "天邦", "康龙", "德业", "华翔", "拓普", "永新", "华润", "华联", "恒力", "荣盛", "恒逸",
    "正泰", "富通", "万向", "海天", "方正", "联想", "华达", "宏达", "华晨", "华星", "华美", "天美",
    "隆基", "华腾", "德力", "立达", "永达", "盛泰", "安瑞", "明阳", "亿纬", "国轩", "星星", "新宇",
})


def trade_names(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` two-character fictional trade names, avoiding ``RESERVED_TRADE_NAMES``."""
    pairs = [a + b for a in TRADE_FIRST for b in TRADE_SECOND
             if a != b and a + b not in RESERVED_TRADE_NAMES]
    return pick(pairs, rng.integers(0, len(pairs), n))


def company_names(rng: np.random.Generator, industry: np.ndarray, township_short: pa.Array,
                  prefix: pa.Array, suffix: pa.Array) -> pa.Array:
    """Names like 舜川青禾电器有限公司: prefix + trade name (or township) + industry term + suffix."""
    n = len(industry)
    terms: list[str] = []
    term_start = []
    for spec in INDUSTRIES:
        term_start.append(len(terms))
        terms.extend(spec.terms)
    term_count = np.array([len(spec.terms) for spec in INDUSTRIES])
    term = np.array(term_start)[industry] + (rng.random(n) * term_count[industry]).astype(np.int64)
    use_township = pa.array(rng.random(n) < 0.12)
    trade = trade_names(rng, n)
    trade = pc.if_else(use_township, township_short, trade)
    return join(prefix, trade, pick(terms, term), suffix)
