"""Published indicators of the portal: trusted aggregates of hub datasets, checked like lab outputs.

Owns the indicator definitions the showcase and the viewers' home show (population, enterprises,
12345 hotline events and electricity by township; monthly trends), computing them and caching the
result per dataset version. An indicator is computed inside the hub as the system principal
``portal-indicators`` through ``countyos.catalog.query.run_query`` (so every computation is in the
audit log, once per new dataset version), as per-cell unit statistics that go through the lab's
disclosure checks (``countyos.lab.disclosure.check_table``: minimum units, dominance,
complementary suppression against the published total). Cells that fail are published as
"suppressed", never as numbers. Later modules (the city brain) register their own indicators
with ``register``. It must not render anything, and no raw row ever leaves this module.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from countyos.auth import Principal
from countyos.catalog.datasets import get_dataset
from countyos.catalog.organisation import list_townships
from countyos.catalog.query import run_query
from countyos.errors import CountyOSError, NotFoundError
from countyos.hub import Hub
from countyos.lab.disclosure import TOTAL, CellStats, DisclosureRules, OutputTable, check_table
from countyos.web.pages.i18n import N_

SYSTEM = Principal(username="portal-indicators", role="admin")
KINDS = ("township", "trend")


@dataclass(frozen=True)
class Indicator:
    """A published indicator.

    Attributes:
        key: stable id (used in URLs: ``?indicator=<key>``).
        label: message id of its name; ``unit``: message id of its unit.
        kind: ``township`` (one value per township, plus the county total) or ``trend`` (one
            value per period).
        datasets: the datasets it reads (missing ones make it unavailable, not an error).
        unit_sql: one row per (cell, unit): columns ``cell`` (township code or period), ``unit``
            (the protected entity: person, enterprise, event) and ``t`` (the unit's contribution).
        statistic: ``count`` or ``sum`` (sums also get the dominance checks).
        divisor: the shown value is ``value / divisor`` (e.g. kWh → 10,000 kWh).
    """

    key: str
    label: str
    unit: str
    kind: str
    datasets: tuple[str, ...]
    unit_sql: str
    statistic: str = "count"
    divisor: float = 1.0


@dataclass
class IndicatorResult:
    """Published cells of one indicator: ``None`` values are suppressed cells."""

    indicator: Indicator
    cells: list[tuple[str, float | None]]
    total: float | None
    versions: dict[str, int]
    computed_at: datetime
    suppressed: int = 0

    def value_of(self, cell: str) -> float | None:
        return dict(self.cells).get(cell)

    @property
    def latest(self) -> tuple[str, float | None] | None:
        published = [(k, v) for k, v in self.cells if v is not None]
        return published[-1] if published else None


INDICATORS: list[Indicator] = [
    Indicator("population", N_("Registered residents"), N_("people"), "township",
              ("population_registry",),
              "SELECT township_code AS cell, person_id AS unit, count(*) AS t "
              "FROM population_registry GROUP BY 1, 2"),
    Indicator("enterprises", N_("Registered enterprises"), N_("enterprises"), "township",
              ("enterprise_registry",),
              "SELECT township_code AS cell, uscc AS unit, count(*) AS t "
              "FROM enterprise_registry GROUP BY 1, 2"),
    Indicator("hotline", N_("12345 hotline events"), N_("events"), "township",
              ("hotline_events",),
              "SELECT township_code AS cell, event_id AS unit, count(*) AS t "
              "FROM hotline_events GROUP BY 1, 2"),
    Indicator("electricity", N_("Enterprise electricity use"), N_("10,000 kWh"), "township",
              ("electricity_daily", "enterprise_registry"),
              "SELECT r.township_code AS cell, e.uscc AS unit, sum(e.kwh) AS t "
              "FROM electricity_daily e JOIN enterprise_registry r ON r.uscc = e.uscc "
              "GROUP BY 1, 2", statistic="sum", divisor=10_000),
    Indicator("output-trend", N_("Industrial output by month"), N_("10,000 yuan"), "trend",
              ("industrial_output_monthly",),
              "SELECT strftime(month, '%Y-%m') AS cell, uscc AS unit, sum(output_value) AS t "
              "FROM industrial_output_monthly GROUP BY 1, 2", statistic="sum"),
    Indicator("hotline-trend", N_("12345 hotline events by month"), N_("events"), "trend",
              ("hotline_events",),
              "SELECT strftime(created_at, '%Y-%m') AS cell, event_id AS unit, count(*) AS t "
              "FROM hotline_events GROUP BY 1, 2"),
    Indicator("electricity-trend", N_("Electricity use by month"), N_("10,000 kWh"), "trend",
              ("electricity_daily",),
              "SELECT strftime(date, '%Y-%m') AS cell, uscc AS unit, sum(kwh) AS t "
              "FROM electricity_daily GROUP BY 1, 2", statistic="sum", divisor=10_000),
]


def register(indicator: Indicator) -> None:
    """Add (or replace, by key) an indicator; for modules that publish their own."""
    if indicator.kind not in KINDS:
        raise ValueError(f"indicator kind {indicator.kind!r} must be one of {', '.join(KINDS)}")
    INDICATORS[:] = [i for i in INDICATORS if i.key != indicator.key] + [indicator]


def indicator(key: str) -> Indicator | None:
    return next((i for i in INDICATORS if i.key == key), None)


def _cells_sql(unit_sql: str) -> str:
    return (f"WITH unit AS ({unit_sql}), ranked AS (SELECT cell, t, row_number() OVER "
            "(PARTITION BY cell ORDER BY abs(t) DESC) AS rk FROM unit) "
            "SELECT cell, sum(t) AS value, count(*) AS units, sum(abs(t)) AS abs_total, "
            "max(CASE WHEN rk = 1 THEN abs(t) END) AS top1, "
            "max(CASE WHEN rk = 2 THEN abs(t) END) AS top2 FROM ranked GROUP BY cell")


def _total_sql(unit_sql: str) -> str:
    return (f"WITH unit AS ({unit_sql}), per_unit AS (SELECT unit, sum(t) AS t FROM unit "
            "GROUP BY unit), ranked AS (SELECT t, row_number() OVER (ORDER BY abs(t) DESC) AS rk "
            "FROM per_unit) SELECT sum(t) AS value, count(*) AS units, sum(abs(t)) AS abs_total, "
            "max(CASE WHEN rk = 1 THEN abs(t) END) AS top1, "
            "max(CASE WHEN rk = 2 THEN abs(t) END) AS top2 FROM ranked")


def _cell(key: Any, row: dict[str, Any] | None, statistic: str) -> CellStats:
    if row is None or not row.get("units"):
        return CellStats(key=(key,), statistic=statistic, value=0.0, n_entities=0,
                         abs_total=0.0 if statistic == "sum" else None)
    units = int(row["units"])
    if statistic != "sum":
        return CellStats(key=(key,), statistic=statistic, value=float(row["value"]), n_entities=units)
    tops = tuple(float(row[k]) for k in ("top1", "top2") if row.get(k) is not None)[:units]
    return CellStats(key=(key,), statistic=statistic, value=float(row["value"]), n_entities=units,
                     abs_total=float(row["abs_total"]), top_contributions=tops)


def _key_text(value: Any) -> str:
    return value.isoformat()[:7] if isinstance(value, (date, datetime)) else str(value)


def compute(hub: Hub, item: Indicator) -> IndicatorResult | None:
    """Compute ``item`` now; None when one of its datasets is not in the catalog."""
    with hub.db.session() as session:
        try:
            versions = {name: get_dataset(session, name).current_version for name in item.datasets}
        except NotFoundError:
            return None
        township_codes = [t.code for t in list_townships(session)] if item.kind == "township" else []
    rows = {_key_text(r["cell"]): r for r in
            run_query(hub, SYSTEM, sql=_cells_sql(item.unit_sql), max_rows=100_000).table.to_pylist()
            if r["cell"] is not None}
    keys = township_codes if item.kind == "township" else sorted(rows)
    cells = [_cell(k, rows.get(k), item.statistic) for k in keys]
    total_row = None
    if item.kind == "township":
        total_row = run_query(hub, SYSTEM, sql=_total_sql(item.unit_sql)).table.to_pylist()[0]
        cells.append(_cell(TOTAL, total_row, item.statistic))
    if not cells:
        return IndicatorResult(item, [], None, versions, datetime.now(UTC))
    table = OutputTable.from_cells(cells, dimensions=("cell",), margins_known=item.kind == "township")
    report = check_table(table, DisclosureRules(), table_id=f"indicator/{item.key}")
    released = {outcome.key: outcome.released for outcome in report.cells}
    published, total = [], None
    for cell in cells:
        value = cell.value / item.divisor if released[cell.key] and cell.value is not None else None
        if cell.key == (TOTAL,):
            total = value
        else:
            published.append((cell.key[0], value))
    suppressed = sum(1 for _, v in published if v is None)
    return IndicatorResult(item, published, total, versions, datetime.now(UTC), suppressed)


@dataclass
class IndicatorCache:
    """Results per indicator, recomputed only when a dataset it reads has a new version."""

    results: dict[str, IndicatorResult | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, hub: Hub, key: str) -> IndicatorResult | None:
        item = indicator(key)
        if item is None:
            raise NotFoundError(f"no indicator {key!r}")
        with self._lock:
            cached = self.results.get(key)
            if cached is not None and cached.versions == _current_versions(hub, item):
                return cached
            try:
                result = compute(hub, item)
            except CountyOSError:
                result = None
            self.results[key] = result
            return result

    def available(self, hub: Hub, kind: str) -> list[IndicatorResult]:
        results = [self.get(hub, i.key) for i in INDICATORS if i.kind == kind]
        return [r for r in results if r is not None]


def _current_versions(hub: Hub, item: Indicator) -> dict[str, int] | None:
    with hub.db.session() as session:
        try:
            return {name: get_dataset(session, name).current_version for name in item.datasets}
        except NotFoundError:
            return None
