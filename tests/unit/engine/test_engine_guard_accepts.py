"""The guard accepts the analytical SQL people write and reports the tables it reads."""

from __future__ import annotations

import pytest
import sqlglot

from countyos.engine import parse_read_only

ANALYTICAL_SQL = [
    "SELECT township, count(*) AS n, sum(output) FROM firms GROUP BY township "
    "HAVING count(*) > 10 ORDER BY n DESC LIMIT 5",
    "select f.township, t.population, avg(f.output) over (partition by f.township order by f.day "
    "rows between 3 preceding and current row) from firms f join towns t on f.township = t.name",
    "with big as (select * from firms where output > 100), agg as (select township, count(*) c "
    "from big group by 1) select * from agg",
    "select case when output > 100 then 'high' when output > 10 then 'mid' else 'low' end as band, "
    "count(*) from firms group by band",
    "select date_trunc('month', day), extract(year from day), year(day), day + interval 1 day, "
    "strftime(day, '%Y-%m'), date_diff('day', day, current_date), now(), today() from firms",
    "select '张三' as 姓名, \"姓名\", count(*) from people where \"性别\" = '女' group by all",
    "select row_number() over w, rank() over w, lag(output, 1) over w, lead(output) over w, "
    "first_value(output) over w, ntile(4) over w, percent_rank() over w from firms "
    "window w as (order by output)",
    "select township from firms union select name from towns except select 'x' "
    "intersect select 'y'",
    "values (1, 'a'), (2, 'b')",
    "select * from (values (1), (2)) v(x)",
    "select coalesce(a, 0), nullif(a, 0), ifnull(a, 1), greatest(a, b), least(a, b), abs(a), "
    "round(a, 2), a::int, cast(a as varchar), try_cast(a as int) from firms",
    "select upper(name), lower(name), length(name), substr(name, 1, 2), "
    "substring(name from 1 for 2), trim(name), concat(a, b), a || b, name like '张%', name ilike 'x%', "
    "regexp_matches(name, 'a.*'), replace(name, 'a', 'b'), split_part(name, '-', 1), "
    "position('a' in name), lpad(name, 5, '0'), left(name, 2), md5(name) from firms",
    "select count(distinct a), approx_count_distinct(a), median(a), quantile_cont(a, 0.9), "
    "stddev(a), string_agg(name, ','), list(a), array_agg(a order by a), arg_max(a, b), "
    "count(*) filter (where a > 1), bool_and(a > 0), corr(a, b), mode(a) from firms",
    "select [1, 2, 3] as l, l[1], {'k': 1} as s, s.k, list_transform(l, x -> x * 2), "
    "list_filter(l, x -> x > 1), [x * 2 for x in [1, 2, 3] if x > 1] from firms",
    "select * from firms where a in (select a from towns) and exists (select 1 from towns "
    "where towns.a = firms.a) and a between 1 and 10 and b is not null",
    "select a from firms qualify row_number() over (partition by a order by b) = 1",
    "select * exclude (b) from firms",
    "select columns('out.*') from firms",
    "from firms select township",
    "select * from range(10) r(i)",
    "select * from generate_series(date '2024-01-01', date '2024-12-31', interval 1 month) s(m)",
    "select * from unnest([1, 2, 3])",
    "select * from firms left join towns using (k) full outer join roads on roads.k = firms.k "
    "cross join budgets",
    "select * from firms asof join towns on firms.k = towns.k and firms.ts >= towns.ts",
    "(select 1)",
    "select 1;",
    "with recursive r(n) as (select 1 union all select n + 1 from r where n < 5) select * from r",
    "select * from firms pivot (sum(output) for township in ('城关镇', '马渚镇'))",
    "select * from firms unpivot (v for k in (a, b))",
    "select * from firms using sample 10%",
    "select township, industry, count(*) from firms group by grouping sets ((township), ())",
    "select township, count(*) from firms group by rollup (township)",
    "select distinct on (a) a, b from firms order by a, b",
    "select json_extract(j, '$.a'), j->>'a', to_json(a) from firms",
    "select if(a > 1, 'y', 'n'), a is distinct from b, not a, a and b or c from firms",
    "select 'it''s', $$dollar 'quoted'$$ from firms",
    "select * from firms where output > all (select output from towns)",
    "select a::decimal(10, 2), a::date, a::varchar[] from firms",
    "select hash(a), uuid(), typeof(a), format('{} - {}', a, b), levenshtein(a, b) from firms",
    "select 1 -- ; DROP TABLE firms",
    "select 1 /* ; DROP TABLE firms */",
]


@pytest.mark.parametrize("sql", ANALYTICAL_SQL)
def test_accepts_analytical_sql(sql: str) -> None:
    query = parse_read_only(sql)
    # The canonical SQL is one statement and a fixed point of the guard.
    assert len(sqlglot.parse(query.sql, read="duckdb")) == 1
    again = parse_read_only(query.sql)
    assert again.sql == query.sql
    assert again.tables == query.tables


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("select * from firms", {"firms"}),
        ("select * from FIRMS f join Towns t on f.a = t.a", {"firms", "towns"}),
        ('select * from "Firms"', {"firms"}),
        ("with firms as (select 1 as a) select * from firms", set()),
        (
            "with a as (select * from firms), b as (select * from a) select * from b, towns",
            {"firms", "towns"},
        ),
        # A CTE defined inside a subquery is not visible outside it.
        ("select * from (with x as (select 1) select * from x) s, x", {"x"}),
        # A non-recursive CTE cannot see itself or later CTEs; those names are catalog tables.
        ("with a as (select * from b), b as (select 1) select * from a", {"b"}),
        ("with recursive a as (select * from b), b as (select 1) select * from a", set()),
        (
            "select (select max(a) from towns) from firms where a in (select a from roads)",
            {"firms", "towns", "roads"},
        ),
        ("values (1)", set()),
        ("select * from range(3)", set()),
        ("select 1 union all select a from firms", {"firms"}),
    ],
)
def test_reports_catalog_tables_without_cte_names(sql: str, tables: set[str]) -> None:
    assert parse_read_only(sql).tables == frozenset(tables)


def test_canonical_sql_drops_comments() -> None:
    query = parse_read_only("select 1 -- */ ; DROP TABLE firms\n")
    assert "DROP" not in query.sql.upper()
    assert "--" not in query.sql and "/*" not in query.sql


def test_chinese_literals_and_identifiers_round_trip() -> None:
    query = parse_read_only("select \"姓名\" as 名字 from people where \"性别\" = '女'")
    assert "'女'" in query.sql
    assert "姓名" in query.sql and "名字" in query.sql
    assert query.tables == frozenset({"people"})
