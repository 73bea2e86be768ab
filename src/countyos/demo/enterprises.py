"""Firms of the Demo County: the market-regulation enterprise registry (企业登记信息).

Owns the enterprises: industry, township, founding date, heavy-tailed size (employees, registered
capital, revenue), credit codes and fictional names, and the rare distinctions (above designated
size 规上, R&D institution, 专精特新 SMEs and national "little giants", single champions). It hands
the economy, social insurance and other modules a ``Firms`` of arrays; it must not generate
monthly output, electricity or employees' records.

Calibration at F = 1 (public figures about Yuyao): about 30,000 enterprises, 872 with an R&D
institution, 36 national "little giants", 10 national single champions (the largest output).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.demo.geography import COUNTY_CODE, COUNTY_SHORT_ZH, COUNTY_NAME_ZH, TOWNSHIPS
from countyos.demo.idcodes import credit_codes, organization_bodies
from countyos.demo.industries import INDUSTRIES, company_names
from countyos.demo.model import DemoDataset, make_dataset
from countyos.demo.people import allocate
from countyos.demo.textutil import pick
from countyos.demo.timeline import SNAPSHOT_DATE

ENTERPRISES_AT_SCALE_1 = 30_000
MIN_ENTERPRISES = 50
CHAMPIONS_AT_SCALE_1 = 10
LITTLE_GIANTS_AT_SCALE_1 = 36
SPECIALIZED_AT_SCALE_1 = 300
RD_INSTITUTIONS_AT_SCALE_1 = 872
#: 规模以上工业: annual main-business revenue of 20 million yuan (2,000 万元) or more.
ABOVE_SIZE_REVENUE_WAN = 2_000
EMPLOYEE_SIGMA = 1.7
#: Scales industry productivity so that at F = 1 about 2,100 manufacturers are above designated
#: size with about 240 billion yuan of 2025 output: GDP 151.3 billion yuan, industry about half
#: of it, at a value-added rate near 30 %.
PRODUCTIVITY_CALIBRATION = 0.6
SME_MAX_EMPLOYEES = 1_000
MAX_EMPLOYEES = 6_000
CREDIT_CODE_REFORM = date(2015, 10, 1)
OLDEST_FOUNDING = date(1985, 1, 1)
_NICE_MANTISSAS = np.array([1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 10.0])


@dataclass
class Firms:
    """The enterprises as arrays, in registry row order."""

    uscc: pa.Array
    industry: np.ndarray  # index into INDUSTRIES
    township: np.ndarray  # index into TOWNSHIPS
    employees: np.ndarray
    revenue: np.ndarray  # 2025 revenue, 10,000 yuan
    founded: np.ndarray  # datetime64[D]
    above_size: np.ndarray
    champion: np.ndarray

    def __len__(self) -> int:
        return len(self.employees)


def _flag(rng: np.random.Generator, count: int, weights: np.ndarray) -> np.ndarray:
    """A boolean mask of ``count`` rows drawn without replacement with ``weights``."""
    mask = np.zeros(len(weights), dtype=bool)
    candidates = np.flatnonzero(weights > 0)
    count = min(count, len(candidates))
    if count:
        p = weights[candidates] / weights[candidates].sum()
        mask[rng.choice(candidates, size=count, replace=False, p=p)] = True
    return mask


def generate_enterprises(rng: np.random.Generator, scale: float) -> tuple[DemoDataset, Firms]:
    """Enterprises at scale factor ``scale``: the registry dataset and the arrays behind it."""
    n = max(MIN_ENTERPRISES, round(ENTERPRISES_AT_SCALE_1 * scale))
    shares = np.array([spec.share for spec in INDUSTRIES])
    industry = rng.permutation(np.repeat(np.arange(len(INDUSTRIES)), allocate(n, shares, 0)))
    manufacturing = np.array([spec.manufacturing for spec in INDUSTRIES])[industry]
    section = np.array([spec.section for spec in INDUSTRIES])[industry]

    township = np.empty(n, dtype=np.int64)
    for mask, weights in ((manufacturing, [t.industry for t in TOWNSHIPS]),
                          (~manufacturing, [t.services for t in TOWNSHIPS])):
        w = np.array(weights) / np.sum(weights)
        township[mask] = rng.choice(len(TOWNSHIPS), size=int(mask.sum()), p=w)

    median = np.array([spec.median_employees for spec in INDUSTRIES])[industry]
    employees = np.maximum(1, np.round(median * np.exp(rng.normal(0, EMPLOYEE_SIGMA, n))))
    employees = np.minimum(employees, MAX_EMPLOYEES).astype(np.int64)

    key = np.array([spec.key for spec in INDUSTRIES])[industry]
    champion = _flag(rng, max(1, round(CHAMPIONS_AT_SCALE_1 * scale)), key.astype(float))
    top = np.exp(rng.uniform(3.0, 3.8, n) * EMPLOYEE_SIGMA)
    champion_size = np.clip(np.round(np.minimum(median, 25) * top), 800, 6_000).astype(np.int64)
    employees = np.where(champion, np.maximum(champion_size, employees), employees)

    productivity = np.array([spec.productivity for spec in INDUSTRIES])[industry]
    per_employee = productivity * PRODUCTIVITY_CALIBRATION
    revenue = employees * per_employee * np.exp(rng.normal(-0.1, 0.45, n))
    # A single champion has the largest output of its industry, and the staff to match.
    largest_other = np.zeros(len(INDUSTRIES))
    np.maximum.at(largest_other, industry[~champion], revenue[~champion])
    lead = rng.uniform(1.15, 1.8, n)
    champion_revenue = np.maximum(revenue * 1.6, largest_other[industry] * lead)
    revenue = np.round(np.where(champion, champion_revenue, revenue), 1)
    employees = np.where(champion, np.maximum(employees, np.round(revenue / (per_employee * 1.6))),
                         employees).astype(np.int64)

    mean_age = 4.0 + 2.2 * np.log(employees)
    age_days = rng.gamma(2.0, mean_age / 2.0, n) * 365.25
    age_days = np.where(champion, np.maximum(age_days, rng.uniform(15, 30, n) * 365.25), age_days)
    snapshot = np.datetime64(SNAPSHOT_DATE, "D")
    founded = np.maximum(snapshot - age_days.astype(np.int64), np.datetime64(OLDEST_FOUNDING, "D"))

    above_size = manufacturing & (revenue >= ABOVE_SIZE_REVENUE_WAN)
    size_weight = employees.astype(float) ** 0.7
    research_prone = np.isin(section, ["I", "M"])
    has_rd = _flag(rng, max(1, round(RD_INSTITUTIONS_AT_SCALE_1 * scale)),
                   size_weight * np.where(manufacturing, 1.0, np.where(research_prone, 0.3, 0.0)))
    has_rd |= champion
    sme = (employees >= 10) & (employees < SME_MAX_EMPLOYEES) & ~champion
    specialized = _flag(
        rng, max(1, round(SPECIALIZED_AT_SCALE_1 * scale)),
        sme * np.sqrt(employees) * np.where(manufacturing, 1.0, np.where(research_prone, 0.12, 0.0))
        * np.where(has_rd, 4.0, 1.0),
    )
    little_giant = _flag(rng, max(1, round(LITTLE_GIANTS_AT_SCALE_1 * scale)),
                         specialized * revenue ** 0.7 * np.where(has_rd, 3.0, 1.0))

    capital = 50 * np.exp(0.9 * (np.log(employees) - np.log(5)) + rng.normal(0, 0.9, n))
    capital = np.where(champion, np.maximum(capital, 10_000), capital)
    capital = _round_nicely(np.clip(capital, 1, 500_000))

    cooperative = (section == "A") & (rng.random(n) < 0.3)
    uscc = _unique_credit_codes(rng, founded, cooperative)
    names = _unique_names(rng, industry, township, capital, employees, cooperative)

    order = np.argsort(founded, kind="stable")
    take = pa.array(order)
    firms = Firms(uscc.take(take), industry[order], township[order], employees[order],
                  revenue[order], founded[order], above_size[order], champion[order])
    dataset = make_dataset(
        name="enterprise_registry",
        department="market_regulation",
        title=("企业登记信息", "Enterprise registry"),
        description=(
            f"市场监管部门登记的在册企业（截至{SNAPSHOT_DATE.isoformat()}），每户企业一行，含统一社会"
            "信用代码、企业名称、国民经济行业分类（GB/T 4754-2017）、所在乡镇街道、成立日期、注册资本、"
            "从业人数，以及规上工业、研发机构、专精特新、“小巨人”和制造业单项冠军等标识。",
            f"Enterprises on the market regulation register as of {SNAPSHOT_DATE.isoformat()}: one "
            "row per company with unified social credit code, name, industry (GB/T 4754-2017), "
            "township, founding date, registered capital, employees, and flags for above-"
            "designated-size industry, R&D institution, specialized SME, little giant and single "
            "champion manufacturer.",
        ),
        columns=[
            ("uscc", firms.uscc, "统一社会信用代码（18位）", "Unified social credit code (18 characters)"),
            ("name", names.take(take), "企业名称", "Company name"),
            ("industry_section", pa.array(section[order]), "行业门类代码（GB/T 4754-2017，A–R）",
             "Industry section letter (GB/T 4754-2017, A to R)"),
            ("industry_code", pick([s.code for s in INDUSTRIES], industry[order]),
             "行业代码（大类、中类或小类）", "Industry code (division, group or class)"),
            ("industry_name", pick([s.name_zh for s in INDUSTRIES], industry[order]), "行业名称",
             "Industry name (Chinese)"),
            ("township_code", pick([t.code for t in TOWNSHIPS], township[order]),
             "住所所在乡镇街道代码", "Township code of the registered address"),
            ("founded_date", pa.array(founded[order], type=pa.date32()), "成立日期", "Founding date"),
            ("registered_capital", pa.array(capital[order]), "注册资本（万元）",
             "Registered capital (10,000 yuan)"),
            ("employees", pa.array(employees[order]), "从业人数（人）", "Number of employees"),
            ("above_designated_size", pa.array(above_size[order]),
             "是否规模以上工业企业（制造业，年主营业务收入2000万元及以上）",
             "Above designated size: manufacturer with annual revenue of 20 million yuan or more"),
            ("has_rd_institution", pa.array(has_rd[order]), "是否设有企业研发机构",
             "Has an in-house R&D institution"),
            ("specialized_sme", pa.array(specialized[order]), "是否专精特新中小企业（省级及以上）",
             "Specialized, refined, distinctive and innovative SME (provincial level or above)"),
            ("little_giant", pa.array(little_giant[order]), "是否国家级专精特新“小巨人”企业",
             "National specialized 'little giant' enterprise"),
            ("single_champion", pa.array(champion[order]), "是否国家级制造业单项冠军企业",
             "National single champion manufacturer"),
        ],
    )
    return dataset, firms


def _round_nicely(values: np.ndarray) -> np.ndarray:
    """Round to amounts capital is usually declared in (1, 1.5, 2, 3, 5, 8 times 10^k)."""
    exponent = np.floor(np.log10(values))
    mantissa = values / 10**exponent
    nearest = _NICE_MANTISSAS[np.abs(mantissa[:, None] - _NICE_MANTISSAS[None, :]).argmin(axis=1)]
    return nearest * 10**exponent


def _duplicates(values: pa.Array) -> np.ndarray:
    """Rows whose value already appeared in an earlier row."""
    codes = pc.dictionary_encode(values).indices.to_numpy()
    _, first = np.unique(codes, return_index=True)
    repeated = np.ones(len(codes), dtype=bool)
    repeated[first] = False
    return np.flatnonzero(repeated)


def _unique_credit_codes(rng: np.random.Generator, founded: np.ndarray, cooperative: np.ndarray
                         ) -> pa.Array:
    new_style = founded >= np.datetime64(CREDIT_CODE_REFORM, "D")
    registration = np.full((len(founded), 2), [ord("9"), ord("1")], dtype=np.uint8)
    registration[cooperative, 1] = ord("3")
    body = organization_bodies(rng, new_style)
    while True:
        codes = credit_codes(COUNTY_CODE, registration, body)
        repeated = _duplicates(codes)
        if len(repeated) == 0:
            return codes
        body[repeated] = organization_bodies(rng, new_style[repeated])


def _unique_names(rng: np.random.Generator, industry: np.ndarray, township: np.ndarray,
                  capital: np.ndarray, employees: np.ndarray, cooperative: np.ndarray
                  ) -> pa.Array:
    n = len(industry)
    short = pick([t.short_name for t in TOWNSHIPS], township)
    draw = rng.random(n)
    prefix_choice = np.where(draw < 0.7, 0, np.where(draw < 0.85, 1, 2))
    prefix_choice = np.where((prefix_choice == 2) & (capital < 1_000), 0, prefix_choice)
    prefix_choice = np.where(cooperative, 1, prefix_choice)
    prefix = pick([COUNTY_SHORT_ZH, COUNTY_NAME_ZH, "浙江"], prefix_choice)
    suffix_choice = np.where(cooperative, 2,
                             np.where((employees >= 300) & (rng.random(n) < 0.5), 1, 0))
    suffix = pick(["有限公司", "股份有限公司", "专业合作社"], suffix_choice)
    names = company_names(rng, industry, short, prefix, suffix)
    for _ in range(50):
        repeated = _duplicates(names)
        if len(repeated) == 0:
            return names
        take = pa.array(repeated)
        fresh = company_names(rng, industry[repeated], short.take(take), prefix.take(take),
                              suffix.take(take))
        array = names.to_numpy(zero_copy_only=False).astype(object)
        array[repeated] = fresh.to_numpy(zero_copy_only=False)
        names = pa.array(array, type=pa.string())
    return names
