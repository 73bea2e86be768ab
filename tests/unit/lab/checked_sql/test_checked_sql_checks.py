"""The disclosure checks applied to checked SQL: threshold in units, dominance on absolute
contributions, zeros, differencing across outputs, rare group values, and what the checks catch
that the planner lets through (narrowing filters and CASE conditions)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from countyos.errors import ConflictError, InvalidInputError, TooLargeError
from countyos.engine import QueryLimits
from countyos.lab.checked_sql import TablePolicy, plan_checked_query, run_checked_query
from countyos.lab.disclosure import DisclosureRules, InMemoryReleasedCellStore

SECRET = b"checked-sql-test-secret-0123456789"
GROUP_POLICY = {"people": TablePolicy("unit", {"grp": "dimension", "x": "measure"})}


def people(groups: dict[str, tuple[int, int]], value=lambda unit, row: 100.0 + unit) -> pa.Table:
    """``groups``: name -> (units, rows per unit); unit ids are unique across groups."""
    rows = {"unit": [], "grp": [], "x": []}
    unit = 0
    for name, (units, per_unit) in groups.items():
        for _ in range(units):
            unit += 1
            for row in range(per_unit):
                rows["unit"].append(unit)
                rows["grp"].append(name)
                rows["x"].append(value(unit, row))
    return pa.table(rows)


def run(sql, sources, engine, policies=GROUP_POLICY, **kwargs):
    plan = plan_checked_query(sql, policies=policies)
    return run_checked_query(
        plan, engine=engine, sources=sources, secret=SECRET,
        table_id=kwargs.pop("table_id", "c"), **kwargs,
    )


@pytest.mark.parametrize("units", range(1, 10))
def test_cells_below_the_threshold_never_leave(units, write_dataset, engine) -> None:
    # each small unit has 4 rows: COUNT(*) of the cell reaches the threshold, units do not
    source = write_dataset("people", people({"small": (units, 4), "mid": (30, 1), "big": (60, 1)}))
    result = run(
        "SELECT grp, COUNT(*) AS n, SUM(x) AS s FROM people GROUP BY grp",
        {"people": source}, engine,
    )
    for column in ("n", "s"):
        outcome = result.reports[column].outcome(("small",))
        assert outcome.status.value == "threshold"
        assert not outcome.released
    assert "small" not in result.table.column("grp").to_pylist()  # too rare even to list
    rows = {row["grp"]: row for row in result.table.to_pylist()}
    assert rows["mid"]["n"] is None and rows["mid"]["n_status"] == "suppressed"  # complement
    assert rows["big"]["n"] == 60 and rows["big"]["n_status"] == "ok"


def test_threshold_counts_units_not_rows(write_dataset, engine) -> None:
    source = write_dataset("people", people({"few": (3, 10), "many": (40, 1), "more": (50, 1)}))
    result = run("SELECT grp, COUNT(*) AS n FROM people GROUP BY grp", {"people": source}, engine)
    assert result.output_tables["n"].cell(("few",)).value == 30
    assert result.reports["n"].outcome(("few",)).status.value == "threshold"


def test_dominance_is_flagged(lab, engine, policies) -> None:
    result = run(
        "SELECT township, SUM(income) AS s, AVG(income) AS a, COUNT(*) AS n FROM persons "
        "GROUP BY township",
        lab.sources, engine, policies, explain=True,
    )
    for column in ("s", "a"):
        dominated = result.reports[column].outcome(("D",)).failed_checks
        assert {status.value for status in dominated} & {"dominance_p", "dominance_nk"}
        negative = result.reports[column].outcome(("E",)).failed_checks  # a huge loss
        assert {status.value for status in negative} & {"dominance_p", "dominance_nk"}
    rows = {row["township"]: row for row in result.table.to_pylist()}
    assert rows["D"]["s"] is None and rows["D"]["s_status"].startswith("dominance")
    assert rows["D"]["n"] is None  # withheld with its row's other columns
    assert rows["D"]["n_status"] == "complementary"


def test_negative_contributions_cannot_hide_a_dominant_unit(write_dataset, engine) -> None:
    def value(unit, row):
        return {1: 1_000_000.0, 2: -999_000.0}.get(unit, 100.0)

    source = write_dataset("people", people({"g": (20, 1), "h": (40, 1), "k": (40, 1)}, value))
    result = run("SELECT grp, SUM(x) AS s FROM people GROUP BY grp", {"people": source}, engine)
    cell = result.output_tables["s"].cell(("g",))
    assert abs(cell.value) < 3000  # signed total looks harmless
    assert cell.top_contributions[0] == pytest.approx(1_000_000.0)
    statuses = {s.value for s in result.reports["s"].outcome(("g",)).failed_checks}
    assert statuses & {"dominance_p", "dominance_nk"}


def test_empty_cells_are_zeros_unless_structural(write_dataset, engine) -> None:
    table = pa.table(
        {
            "unit": list(range(60)),
            "grp": ["a"] * 30 + ["b"] * 30,
            "kind": ["x"] * 15 + ["y"] * 15 + ["x"] * 30,  # (b, y) is empty
            "x": [1.0] * 60,
        }
    )
    policy = {
        "people": TablePolicy("unit", {"grp": "dimension", "kind": "dimension", "x": "measure"})
    }
    source = {"people": write_dataset("people", table)}
    sql = "SELECT grp, kind, COUNT(*) AS n FROM people GROUP BY grp, kind"
    result = run(sql, source, engine, policy, explain=True, rules=DisclosureRules(threshold=5))
    rows = {(r["grp"], r["kind"]): r for r in result.table.to_pylist()}
    assert rows[("b", "y")]["n"] is None and rows[("b", "y")]["n_status"] == "zero"
    structural = DisclosureRules(threshold=5, structural_zeros=frozenset({("b", "y")}))
    result = run(sql, source, engine, policy, explain=True, rules=structural)
    rows = {(r["grp"], r["kind"]): r for r in result.table.to_pylist()}
    assert rows[("b", "y")]["n"] == 0 and rows[("b", "y")]["n_status"] == "ok"


def test_differencing_pair_is_flagged_on_the_second_query(lab, engine, policies) -> None:
    store = InMemoryReleasedCellStore()
    first = run(
        "SELECT township, COUNT(*) AS n FROM persons WHERE age >= 30 GROUP BY township",
        lab.sources, engine, policies, released=store, table_id="job-1",
    )
    assert first.reports["n"].outcome(("A",)).released
    assert first.record(store) > 0
    with pytest.raises(ConflictError):
        first.record(store)
    same = run(
        "SELECT township, COUNT(*) AS n FROM persons WHERE age >= 30 GROUP BY township",
        lab.sources, engine, policies, released=store, table_id="job-2",
    )
    assert same.reports["n"].outcome(("A",)).released  # identical set: no difference
    second = run(
        "SELECT township, COUNT(*) AS n FROM persons WHERE age >= 29 GROUP BY township",
        lab.sources, engine, policies, released=store, table_id="job-3", explain=True,
    )
    outcome = second.reports["n"].outcome(("A",))
    assert outcome.status.value == "differencing"
    assert "job-1/n" in outcome.reason_en
    row = next(r for r in second.table.to_pylist() if r["township"] == "A")
    assert row["n"] is None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT township, SUM(CASE WHEN age = 29 THEN income END) AS s FROM persons GROUP BY 1",
        "SELECT township, SUM(CASE WHEN age = 29 THEN income ELSE 0 END) AS s FROM persons "
        "GROUP BY 1",
        "SELECT township, AVG(CASE WHEN age = 29 THEN income END) AS s FROM persons GROUP BY 1",
        "SELECT township, COUNT(*) FILTER (WHERE age = 29) AS s FROM persons GROUP BY 1",
        "SELECT township, COUNT(CASE WHEN age = 29 THEN 1 END) AS s FROM persons GROUP BY 1",
        "SELECT township, SUM(income) FILTER (WHERE age = 29) AS s FROM persons GROUP BY 1",
        "SELECT township, SUM(income) AS s FROM persons WHERE age = 29 GROUP BY 1",
    ],
)
def test_narrowing_conditions_are_caught_by_the_checks(sql, lab, engine, policies) -> None:
    # three persons of A are 29: every form gives a cell of three contributing units
    result = run(sql, lab.sources, engine, policies)
    outcome = result.reports["s"].outcome(("A",))
    assert not outcome.released
    assert outcome.status.value in ("threshold", "zero", "complementary")
    for row in result.table.to_pylist():
        if row["township"] == "A":
            assert row["s"] is None


def test_rare_group_values_are_not_listed(lab, engine, policies) -> None:
    result = run(
        "SELECT income, COUNT(*) AS n FROM persons GROUP BY income", lab.sources, engine, policies
    )
    assert result.table.num_rows == 0
    assert result.hidden_cells == len(set(lab.persons.column("income").to_pylist()))
    by_age = run(
        "SELECT age, COUNT(*) AS n FROM persons GROUP BY age", lab.sources, engine, policies
    )
    ages = lab.persons.column("age").to_pylist()
    frequent = {age for age in set(ages) if ages.count(age) >= 10}
    assert set(by_age.table.column("age").to_pylist()) == frequent


def test_null_entity_keys_are_refused(write_dataset, engine) -> None:
    table = pa.table({"unit": [1, None, 3] * 10, "grp": ["a"] * 30, "x": [1.0] * 30})
    source = {"people": write_dataset("people", table)}
    with pytest.raises(InvalidInputError, match="entity key has nulls"):
        run("SELECT grp, COUNT(*) AS n FROM people GROUP BY grp", source, engine)


def test_too_many_cells(lab, engine, policies) -> None:
    small = QueryLimits(timeout_s=30, max_rows=3, memory_limit="1GB", threads=2)
    with pytest.raises(TooLargeError):
        run(
            "SELECT township, COUNT(*) AS n FROM persons GROUP BY township",
            lab.sources, engine, policies, limits=small,
        )


def test_bad_secret_is_refused(lab, engine, policies) -> None:
    plan = plan_checked_query("SELECT COUNT(*) AS n FROM persons", policies=policies)
    with pytest.raises(InvalidInputError):
        run_checked_query(plan, engine=engine, sources=lab.sources, secret=b"short", table_id="x")
