"""The Demo County's economy over time: monthly industrial output and daily electricity use.

Owns two datasets built from one monthly activity model of every firm (its 2025 revenue, its
industry's growth 2023–2025 with a firm-level deviation, the Spring Festival dip, the year-end
push): the statistics bureau's monthly output report of manufacturers above designated size
(规上工业产值月报) and the power company's daily electricity use of enterprises (企业日用电量),
which follows the same months with weekly, holiday and summer-cooling patterns. It must not
create firms; it reads ``Firms``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from countyos.demo.enterprises import Firms
from countyos.demo.industries import INDUSTRIES
from countyos.demo.model import DemoDataset, make_dataset
from countyos.demo.timeline import (
    OUTPUT_FIRST_MONTH,
    OUTPUT_MONTHS,
    REFERENCE_YEAR,
    SNAPSHOT_DATE,
    days_between,
    factory_activity,
    month_index,
    output_months,
    reference_year_days,
    service_activity,
    summer_cooling,
)

#: Extra output in some months (quarter ends, the year-end push), January first.
MONTH_PUSH = np.array([1.0, 1.0, 1.02, 1.0, 1.0, 1.05, 1.0, 1.0, 1.03, 1.0, 1.03, 1.10])
#: Non-manufacturing firms with at least this many employees are metered daily too.
METERED_SERVICE_EMPLOYEES = 50
GROWTH_SPREAD = 0.06
MONTH_NOISE = 0.05
DAY_NOISE = 0.07


def monthly_activity(rng: np.random.Generator, firms: Firms) -> np.ndarray:
    """Revenue of every firm in each of the 36 report months (10,000 yuan), 0 before founding.

    The twelve months of ``REFERENCE_YEAR`` sum to the firm's revenue before noise.
    """
    days = days_between(OUTPUT_FIRST_MONTH, SNAPSHOT_DATE)
    day_month = month_index(days)
    shares = np.empty((len(INDUSTRIES), OUTPUT_MONTHS))
    for number, spec in enumerate(INDUSTRIES):
        profile = (factory_activity(days, spec.continuity) if spec.manufacturing
                   else service_activity(days))
        shares[number] = np.bincount(day_month, weights=profile, minlength=OUTPUT_MONTHS)
    shares *= MONTH_PUSH[np.arange(OUTPUT_MONTHS) % 12][None, :]
    growth = np.array([spec.growth for spec in INDUSTRIES])[firms.industry]
    growth = growth + rng.normal(0, GROWTH_SPREAD, len(firms))
    centre = (REFERENCE_YEAR - OUTPUT_FIRST_MONTH.year) * 12 + 5.5
    trend = np.exp(growth[:, None] * (np.arange(OUTPUT_MONTHS)[None, :] - centre) / 12)
    shape = shares[firms.industry] * trend
    reference = slice(OUTPUT_MONTHS - 12, OUTPUT_MONTHS)
    level = firms.revenue / shape[:, reference].sum(axis=1)
    activity = level[:, None] * shape * np.exp(rng.normal(0, MONTH_NOISE, shape.shape))
    first_month = (firms.founded.astype("datetime64[M]")
                   - np.datetime64(OUTPUT_FIRST_MONTH, "M")).astype(np.int64)
    activity[np.arange(OUTPUT_MONTHS)[None, :] < first_month[:, None]] = 0.0
    return activity


def generate_output(firms: Firms, activity: np.ndarray) -> DemoDataset:
    """The monthly output report of manufacturers above designated size."""
    reporting = np.flatnonzero(firms.above_size)
    values = activity[reporting]  # firms x months
    months = output_months()
    month_rows, firm_rows = np.nonzero(values.T > 0)  # month-major: one report month after another
    firm_index = reporting[firm_rows]
    return make_dataset(
        name="industrial_output_monthly",
        department="statistics",
        title=("规上工业产值月报", "Monthly industrial output of enterprises above designated size"),
        description=(
            f"统计部门规模以上工业企业月度工业总产值（{months[0].astype(str)[:7]}至"
            f"{months[-1].astype(str)[:7]}，共{OUTPUT_MONTHS}个月），每户企业每月一行，单位万元，"
            "可按统一社会信用代码关联企业登记信息。",
            f"Monthly gross industrial output value of manufacturers above designated size "
            f"(annual revenue of 20 million yuan or more), {OUTPUT_MONTHS} months from "
            f"{months[0].astype(str)[:7]} to {months[-1].astype(str)[:7]}; one row per firm and "
            "month, in 10,000 yuan; joins the enterprise registry by credit code.",
        ),
        columns=[
            ("uscc", firms.uscc.take(pa.array(firm_index)), "统一社会信用代码",
             "Unified social credit code of the firm"),
            ("month", pa.array(months[month_rows], type=pa.date32()), "统计月份（当月1日）",
             "Report month (first day of the month)"),
            ("output_value", pa.array(np.round(values[firm_rows, month_rows], 1)),
             "当月工业总产值（万元）", "Gross industrial output value of the month (10,000 yuan)"),
        ],
    )


def generate_electricity(rng: np.random.Generator, firms: Firms, activity: np.ndarray
                         ) -> DemoDataset:
    """Daily electricity use of manufacturers and of larger other firms in ``REFERENCE_YEAR``."""
    manufacturing = np.array([spec.manufacturing for spec in INDUSTRIES])[firms.industry]
    metered = np.flatnonzero(manufacturing | (firms.employees >= METERED_SERVICE_EMPLOYEES))
    days = reference_year_days()
    day_month = (days.astype("datetime64[M]") - days.astype("datetime64[Y]")).astype(np.int64)
    cooling = summer_cooling(days)
    profiles = np.empty((len(INDUSTRIES), len(days)))
    for number, spec in enumerate(INDUSTRIES):
        profile = (factory_activity(days, spec.continuity) if spec.manufacturing
                   else service_activity(days))
        month_total = np.bincount(day_month, weights=profile, minlength=12)
        cooling_share = 0.06 if spec.manufacturing else 0.25
        profiles[number] = profile / month_total[day_month] * (1 + cooling_share * cooling)

    industry = firms.industry[metered]
    intensity = np.array([spec.kwh_per_wan for spec in INDUSTRIES])[industry]
    intensity = intensity * np.exp(rng.normal(0, 0.3, len(metered)))
    months_of_year = activity[metered][:, OUTPUT_MONTHS - 12:]
    kwh = (months_of_year[:, day_month] * intensity[:, None] * profiles[industry]
           * np.exp(rng.normal(0, DAY_NOISE, (len(metered), len(days)))))
    open_day = firms.founded[metered][:, None] <= days[None, :]
    firm_rows, day_rows = np.nonzero(open_day & (kwh > 0))  # firm-major: one meter after another
    return make_dataset(
        name="electricity_daily",
        department="power_supply",
        title=("企业日用电量", "Daily electricity consumption of enterprises"),
        description=(
            f"供电公司提供的{REFERENCE_YEAR}年企业日用电量，覆盖全部制造业企业和从业人数"
            f"{METERED_SERVICE_EMPLOYEES}人及以上的其他企业，每户企业每天一行，单位千瓦时，"
            "可按统一社会信用代码关联企业登记信息。",
            f"Daily electricity consumption of enterprises in {REFERENCE_YEAR} from the power "
            f"supply company: every manufacturer and every other firm with at least "
            f"{METERED_SERVICE_EMPLOYEES} employees, one row per firm and day, in kWh "
            "(electricity use, power load); joins the enterprise registry by credit code.",
        ),
        columns=[
            ("uscc", firms.uscc.take(pa.array(metered[firm_rows])), "统一社会信用代码",
             "Unified social credit code of the firm"),
            ("date", pa.array(days[day_rows], type=pa.date32()), "用电日期", "Day of consumption"),
            ("kwh", pa.array(np.round(kwh[firm_rows, day_rows], 1)), "当日用电量（千瓦时）",
             "Electricity used that day (kWh)"),
        ],
    )

