"""The planner refuses everything outside the aggregate-mode allowlist, naming the rule.

Each case is an attack or a mistake a developer could make; the assertion is on the rule code in
``details["rule"]`` (and that the message names it), never on the full message text.
"""

from __future__ import annotations

import pytest

from countyos.errors import InvalidInputError, QueryRefusedError
from countyos.lab.checked_sql import TablePolicy, plan_checked_query


REFUSED = [
    # row-level output
    ("SELECT * FROM persons", "no_star"),
    ("SELECT persons.*, COUNT(*) FROM persons GROUP BY township", "no_star"),
    ("SELECT township, income FROM persons", "aggregation_required"),
    ("SELECT township, income FROM persons LIMIT 5", "aggregation_required"),
    ("SELECT income FROM persons ORDER BY income DESC LIMIT 1", "aggregation_required"),
    ("VALUES (1, 2)", "aggregation_required"),
    # grouping on identifiers and the entity key
    ("SELECT id_number, COUNT(*) FROM persons GROUP BY id_number", "group_by_identifier"),
    ("SELECT name, COUNT(*) FROM persons GROUP BY name", "group_by_identifier"),
    ("SELECT phone, COUNT(*) FROM persons GROUP BY 1", "group_by_identifier"),
    ("SELECT COUNT(*) FROM persons GROUP BY substr(id_number, 7, 4)", "group_by_identifier"),
    ("SELECT COUNT(*) FROM persons GROUP BY ROLLUP (township, name)", "group_by_identifier"),
    ("SELECT person_id, COUNT(*) FROM persons GROUP BY person_id", "group_by_entity_key"),
    ("SELECT COUNT(*) FROM visits GROUP BY CUBE (township, person_id)", "group_by_entity_key"),
    ("SELECT person_id % 10 AS b, COUNT(*) FROM persons GROUP BY b", "group_by_entity_key"),
    ("SELECT visit_id, SUM(cost) FROM visits GROUP BY ALL", "group_by_identifier"),
    # aggregates that return one individual's value
    ("SELECT township, MIN(income) FROM persons GROUP BY township", "aggregate_not_allowed"),
    ("SELECT township, MAX(income) FROM persons GROUP BY township", "aggregate_not_allowed"),
    ("SELECT township, median(income) FROM persons GROUP BY 1", "aggregate_not_allowed"),
    ("SELECT quantile_cont(income, 0.9) FROM persons", "aggregate_not_allowed"),
    ("SELECT township, first(income) FROM persons GROUP BY 1", "aggregate_not_allowed"),
    ("SELECT township, list(income) FROM persons GROUP BY 1", "aggregate_not_allowed"),
    ("SELECT string_agg(township, ',') FROM persons", "aggregate_not_allowed"),
    ("SELECT township, any_value(income) FROM persons GROUP BY 1", "aggregate_not_allowed"),
    ("SELECT township, arg_max(age, income) FROM persons GROUP BY 1", "aggregate_not_allowed"),
    ("SELECT township, mode(income) FROM persons GROUP BY 1", "aggregate_not_allowed"),
    ("SELECT township, stddev(income) FROM persons GROUP BY 1", "aggregate_not_allowed"),
    ("SELECT township, SUM(DISTINCT income) FROM persons GROUP BY 1", "aggregate_not_allowed"),
    ("SELECT township, COUNT(DISTINCT sex) FROM persons GROUP BY 1", "count_distinct"),
    ("SELECT township, COUNT(DISTINCT name) FROM persons GROUP BY 1", "count_distinct"),
    # windows
    ("SELECT township, SUM(income) OVER () FROM persons", "window_function"),
    (
        "SELECT township, SUM(SUM(income)) OVER () FROM persons GROUP BY township",
        "window_function",
    ),
    (
        "SELECT township, row_number() OVER () AS r, COUNT(*) FROM persons GROUP BY 1",
        "window_function",
    ),
    (
        "SELECT township, COUNT(*) FROM persons GROUP BY 1 QUALIFY row_number() OVER () = 1",
        "window_function",
    ),
    # clauses that filter or slice cells
    ("SELECT township, COUNT(*) FROM persons GROUP BY 1 HAVING COUNT(*) > 3", "having"),
    ("SELECT township, COUNT(*) FROM persons GROUP BY 1 LIMIT 2", "limit"),
    ("SELECT township, COUNT(*) FROM persons GROUP BY 1 LIMIT 2 OFFSET 1", "limit"),
    ("SELECT DISTINCT township, COUNT(*) FROM persons GROUP BY 1", "distinct"),
    ("SELECT township, COUNT(*) FROM persons USING SAMPLE 10 GROUP BY 1", "syntax_not_allowed"),
    (
        "SELECT township, COUNT(*) FROM persons TABLESAMPLE 10% GROUP BY 1",
        "syntax_not_allowed",
    ),
    (
        "SELECT township, SUM(income) AS s FROM persons GROUP BY 1 ORDER BY s DESC",
        "order_by_aggregate",
    ),
    ("SELECT township, SUM(income) FROM persons GROUP BY 1 ORDER BY 2", "order_by_aggregate"),
    (
        "SELECT township, COUNT(*) FROM persons GROUP BY 1 ORDER BY SUM(income)",
        "order_by_aggregate",
    ),
    # subqueries returning rows
    (
        "SELECT township, (SELECT income FROM persons LIMIT 1) AS x, COUNT(*) "
        "FROM persons GROUP BY 1",
        "subquery",
    ),
    (
        "SELECT township, COUNT(*) FROM persons WHERE income > (SELECT avg(income) FROM persons) "
        "GROUP BY 1",
        "subquery",
    ),
    (
        "SELECT township, COUNT(*) FROM persons WHERE age IN (SELECT age FROM persons) GROUP BY 1",
        "subquery",
    ),
    (
        "SELECT township, COUNT(*) FROM persons WHERE EXISTS (SELECT 1 FROM visits) GROUP BY 1",
        "subquery",
    ),
    ("SELECT v.township, COUNT(*) FROM (SELECT * FROM persons) v GROUP BY 1", "no_star"),
    (
        "SELECT township, COUNT(*) FROM (SELECT township, income FROM persons LIMIT 5) v "
        "GROUP BY 1",
        "row_view",
    ),
    (
        "SELECT township, SUM(s) FROM (SELECT township, SUM(income) AS s FROM persons "
        "GROUP BY township) v GROUP BY 1",
        "row_view",
    ),
    (
        "WITH top AS (SELECT township, income FROM persons ORDER BY income DESC) "
        "SELECT township, SUM(income) FROM top GROUP BY 1",
        "row_view",
    ),
    ("SELECT COUNT(*) FROM (SELECT township FROM persons) GROUP BY township", "subquery"),
    # set operations
    (
        "SELECT township, COUNT(*) FROM persons GROUP BY 1 "
        "UNION ALL SELECT name, income FROM persons",
        "set_operation",
    ),
    (
        "WITH u AS (SELECT township, income FROM persons UNION ALL SELECT township, cost FROM "
        "visits) SELECT township, SUM(income) FROM u GROUP BY 1",
        "set_operation",
    ),
    (
        "SELECT township, COUNT(*) FROM persons GROUP BY 1 EXCEPT SELECT township, 1 FROM persons",
        "set_operation",
    ),
    # joins
    (
        "SELECT p.township, COUNT(*) FROM persons p JOIN visits v ON p.township = v.township "
        "GROUP BY 1",
        "join",
    ),
    (
        "SELECT p.sex, COUNT(*) FROM persons p JOIN visits v ON p.person_id = v.person_id "
        "AND v.year = 2022 GROUP BY 1",
        "join",
    ),
    ("SELECT p.sex, COUNT(*) FROM persons p CROSS JOIN visits v GROUP BY 1", "join"),
    ("SELECT p.sex, COUNT(*) FROM persons p, visits v GROUP BY 1", "join"),
    (
        "SELECT p.sex, COUNT(*) FROM persons p FULL JOIN visits v USING (person_id) GROUP BY 1",
        "join",
    ),
    (
        "SELECT p.sex, COUNT(*) FROM persons p RIGHT JOIN visits v USING (person_id) GROUP BY 1",
        "join",
    ),
    (
        "SELECT p.sex, COUNT(*) FROM persons p SEMI JOIN visits v USING (person_id) GROUP BY 1",
        "join",
    ),
    (
        "SELECT p.sex, COUNT(*) FROM persons p ASOF JOIN visits v ON p.person_id = v.person_id "
        "GROUP BY 1",
        "join",
    ),
    ("SELECT p.sex, COUNT(*) FROM persons p JOIN visits v USING (township) GROUP BY 1", "join"),
    (
        "SELECT f.township, COUNT(*) FROM persons p JOIN firms f ON p.person_id = f.uscc "
        "GROUP BY 1",
        "join",
    ),
    (
        "SELECT p.sex, COUNT(*) FROM persons p JOIN visits v ON p.age = v.person_id GROUP BY 1",
        "join",
    ),
    # functions and syntax outside the allowlist
    ("SELECT md5(township) AS h, COUNT(*) FROM persons GROUP BY 1", "function_not_allowed"),
    ("SELECT hash(township) % 7 AS h, COUNT(*) FROM persons GROUP BY 1", "function_not_allowed"),
    (
        "SELECT township, COUNT(*) FROM persons WHERE random() < 0.5 GROUP BY 1",
        "function_not_allowed",
    ),
    (
        "SELECT regexp_replace(township, 'A', 'B') AS t, COUNT(*) FROM persons GROUP BY 1",
        "function_not_allowed",
    ),
    ("SELECT year(current_date) AS y, COUNT(*) FROM persons GROUP BY 1", "function_not_allowed"),
    ("SELECT [township][1] AS t, COUNT(*) FROM persons GROUP BY 1", "syntax_not_allowed"),
    # smuggling row values through aggregates and filters
    (
        "SELECT township, SUM(CASE WHEN person_id = 1001 THEN income END) FROM persons GROUP BY 1",
        "entity_key_use",
    ),
    (
        "SELECT SUM(CASE WHEN id_number = '330281' THEN income ELSE 0 END) FROM persons",
        "identifier_column",
    ),
    ("SELECT COUNT(*) FILTER (WHERE person_id = 1001) FROM persons", "entity_key_use"),
    ("SELECT township, COUNT(*) FROM persons WHERE person_id = 1001 GROUP BY 1", "entity_key_use"),
    (
        "SELECT township, COUNT(*) FROM persons WHERE name = '姓名1001' GROUP BY 1",
        "identifier_column",
    ),
    ("SELECT township, COUNT(phone) FROM persons GROUP BY 1", "identifier_column"),
    ("SELECT township, SUM(age) FROM persons GROUP BY 1", "measure_required"),
    ("SELECT township, SUM(1) FROM persons GROUP BY 1", "measure_required"),
    (
        "SELECT township, SUM(CASE WHEN sex = 'F' THEN 1 ELSE 0 END) FROM persons GROUP BY 1",
        "measure_required",
    ),
    ("SELECT township, SUM(COUNT(*)) FROM persons GROUP BY 1", "aggregate_placement"),
    (
        "SELECT township, COUNT(*) FROM persons WHERE SUM(income) > 0 GROUP BY 1",
        "aggregate_placement",
    ),
    (
        "SELECT township, COUNT(*) FROM persons GROUP BY township, SUM(income)",
        "aggregate_placement",
    ),
    # output columns that are not keys or single aggregates
    ("SELECT township, sex, COUNT(*) FROM persons GROUP BY township", "output_column"),
    ("SELECT township, SUM(income) / COUNT(*) FROM persons GROUP BY 1", "output_column"),
    ("SELECT township, SUM(income) + age FROM persons GROUP BY 1", "output_column"),
    ("SELECT township, COUNT(*) AS n, SUM(income) AS n FROM persons GROUP BY 1", "output_column"),
    # row views
    ("WITH v AS (SELECT name, income FROM persons) SELECT SUM(income) FROM v", "identifier_column"),
    (
        "WITH v AS (SELECT person_id + 1 AS k, income FROM persons) SELECT SUM(income) FROM v",
        "entity_key_use",
    ),
    (
        "WITH RECURSIVE v AS (SELECT township, income FROM persons) SELECT SUM(income) FROM v",
        "row_view",
    ),
    # names, tables, columns
    ("SELECT township, COUNT(*) FROM hospital GROUP BY 1", "table_not_granted"),
    ("SELECT township, COUNT(*) FROM persons WHERE salary > 1 GROUP BY 1", "unclassified_column"),
    ("SELECT township AS __countyos_k0, COUNT(*) FROM persons GROUP BY 1", "reserved_name"),
    ("SELECT township, COUNT(*) FROM persons, unnest([1, 2]) GROUP BY 1", "join"),
]


@pytest.mark.parametrize(
    ("sql", "rule"), REFUSED, ids=[rule + ":" + sql[:50] for sql, rule in REFUSED]
)
def test_refused_with_rule(sql: str, rule: str, policies) -> None:
    with pytest.raises(QueryRefusedError) as caught:
        plan_checked_query(sql, policies=policies)
    assert caught.value.details.get("rule") == rule, caught.value.message
    assert rule in caught.value.message


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE persons",
        "COPY persons TO '/tmp/x.csv'",
        "SELECT township, COUNT(*) FROM read_parquet('/etc/passwd') GROUP BY 1",
        "SELECT township, COUNT(*) FROM persons GROUP BY 1; SELECT 1",
        "SELECT township, COUNT(*) FROM main.persons GROUP BY 1",
    ],
)
def test_statements_and_storage_are_refused_by_the_engine_guard(sql: str, policies) -> None:
    with pytest.raises(QueryRefusedError):
        plan_checked_query(sql, policies=policies)


def test_refusal_message_never_quotes_literal_values(policies) -> None:
    with pytest.raises(QueryRefusedError) as caught:
        plan_checked_query(
            "SELECT COUNT(*) FROM persons WHERE name = '王小明' GROUP BY township",
            policies=policies,
        )
    assert "王小明" not in caught.value.message


def test_other_units_key_is_treated_as_identifier() -> None:
    policies = {
        "jobs": TablePolicy(
            "person_id", {"uscc": "entity_key", "township": "dimension", "wage": "measure"}
        )
    }
    with pytest.raises(QueryRefusedError) as caught:
        plan_checked_query("SELECT uscc, SUM(wage) FROM jobs GROUP BY uscc", policies=policies)
    assert caught.value.details["rule"] == "group_by_identifier"


@pytest.mark.parametrize(
    "policy_args",
    [
        ("", {"a": "dimension"}),
        ("id", {}),
        ("id", {"a": "secret"}),
        ("id", {"id": "measure"}),
        ("id", {"a": "dimension", "A": "measure"}),
    ],
)
def test_bad_policies_are_invalid(policy_args) -> None:
    with pytest.raises(InvalidInputError):
        TablePolicy(*policy_args)


def test_policies_must_be_table_policies() -> None:
    with pytest.raises(InvalidInputError):
        plan_checked_query("SELECT COUNT(*) FROM persons", policies={"persons": {"a": "b"}})
