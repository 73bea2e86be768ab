"""Monthly output and daily electricity: calendar, seasons, and their link to firm size."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import numpy as np

from countyos.demo.economy import monthly_activity
from countyos.demo.enterprises import generate_enterprises
from countyos.demo.industries import INDUSTRIES
from countyos.demo.timeline import PUBLIC_HOLIDAYS, SPRING_FESTIVAL, factory_activity
from tests.unit.demo.demo_helpers import table


def _monthly_totals(county):
    totals = defaultdict(float)
    for row in table(county, "industrial_output_monthly").to_pylist():
        totals[row["month"]] += row["output_value"]
    return totals


def test_output_covers_36_first_days_of_months(county):
    months = sorted(_monthly_totals(county))
    assert len(months) == 36
    assert months[0] == date(2023, 1, 1) and months[-1] == date(2025, 12, 1)
    assert all(m.day == 1 for m in months)
    values = table(county, "industrial_output_monthly").column("output_value").to_numpy()
    assert (values > 0).all()


def test_spring_festival_dip_and_year_end_peak(county):
    totals = _monthly_totals(county)
    for year in SPRING_FESTIVAL:
        january_february = totals[date(year, 1, 1)] + totals[date(year, 2, 1)]
        ordinary = np.median([totals[date(year, m, 1)] for m in range(3, 12)])
        assert january_february < 0.9 * 2 * ordinary, year
        assert totals[date(year, 12, 1)] > ordinary, year


def test_output_grows_by_industry():
    _, firms = generate_enterprises(np.random.default_rng(1), 0.2)
    activity = monthly_activity(np.random.default_rng(2), firms)
    reporting = firms.above_size
    assert activity[reporting, 24:].sum() > 1.05 * activity[reporting, :12].sum()
    # Firms present all three years: new-energy vehicles grow, battery materials shrink.
    full = (activity[:, :12] > 0).all(axis=1)
    growth = np.log(activity[:, 24:].sum(axis=1) / np.maximum(activity[:, :12].sum(axis=1), 1e-9))
    codes = np.array([spec.code for spec in INDUSTRIES])[firms.industry]
    vehicles = growth[full & (codes == "3612")]
    materials = growth[full & (codes == "3985")]
    assert len(vehicles) and len(materials)
    assert vehicles.mean() > 0.2 > 0 > materials.mean()


def test_electricity_covers_the_year_and_is_positive(county):
    electricity = table(county, "electricity_daily")
    days = set(electricity.column("date").to_pylist())
    assert min(days) == date(2025, 1, 1) and max(days) == date(2025, 12, 31)
    assert len(days) == 365
    assert (electricity.column("kwh").to_numpy() > 0).all()


def test_electricity_starts_at_founding(county):
    founded = {r["uscc"]: r["founded_date"] for r in
               table(county, "enterprise_registry").select(["uscc", "founded_date"]).to_pylist()}
    for row in table(county, "electricity_daily").select(["uscc", "date"]).to_pylist():
        assert row["date"] >= founded[row["uscc"]]


def test_electricity_follows_weeks_and_holidays(county):
    daily = defaultdict(float)
    for row in table(county, "electricity_daily").select(["date", "kwh"]).to_pylist():
        daily[row["date"]] += row["kwh"]
    holidays = {first + timedelta(days=k) for first, last in PUBLIC_HOLIDAYS[2025]
                for k in range((last - first).days + 1)}
    ordinary = [d for d in daily if d not in holidays and d.month in (3, 4, 5, 6, 9, 11)]
    weekdays = np.mean([daily[d] for d in ordinary if d.weekday() < 5])
    sundays = np.mean([daily[d] for d in ordinary if d.weekday() == 6])
    festival = np.mean([daily[date(2025, 1, 29) + timedelta(days=k)] for k in range(7)])
    assert sundays < 0.95 * weekdays
    assert festival < 0.6 * weekdays


def test_electricity_correlates_with_output(county):
    kwh = defaultdict(float)
    for row in table(county, "electricity_daily").select(["uscc", "kwh"]).to_pylist():
        kwh[row["uscc"]] += row["kwh"]
    output = defaultdict(float)
    for row in table(county, "industrial_output_monthly").to_pylist():
        if row["month"].year == 2025:
            output[row["uscc"]] += row["output_value"]
    common = [code for code in output if code in kwh]
    assert len(common) >= 10
    correlation = np.corrcoef(np.log([kwh[c] for c in common]),
                              np.log([output[c] for c in common]))[0, 1]
    assert correlation > 0.5


def test_bigger_firms_use_more_electricity(county):
    employees = {r["uscc"]: r["employees"] for r in
                 table(county, "enterprise_registry").select(["uscc", "employees"]).to_pylist()}
    kwh = defaultdict(float)
    for row in table(county, "electricity_daily").select(["uscc", "kwh"]).to_pylist():
        kwh[row["uscc"]] += row["kwh"]
    codes = list(kwh)
    correlation = np.corrcoef(np.log([employees[c] for c in codes]),
                              np.log([kwh[c] for c in codes]))[0, 1]
    assert correlation > 0.4


def test_continuous_processes_slow_down_less_than_discrete_ones():
    days = np.arange(np.datetime64("2025-01-01"), np.datetime64("2025-03-01"))
    discrete = factory_activity(days, 0.0)
    continuous = factory_activity(days, 1.0)
    assert discrete.min() < 0.2 and continuous.min() > 0.4
    assert np.isclose(discrete.max(), 1.0) and np.isclose(continuous.max(), 1.0)
