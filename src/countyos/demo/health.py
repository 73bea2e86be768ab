"""Outpatient visits in the Demo County's hospitals and health centres (门诊就诊记录).

Owns one year of outpatient visits: how often each resident goes (about three times a year on
average, more for small children and the old, overdispersed), for what (ICD-10 chapters whose
mix changes with age and sex, respiratory illness peaking in winter), when (fewer on Sundays,
holidays and the Spring Festival), where (county hospitals or the township health centre) and at
what cost (heavy-tailed, rising with age). It must not create residents.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from countyos.demo.geography import COUNTY_NAME_ZH, TOWNSHIPS
from countyos.demo.model import DemoDataset, make_dataset
from countyos.demo.people import Population
from countyos.demo.textutil import join, padded, pick
from countyos.demo.timeline import (
    REFERENCE_YEAR,
    daily_sequence,
    day_kinds,
    days_from_spring_festival,
    reference_year_days,
    yyyymmdd,
)

VISITS_PER_PERSON = 3.0
VISIT_DISPERSION = 1.3  # gamma shape of the personal visit rate
RATE_AGES = np.array([0, 3, 6, 10, 15, 20, 30, 45, 55, 65, 75, 85, 110])
RATE_VALUES = np.array([7.0, 5.5, 4.0, 2.5, 1.6, 1.4, 1.8, 2.4, 3.2, 4.6, 6.2, 7.0, 7.0])
AGE_BANDS = np.array([7, 18, 45, 65])  # bands 0–6, 7–17, 18–44, 45–64, 65+

#: ICD-10 chapter, code range, share per age band, median cost (yuan), season.
CHAPTERS: tuple[tuple[str, str, tuple[float, ...], float, str], ...] = (
    ("某些传染病和寄生虫病", "A00-B99", (6, 5, 3, 2, 1.5), 220, "flat"),
    ("肿瘤", "C00-D48", (0.2, 0.3, 1.5, 4, 6), 900, "flat"),
    ("血液及造血器官疾病和涉及免疫机制的某些疾患", "D50-D89", (1, 0.8, 1, 1, 1.5), 300, "flat"),
    ("内分泌、营养和代谢疾病", "E00-E90", (1, 1, 3, 9, 12), 280, "flat"),
    ("精神和行为障碍", "F00-F99", (0.5, 2, 3, 2.5, 2), 320, "flat"),
    ("神经系统疾病", "G00-G99", (1, 1.5, 3, 4, 6), 300, "flat"),
    ("眼和附器疾病", "H00-H59", (4, 8, 5, 5, 6), 200, "flat"),
    ("耳和乳突疾病", "H60-H95", (5, 3, 2, 2, 2.5), 180, "flat"),
    ("循环系统疾病", "I00-I99", (0.2, 0.3, 4, 15, 22), 300, "winter"),
    ("呼吸系统疾病", "J00-J99", (45, 35, 18, 11, 13), 170, "winter"),
    ("消化系统疾病", "K00-K93", (8, 10, 14, 12, 10), 240, "flat"),
    ("皮肤和皮下组织疾病", "L00-L99", (7, 6, 6, 4, 3), 150, "summer"),
    ("肌肉骨骼系统和结缔组织疾病", "M00-M99", (0.5, 3, 9, 14, 12), 260, "flat"),
    ("泌尿生殖系统疾病", "N00-N99", (2, 2, 8, 7, 6), 260, "flat"),
    ("妊娠、分娩和产褥期", "O00-O99", (0, 0.3, 6, 0.2, 0), 350, "flat"),
    ("症状、体征和临床与实验室异常所见，不可归类在他处者", "R00-R99", (6, 6, 6, 5, 5), 180, "flat"),
    ("损伤、中毒和外因的某些其他后果", "S00-T98", (5, 8, 6, 4, 4), 320, "flat"),
    ("影响健康状态和与保健机构接触的因素", "Z00-Z99", (8, 8, 5, 4, 3), 150, "flat"),
)
PREGNANCY = 14  # index of chapter O in CHAPTERS
NEOPLASMS = 1
COUNTY_HOSPITALS = (  # name suffix, cost multiplier
    ("人民医院", 1.4), ("第二人民医院", 1.2), ("中医医院", 1.1), ("妇幼保健院", 1.2))
LOCAL_COST = 0.65
#: Where visits go: county hospitals in COUNTY_HOSPITALS order, then the local health centre.
HOSPITAL_CHOICE = {
    "child": (0.25, 0.05, 0.05, 0.35, 0.30),
    "pregnancy": (0.30, 0.0, 0.0, 0.65, 0.05),
    "neoplasm": (0.70, 0.20, 0.10, 0.0, 0.0),
    "other": (0.25, 0.12, 0.15, 0.02, 0.46),
}


def visit_rate(age: np.ndarray, is_male: np.ndarray) -> np.ndarray:
    """Expected outpatient visits per year before calibration to ``VISITS_PER_PERSON``."""
    rate = np.interp(age, RATE_AGES, RATE_VALUES)
    return rate * np.where(~is_male & (age >= 20) & (age < 40), 1.3, 1.0)


def generate_outpatient(rng: np.random.Generator, population: Population) -> DemoDataset:
    """Outpatient visits of ``REFERENCE_YEAR``, about ``VISITS_PER_PERSON`` per resident."""
    rate = visit_rate(population.age, population.is_male)
    rate = rate * VISITS_PER_PERSON / rate.mean()
    personal = rng.gamma(VISIT_DISPERSION, rate / VISIT_DISPERSION)
    count = rng.poisson(personal)
    person = np.repeat(np.arange(len(population)), count)
    n = len(person)
    age = population.age[person]
    is_male = population.is_male[person]
    band = np.searchsorted(AGE_BANDS, age, side="right")
    fertile = ~is_male & (age >= 18) & (age <= 45)

    chapter = np.empty(n, dtype=np.int64)
    shares = np.array([c[2] for c in CHAPTERS], dtype=float).T  # bands x chapters
    for band_number in range(len(AGE_BANDS) + 1):
        for can_be_pregnant in (False, True):
            rows = np.flatnonzero((band == band_number) & (fertile == can_be_pregnant))
            p = shares[band_number].copy()
            if not can_be_pregnant:
                p[PREGNANCY] = 0.0
            chapter[rows] = rng.choice(len(CHAPTERS), size=len(rows), p=p / p.sum())

    days = reference_year_days()
    day = _visit_days(rng, chapter, days)
    hospital, cost_factor = _hospitals(rng, chapter, age, population.township[person])
    median = np.array([c[3] for c in CHAPTERS])[chapter]
    age_factor = 1 + np.maximum(age - 40, 0) / 50
    cost = np.round(np.maximum(5.0, median * cost_factor * age_factor
                               * np.exp(rng.normal(-0.2, 0.85, n))), 2)

    order = np.lexsort((rng.random(n), day))
    visit_day = days[day[order]]
    visit_id = join("V", padded(yyyymmdd(visit_day), 8), padded(daily_sequence(visit_day), 6))
    take = pa.array(order)
    return make_dataset(
        name="outpatient_visits",
        department="health",
        title=("门诊就诊记录", "Outpatient visits"),
        description=(
            f"卫生健康部门汇集的{REFERENCE_YEAR}年全县医疗机构门诊就诊记录，每次就诊一行，含就诊人员编号、"
            "就诊日期、医疗机构、诊断分组（ICD-10章）和门诊费用（元）。",
            f"Outpatient visits to the county's hospitals and health centres in {REFERENCE_YEAR} "
            "collected by the health bureau: one row per visit with person, date, hospital, "
            "diagnosis group (ICD-10 chapter) and cost in yuan.",
        ),
        columns=[
            ("visit_id", visit_id, "就诊流水号", "Visit number"),
            ("person_id", population.person_id.take(pa.array(person[order])), "人员编号",
             "Person identifier (joins the population registry)"),
            ("visit_date", pa.array(visit_day, type=pa.date32()), "就诊日期", "Date of the visit"),
            ("hospital", hospital.take(take), "医疗机构名称", "Hospital or health centre"),
            ("diagnosis_group", pick([c[0] for c in CHAPTERS], chapter[order]),
             "诊断分组（ICD-10章名称）", "Diagnosis group (ICD-10 chapter, Chinese title)"),
            ("icd10_chapter", pick([c[1] for c in CHAPTERS], chapter[order]),
             "ICD-10章编码范围", "ICD-10 chapter code range"),
            ("cost", pa.array(cost[order]), "门诊总费用（元）", "Total cost of the visit (yuan)"),
        ],
    )


def _visit_days(rng: np.random.Generator, chapter: np.ndarray, days: np.ndarray) -> np.ndarray:
    """A day of the year for every visit, by the season of its chapter."""
    kinds = day_kinds(days)
    base = np.select([kinds["holiday"], kinds["sunday"], kinds["saturday"]], [0.45, 0.6, 0.75],
                     default=1.0)
    offset = days_from_spring_festival(days)
    base = base * np.where((offset >= 0) & (offset < 7), 0.35, 1.0)
    day_of_year = (days - days.astype("datetime64[Y]")).astype(np.int64)
    winter = 1 + 0.6 * np.cos(day_of_year / len(days) * 2 * np.pi)
    seasons = {"flat": base, "winter": base * winter, "summer": base * (2 - winter)}
    day = np.empty(len(chapter), dtype=np.int64)
    season_of = np.array([c[4] for c in CHAPTERS])[chapter]
    for season, weights in seasons.items():
        rows = np.flatnonzero(season_of == season)
        day[rows] = rng.choice(len(days), size=len(rows), p=weights / weights.sum())
    return day


def _hospitals(rng: np.random.Generator, chapter: np.ndarray, age: np.ndarray,
               township: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """Hospital name and cost multiplier of every visit."""
    n = len(chapter)
    group = np.where(chapter == PREGNANCY, 1, np.where(chapter == NEOPLASMS, 2,
                                                       np.where(age < 15, 0, 3)))
    choice = np.empty(n, dtype=np.int64)
    for number, key in enumerate(("child", "pregnancy", "neoplasm", "other")):
        rows = np.flatnonzero(group == number)
        p = np.array(HOSPITAL_CHOICE[key])
        choice[rows] = rng.choice(len(p), size=len(rows), p=p / p.sum())
    county = [COUNTY_NAME_ZH + suffix for suffix, _ in COUNTY_HOSPITALS]
    local = [t.name_zh + ("社区卫生服务中心" if t.kind == "街道" else "卫生院") for t in TOWNSHIPS]
    names = county + local
    local_choice = len(COUNTY_HOSPITALS)
    index = np.where(choice == local_choice, local_choice + township, choice)
    multipliers = np.array([m for _, m in COUNTY_HOSPITALS] + [LOCAL_COST])
    return pick(names, index), multipliers[choice]
