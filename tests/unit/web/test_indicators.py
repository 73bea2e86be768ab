"""Published indicators are checked like lab outputs: small and dominated cells never show, and a
suppressed township cannot be recovered from the published county total."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from countyos.catalog import organisation
from countyos.catalog.datasets import import_dataset
from countyos.db.models import AuditEntry
from countyos.hub import Hub
from countyos.web.pages import indicators
from countyos.web.pages.indicators import Indicator, IndicatorCache, compute, register
from tests.conftest import ADMIN

TOWNS = ("330999001", "330999002", "330999003", "330999004")
PEOPLE = Indicator("t-people", "People", "people", "township", ("people",),
                   "SELECT township_code AS cell, person_id AS unit, count(*) AS t "
                   "FROM people GROUP BY 1, 2")
POWER = Indicator("t-power", "Power", "kWh", "township", ("power",),
                  "SELECT township_code AS cell, uscc AS unit, sum(kwh) AS t FROM power GROUP BY 1, 2",
                  statistic="sum")


def _setup(hub: Hub, tmp_path: Path, people: dict[str, int]) -> None:
    with hub.db.session() as session:
        organisation.create_department(session, ADMIN, code="stats", name_zh="统计局")
        for index, code in enumerate(TOWNS):
            organisation.create_township(session, ADMIN, code=code, name_zh=f"镇{index}")
    _people(hub, tmp_path, people)
    rows = ["township_code,uscc,kwh"]
    rows += [f"330999001,A{i:02d},{1_000_000 if i == 0 else 10}" for i in range(12)]   # one giant
    rows += [f"330999002,B{i:02d},{100 + i}" for i in range(12)]                       # balanced
    rows += [f"330999003,C{i:02d},{50 + i}" for i in range(12)]
    rows += [f"330999004,D{i:02d},{70 + i}" for i in range(12)]
    (tmp_path / "power.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    import_dataset(hub, ADMIN, source=tmp_path / "power.csv", name="power", department="stats")


def _people(hub: Hub, tmp_path: Path, counts: dict[str, int], new_version: bool = False) -> None:
    rows = ["person_id,township_code"]
    for town, count in counts.items():
        rows += [f"{town}-{i}-{len(rows)},{town}" for i in range(count)]
    path = tmp_path / f"people{'-v2' if new_version else ''}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    import_dataset(hub, ADMIN, source=path, name="people", department="stats", new_version=new_version)


def test_small_cells_and_their_complement_are_suppressed(hub: Hub, tmp_path: Path) -> None:
    _setup(hub, tmp_path, {"330999001": 40, "330999002": 25, "330999003": 3, "330999004": 18})
    result = compute(hub, PEOPLE)
    cells = dict(result.cells)
    assert cells["330999003"] is None                                  # 3 people: never shown
    assert result.total == 86
    hidden = [town for town, value in cells.items() if value is None]
    assert len(hidden) >= 2                                            # total − others ≠ the small one
    shown = {town: value for town, value in cells.items() if value is not None}
    assert all(value >= 10 for value in shown.values())
    assert shown == {town: float(n) for town, n in
                     {"330999001": 40, "330999002": 25, "330999004": 18}.items() if town in shown}


def test_a_dominated_sum_is_suppressed_even_with_many_firms(hub: Hub, tmp_path: Path) -> None:
    _setup(hub, tmp_path, {"330999001": 20})
    cells = dict(compute(hub, POWER).cells)
    assert cells["330999001"] is None                                  # one firm is ~100% of it
    assert sum(v is not None for v in cells.values()) >= 2
    assert cells["330999002"] in (None, float(sum(100 + i for i in range(12))))


def test_results_are_cached_per_dataset_version_and_audited(hub: Hub, tmp_path: Path,
                                                            monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _setup(hub, tmp_path, {"330999001": 30, "330999002": 30})
    monkeypatch.setattr(indicators, "INDICATORS", list(indicators.INDICATORS))
    register(PEOPLE)
    cache = IndicatorCache()
    first = cache.get(hub, "t-people")
    assert cache.get(hub, "t-people") is first                         # same version: no recompute
    with hub.db.session() as session:
        queries = session.execute(select(AuditEntry).where(
            AuditEntry.action == "dataset.query", AuditEntry.actor == "portal-indicators")).all()
    assert len(queries) == 2                                           # cells + total, once
    _people(hub, tmp_path, {"330999001": 30, "330999002": 45}, new_version=True)
    second = cache.get(hub, "t-people")
    assert second is not first and second.total == 75 and second.versions == {"people": 2}


def test_an_indicator_over_a_missing_dataset_is_unavailable(hub: Hub) -> None:
    assert compute(hub, Indicator("x", "X", "x", "trend", ("nowhere",), "SELECT 1")) is None
