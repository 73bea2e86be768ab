"""12345 hotline work orders of the Demo County (12345热线工单).

Owns the citizens' requests and complaints of one year: when they come (weekly, seasonal and
holiday rhythm per category, hour of day), where (township weighted by residents), what they say
(sentences filled from templates), who handles them (a department or the township government),
how fast they are answered and closed, which are still open at the snapshot, and how satisfied
the caller was. It must not generate residents or firms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.demo.geography import TOWNSHIPS
from countyos.demo.model import DemoDataset, make_dataset
from countyos.demo.names import compound_names, places, road_names, village_names
from countyos.demo.people import Population
from countyos.demo.textutil import fill_templates, join, padded, pick
from countyos.demo.timeline import (
    REFERENCE_YEAR,
    SNAPSHOT_DATE,
    daily_sequence,
    days_from_spring_festival,
    reference_year_days,
    service_activity,
    yyyymmdd,
)

EVENTS_AT_SCALE_1 = 100_000
MIN_EVENTS = 100
HOUR_WEIGHTS = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.6, 1.5, 3.5, 5.5, 6.0, 5.5, 4.0, 4.5,
                         5.5, 5.5, 5.0, 4.5, 3.5, 3.5, 3.0, 2.5, 1.5, 0.8])
CHANNELS = (("电话", 0.62), ("浙里办APP", 0.18), ("微信公众号", 0.12), ("网站", 0.08))
STILL_PENDING_SHARE = 0.01
RATED_SHARE = 0.85


@dataclass(frozen=True)
class Category:
    """A hotline category: its share, handler, typical closing time, seasons and sentences.

    ``months`` multiplies the daily volume per month (January first); ``templates`` pairs a
    sentence with the department that handles it (``None``: the category's department).
    """

    name: str
    share: float
    department: str
    township_share: float
    close_hours: float
    months: tuple[float, ...]
    templates: tuple[tuple[str, str | None], ...]


_FLAT = (1.0,) * 12
_SUMMER = (0.8, 0.8, 0.9, 1.0, 1.1, 1.25, 1.35, 1.35, 1.2, 1.0, 0.9, 0.8)

CATEGORIES: tuple[Category, ...] = (
    Category("城市管理", 0.19, "综合行政执法局", 0.35, 40, _SUMMER, (
        ("{road}{n}号附近有商户长期占道经营，影响行人通行，希望相关部门处理。", None),
        ("{township}{road}路段垃圾桶已满多日无人清运，气味难闻，请尽快清理。", None),
        ("{road}{place}旁有人私自搭建违章建筑，请核实处理。", None),
        ("反映{road}一带夜间施工噪音扰民，{time}仍在施工，请求管理。", None),
        ("{road}路灯损坏多日，夜间出行不便，请尽快维修。", None),
    )),
    Category("环境保护", 0.10, "生态环境分局", 0.15, 60, _SUMMER, (
        ("{township}{place}附近一家工厂{time}排放刺鼻气味，周边居民难以入睡，请求查处。", None),
        ("{road}附近河道水体发黑发臭，怀疑有企业偷排污水，请相关部门调查。", None),
        ("{township}工业区内企业噪声过大，{time}仍有机器运转声，影响居民休息。", None),
        ("{road}旁有人露天焚烧垃圾，烟雾很大，请尽快处理。", None),
    )),
    Category("交通出行", 0.09, "交通运输局", 0.1, 50, _FLAT, (
        ("建议增开{township}至县城的公交班次，早晚高峰车上太挤。", None),
        ("{road}与{road2}路口红绿灯时间设置不合理，经常拥堵。", "公安局"),
        ("{road}路面出现坑洼，电动车经过很危险，请尽快修补。", None),
        ("{place}门口车辆乱停放，堵塞消防通道，请求处理。", "公安局"),
    )),
    Category("劳动保障", 0.10, "人力资源和社会保障局", 0.1, 120,
             (1.6, 1.2, 0.9, 0.85, 0.85, 0.9, 0.9, 0.9, 0.9, 0.95, 1.2, 1.6), (
        ("本人在{township}一家{trade}厂工作，已被拖欠工资{n}个月，请求帮助追讨。", None),
        ("公司一直未给员工缴纳社保，请求劳动监察部门介入。", None),
        ("咨询灵活就业人员如何办理养老保险参保缴费。", None),
        ("单位未签订劳动合同就辞退员工，请求维权。", None),
    )),
    Category("住房", 0.08, "住房和城乡建设局", 0.3, 100, _FLAT, (
        ("{township}{compound}物业不作为，电梯经常故障，请求协调。", None),
        ("所购{compound}新房延期交付已超过{n}个月，请求住建部门督促开发商。", None),
        ("房屋外墙渗水，申请使用住宅专项维修资金的流程不清楚，请求解答。", None),
        ("{compound}老旧小区加装电梯进展缓慢，希望加快推进。", None),
    )),
    Category("教育", 0.07, "教育局", 0.05, 60,
             (0.8, 1.2, 1.0, 0.9, 1.1, 1.6, 1.5, 1.4, 1.3, 0.8, 0.7, 0.7), (
        ("咨询孩子在{township}就读小学的入学条件和报名时间。", None),
        ("{township}一家校外培训机构收费后关门，家长无法退费，请求处理。", None),
        ("{place}附近学校门口上下学时段交通混乱，建议安排人员疏导。", None),
    )),
    Category("医疗卫生", 0.07, "卫生健康局", 0.05, 60,
             (1.3, 1.2, 1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 1.0, 1.1, 1.3), (
        ("在县人民医院看病排队时间太长，建议增加挂号窗口。", None),
        ("咨询异地就医医保报销比例和办理流程。", "医疗保障局"),
        ("{township}卫生院夜间无医生值班，老人看病不便。", None),
        ("反映{place}附近有诊所无证行医，请求查处。", None),
    )),
    Category("市场监管", 0.12, "市场监督管理局", 0.05, 70, _FLAT, (
        ("在{road}一家店铺办理预付卡后商家关门跑路，要求退款。", None),
        ("在{township}一家超市购买的食品已过保质期，要求处理。", None),
        ("网购商品存在质量问题，商家拒绝退换货，请求调解。", None),
        ("{road}一家餐馆卫生状况差，后厨有老鼠，请求检查。", None),
        ("{place}附近加油站价格标示不清，疑似价格欺诈。", None),
    )),
    Category("供水供电", 0.07, "水务集团", 0.05, 20,
             (0.9, 0.9, 0.9, 0.9, 1.0, 1.1, 1.3, 1.4, 1.2, 0.9, 0.8, 0.9), (
        ("{township}{compound}一带{time}停水，没有提前通知，请求尽快恢复。", None),
        ("{road}附近频繁停电，影响生产生活，请供电部门检查线路。", "供电公司"),
        ("高层住户水压不足，用水高峰经常没水。", None),
    )),
    Category("农业农村", 0.04, "农业农村局", 0.5, 90,
             (0.8, 0.8, 1.0, 1.1, 1.3, 1.4, 1.1, 1.0, 1.0, 1.0, 0.9, 0.8), (
        ("{township}{village}村道破损严重，希望修缮。", None),
        ("咨询杨梅种植补贴政策如何申请。", None),
        ("{village}土地流转费用长期未发放，请求核实。", None),
    )),
    Category("公共安全", 0.04, "公安局", 0.1, 30, _FLAT, (
        ("{road}附近夜间有人飙车，噪音大且危险，请求整治。", None),
        ("接到疑似诈骗电话，对方冒充公检法人员，请求核实。", None),
        ("{place}附近有人聚众赌博，请求查处。", None),
    )),
)
TIMES = ("凌晨两点", "晚上十点以后", "每天夜里", "周末清晨", "中午时段", "傍晚")
TRADES = ("塑料", "模具", "电器", "五金", "汽配", "服装", "灯具")
SNAPSHOT_END = np.datetime64(SNAPSHOT_DATE, "D") + np.timedelta64(1, "D")


def generate_hotline(rng: np.random.Generator, scale: float, population: Population
                     ) -> DemoDataset:
    """12345 work orders of ``REFERENCE_YEAR`` at scale factor ``scale``."""
    n = max(MIN_EVENTS, round(EVENTS_AT_SCALE_1 * scale))
    shares = np.array([c.share for c in CATEGORIES])
    category = rng.choice(len(CATEGORIES), size=n, p=shares / shares.sum())
    residents = np.bincount(population.township, minlength=len(TOWNSHIPS)).astype(float)
    township = rng.choice(len(TOWNSHIPS), size=n, p=residents / residents.sum())

    days = reference_year_days()
    day_month = (days.astype("datetime64[M]") - days.astype("datetime64[Y]")).astype(np.int64)
    offset = days_from_spring_festival(days)
    base = service_activity(days)
    day = np.empty(n, dtype=np.int64)
    for number, spec in enumerate(CATEGORIES):
        rows = np.flatnonzero(category == number)
        weights = base * np.array(spec.months)[day_month]
        if spec.name == "劳动保障":  # unpaid wages before the Spring Festival
            weights = weights * np.where((offset >= -30) & (offset < 0), 1.8, 1.0)
        day[rows] = rng.choice(len(days), size=len(rows), p=weights / weights.sum())
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    seconds = hour * 3600 + rng.integers(0, 3600, n)
    created = days[day].astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    order = np.argsort(created, kind="stable")
    category, township = category[order], township[order]
    created, hour = created[order], hour[order]

    wait_hours = np.exp(rng.normal(np.log(1.2), 0.8, n))
    after_hours = (hour < 8) | (hour >= 20)
    wait_hours += np.where(after_hours, (8.5 - hour) % 24, 0.0)
    responded = created + (wait_hours * 3600).astype("timedelta64[s]")
    close_median = np.array([c.close_hours for c in CATEGORIES])[category]
    close_hours = np.exp(rng.normal(np.log(close_median), 0.9))
    closed = responded + (close_hours * 3600).astype("timedelta64[s]")
    pending = rng.random(n) < STILL_PENDING_SHARE
    is_closed = (closed < SNAPSHOT_END) & ~pending
    is_responded = responded < SNAPSHOT_END

    texts, departments, which = _templates(rng, category)
    handler = _handlers(rng, category, township, departments, which)
    content = _contents(rng, township, texts, which)
    close_days = close_hours / 24
    score = np.clip(np.round(4.5 - 0.35 * np.log1p(close_days) + rng.normal(0, 0.9, n)), 1, 5)
    rated = is_closed & (rng.random(n) < RATED_SHARE)
    channel_shares = np.array([share for _, share in CHANNELS])
    channel = rng.choice(len(CHANNELS), size=n, p=channel_shares)
    status = np.where(is_closed, 0, np.where(is_responded, 1, 2))
    day_of_event = created.astype("datetime64[D]")
    event_id = join("E", padded(yyyymmdd(day_of_event), 8),
                    padded(daily_sequence(day_of_event), 5))
    return make_dataset(
        name="hotline_events",
        department="hotline_12345",
        title=("12345热线工单", "12345 hotline work orders"),
        description=(
            f"12345政务服务热线{REFERENCE_YEAR}年受理的群众诉求工单，每件工单一行，含受理时间、"
            "所属乡镇街道、诉求类别、诉求内容、承办单位、响应与办结时间、办理状态和满意度评价。",
            f"Citizens' requests and complaints received by the 12345 government service "
            f"hotline in {REFERENCE_YEAR}: one row per work order with time received, township, "
            "category, content, handling department, response and closing times, status and "
            "satisfaction rating.",
        ),
        columns=[
            ("event_id", event_id, "工单编号", "Work order number"),
            ("created_at", _timestamps(created, np.ones(n, bool)), "受理时间", "Time received"),
            ("channel", pick([c for c, _ in CHANNELS], channel), "诉求渠道",
             "Channel (phone, app, WeChat, website)"),
            ("township_code", pick([t.code for t in TOWNSHIPS], township), "所属乡镇街道代码",
             "Township code of the request"),
            ("category", pick([c.name for c in CATEGORIES], category), "诉求类别", "Category"),
            ("content", content, "诉求内容", "What the caller asked or complained about"),
            ("handling_department", handler, "承办单位", "Department that handles the order"),
            ("responded_at", _timestamps(responded, is_responded), "首次响应时间（未响应为空）",
             "Time of first response (empty when not yet answered)"),
            ("closed_at", _timestamps(closed, is_closed), "办结时间（未办结为空）",
             "Time closed (empty while still open)"),
            ("status", pick(["已办结", "办理中", "待响应"], status), "办理状态",
             "Status: closed, in progress or awaiting response"),
            ("satisfaction", pa.array(score.astype(np.int64), mask=~rated),
             "满意度评价（1–5分，5分为非常满意；未评价为空）",
             "Satisfaction rating 1 to 5 (5 = very satisfied; empty when not rated)"),
        ],
    )


def _timestamps(values: np.ndarray, present: np.ndarray) -> pa.Array:
    return pa.array(values.astype("datetime64[us]"), type=pa.timestamp("us"), mask=~present)


def _templates(rng: np.random.Generator, category: np.ndarray
               ) -> tuple[list[str], list[str], np.ndarray]:
    """All template sentences, their handling departments, and a template for every order."""
    texts: list[str] = []
    departments: list[str] = []
    first = []
    for spec in CATEGORIES:
        first.append(len(texts))
        for text, department in spec.templates:
            texts.append(text)
            departments.append(department or spec.department)
    count = np.array([len(spec.templates) for spec in CATEGORIES])[category]
    which = np.array(first)[category] + (rng.random(len(category)) * count).astype(np.int64)
    return texts, departments, which


def _handlers(rng: np.random.Generator, category: np.ndarray, township: np.ndarray,
              departments: list[str], which: np.ndarray) -> pa.Array:
    """The department of each order's template, or the township government."""
    office = pick([t.name_zh + ("办事处" if t.kind == "街道" else "人民政府") for t in TOWNSHIPS],
                  township)
    to_township = np.array([c.township_share for c in CATEGORIES])[category] > rng.random(
        len(category))
    return pc.if_else(pa.array(to_township), office, pick(departments, which))


def _contents(rng: np.random.Generator, township: np.ndarray, texts: list[str],
              which: np.ndarray) -> pa.Array:
    """Complaint sentences filled from the templates with random roads, places and times."""
    n = len(which)
    slots = {
        "township": pick([t.name_zh for t in TOWNSHIPS], township),
        "road": road_names(rng, n),
        "road2": road_names(rng, n),
        "place": places(rng, n),
        "compound": compound_names(rng, n),
        "village": village_names(rng, n),
        "n": pc.cast(pa.array(rng.integers(2, 9, n)), pa.string()),
        "time": pick(TIMES, rng.integers(0, len(TIMES), n)),
        "trade": pick(TRADES, rng.integers(0, len(TRADES), n)),
    }
    return fill_templates(texts, which, slots)
