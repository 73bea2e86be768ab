"""The Demo County's calendar: reference dates, public holidays and daily activity profiles.

Owns the dates every dataset shares (the snapshot date, the 36 months of the output report, the
year of daily data), the official public-holiday schedule of 2023–2025 (State Council notices,
with the adjusted working weekends 调休), Spring Festival dates, and the daily activity factors
derived from them. It must not generate rows of any dataset.
"""

from __future__ import annotations

from datetime import date

import numpy as np

#: The year of daily data (electricity, hotline, outpatient visits).
REFERENCE_YEAR = 2025
#: The registry snapshot: ages and open/closed states are as of the end of this day.
SNAPSHOT_DATE = date(2025, 12, 31)
#: The first month of the monthly industrial output report (36 months up to the snapshot).
OUTPUT_FIRST_MONTH = date(2023, 1, 1)
OUTPUT_MONTHS = 36

#: Spring Festival (春节, first day of the lunar year).
SPRING_FESTIVAL = {2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29)}

#: Official days off, inclusive ranges, per year.
PUBLIC_HOLIDAYS: dict[int, list[tuple[date, date]]] = {
    2023: [
        (date(2023, 1, 1), date(2023, 1, 2)),
        (date(2023, 1, 21), date(2023, 1, 27)),
        (date(2023, 4, 5), date(2023, 4, 5)),
        (date(2023, 4, 29), date(2023, 5, 3)),
        (date(2023, 6, 22), date(2023, 6, 24)),
        (date(2023, 9, 29), date(2023, 10, 6)),
        (date(2023, 12, 30), date(2023, 12, 31)),
    ],
    2024: [
        (date(2024, 1, 1), date(2024, 1, 1)),
        (date(2024, 2, 10), date(2024, 2, 17)),
        (date(2024, 4, 4), date(2024, 4, 6)),
        (date(2024, 5, 1), date(2024, 5, 5)),
        (date(2024, 6, 10), date(2024, 6, 10)),
        (date(2024, 9, 15), date(2024, 9, 17)),
        (date(2024, 10, 1), date(2024, 10, 7)),
    ],
    2025: [
        (date(2025, 1, 1), date(2025, 1, 1)),
        (date(2025, 1, 28), date(2025, 2, 4)),
        (date(2025, 4, 4), date(2025, 4, 6)),
        (date(2025, 5, 1), date(2025, 5, 5)),
        (date(2025, 5, 31), date(2025, 6, 2)),
        (date(2025, 10, 1), date(2025, 10, 8)),
    ],
}

#: Weekend days that are official working days (调休).
ADJUSTED_WORKDAYS: dict[int, list[date]] = {
    2023: [date(2023, 1, 28), date(2023, 1, 29), date(2023, 4, 23), date(2023, 5, 6),
           date(2023, 6, 25), date(2023, 10, 7), date(2023, 10, 8)],
    2024: [date(2024, 2, 4), date(2024, 2, 18), date(2024, 4, 7), date(2024, 4, 28),
           date(2024, 5, 11), date(2024, 9, 14), date(2024, 9, 29), date(2024, 10, 12)],
    2025: [date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27), date(2025, 9, 28),
           date(2025, 10, 11)],
}


def days_between(first: date, last: date) -> np.ndarray:
    """Every day from ``first`` to ``last`` inclusive, as ``datetime64[D]``."""
    return np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)


def reference_year_days() -> np.ndarray:
    """The 365 (or 366) days of ``REFERENCE_YEAR``."""
    return days_between(date(REFERENCE_YEAR, 1, 1), date(REFERENCE_YEAR, 12, 31))


def output_months() -> np.ndarray:
    """First days of the 36 months of the output report, as ``datetime64[D]``."""
    first = np.datetime64(OUTPUT_FIRST_MONTH, "M")
    return (first + np.arange(OUTPUT_MONTHS)).astype("datetime64[D]")


def month_index(days: np.ndarray) -> np.ndarray:
    """Months since ``OUTPUT_FIRST_MONTH`` of every day."""
    return (days.astype("datetime64[M]") - np.datetime64(OUTPUT_FIRST_MONTH, "M")).astype(np.int64)


def day_kinds(days: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks ``workday``, ``saturday``, ``sunday`` (rest days only) and ``holiday``."""
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    holiday = np.zeros(len(days), dtype=bool)
    adjusted = np.zeros(len(days), dtype=bool)
    for year, ranges in PUBLIC_HOLIDAYS.items():
        for first, last in ranges:
            holiday |= (days >= np.datetime64(first)) & (days <= np.datetime64(last))
        for day in ADJUSTED_WORKDAYS[year]:
            adjusted |= days == np.datetime64(day)
    saturday = (weekday == 5) & ~holiday & ~adjusted
    sunday = (weekday == 6) & ~holiday & ~adjusted
    workday = ~holiday & ~saturday & ~sunday
    return {"workday": workday, "saturday": saturday, "sunday": sunday, "holiday": holiday}


def days_from_spring_festival(days: np.ndarray) -> np.ndarray:
    """Signed days from the nearest Spring Festival (large when none is near)."""
    best = np.full(len(days), 10_000, dtype=np.int64)
    for festival in SPRING_FESTIVAL.values():
        offset = (days - np.datetime64(festival)).astype(np.int64)
        best = np.where(np.abs(offset) < np.abs(best), offset, best)
    return best


def factory_activity(days: np.ndarray, continuity: float) -> np.ndarray:
    """Relative daily output of a factory (1.0 on an ordinary working day).

    Args:
        days: ``datetime64[D]`` days.
        continuity: 0 for discrete manufacturing that stops on rest days and for the whole Spring
            Festival, 1 for continuous processes (plastics, chemicals) that barely slow down.

    Returns:
        One factor per day.
    """
    kinds = day_kinds(days)
    discrete = np.select(
        [kinds["holiday"], kinds["sunday"], kinds["saturday"]], [0.25, 0.5, 0.8], default=1.0
    )
    continuous = np.select([kinds["holiday"], kinds["sunday"] | kinds["saturday"]], [0.85, 0.95],
                           default=1.0)
    offset = days_from_spring_festival(days)
    # Migrant workers leave about a week before the festival and come back two weeks after.
    festival_discrete = np.select(
        [(offset >= -14) & (offset < -7), (offset >= -7) & (offset < 0),
         (offset >= 0) & (offset < 8), (offset >= 8) & (offset < 15),
         (offset >= 15) & (offset < 22)],
        [0.85, 0.5, 0.08, 0.45, 0.8], default=1.0,
    )
    festival_continuous = np.select([(offset >= -3) & (offset < 8)], [0.6], default=1.0)
    return ((1 - continuity) * discrete * festival_discrete
            + continuity * continuous * festival_continuous)


def service_activity(days: np.ndarray) -> np.ndarray:
    """Relative daily activity of shops, offices and public services (1.0 on a working day)."""
    kinds = day_kinds(days)
    base = np.select([kinds["holiday"], kinds["sunday"], kinds["saturday"]], [0.75, 0.8, 0.85],
                     default=1.0)
    offset = days_from_spring_festival(days)
    return base * np.where((offset >= -1) & (offset < 7), 0.6, 1.0)


def summer_cooling(days: np.ndarray) -> np.ndarray:
    """0 in winter, rising to 1 at the end of July: the air-conditioning load shape."""
    day_of_year = (days - days.astype("datetime64[Y]")).astype(np.int64)
    return np.clip(np.cos((day_of_year - 205) / 365 * 2 * np.pi) * 1.6 - 0.6, 0.0, 1.0)


def month_sums(values: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``values`` (last axis = days) per calendar month, with the month of every day.

    Returns:
        ``(sums, month_of_day)`` where ``sums`` has the months on its last axis (in order of
        appearance) and ``month_of_day`` indexes it for every day.
    """
    months = days.astype("datetime64[M]")
    unique_months, month_of_day = np.unique(months, return_inverse=True)
    sums = np.zeros(values.shape[:-1] + (len(unique_months),))
    for number in range(len(unique_months)):
        sums[..., number] = values[..., month_of_day == number].sum(axis=-1)
    return sums, month_of_day


def yyyymmdd(days: np.ndarray) -> np.ndarray:
    """Days as integers ``YYYYMMDD`` (for identifiers that embed a date)."""
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    months = (days.astype("datetime64[M]") - days.astype("datetime64[Y]")).astype(np.int64) + 1
    day_of_month = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    return years * 10_000 + months * 100 + day_of_month


def daily_sequence(days: np.ndarray) -> np.ndarray:
    """1-based running number of every row within its day; rows must be sorted by day."""
    _, first_of_day, day_group = np.unique(days, return_index=True, return_inverse=True)
    return np.arange(len(days)) - first_of_day[day_group] + 1
