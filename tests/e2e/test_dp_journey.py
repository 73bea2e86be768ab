"""Differential privacy in the browser: the steward declares a column's public domain and sets
the project's budget; the developer asks a DP count by that column and sees each value with its
± 95% interval, the charge, and that asking again is free."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from countyos.auth import authenticate
from countyos.catalog.query import run_query
from countyos.lab import grants, projects
from tests.e2e.conftest import OPERATOR, SCENARIO, County, login

SLUG = "dp-journey"
SEX_BY = "SELECT sex, count(*) AS n FROM population_registry GROUP BY sex"


def _dp_project(county: County) -> None:
    with county.hub.db.session() as session:
        dev = authenticate(session, county.tokens["dev_zhiyuan"])
        steward = authenticate(session, county.tokens["steward_gongan"])
        projects.apply(session, dev, scenario=SCENARIO, slug=SLUG, title="老年人口差分隐私统计")
        grant = grants.request_grant(session, dev, project=SLUG, dataset="population_registry",
                                     columns=["person_id", "sex", "township_code", "birth_date"],
                                     purpose="按性别统计人口（差分隐私）", mode="dp",
                                     expires_at=datetime.now(UTC) + timedelta(days=30))
        grants.decide_grant(session, steward, grant_id=grant.id, approve=True, rules={})


def test_steward_sets_a_budget_and_a_domain_developer_asks_a_dp_count(county: County, browser_context,
                                                                       shot) -> None:
    _dp_project(county)
    steward = browser_context().new_page()
    login(steward, county, "steward_gongan")
    steward.goto("/catalog/population_registry")
    row = steward.locator("#col-sex")
    row.locator("input[name=domain]").fill("女，男")
    row.locator("button:has-text('声明')").click()                 # htmx swaps the row
    steward.wait_for_selector("#col-sex [data-dp=domain]:has-text('女, 男')")
    shot(steward, "domain-declared")

    steward.goto(f"/lab/projects/{SLUG}")
    assert "尚未设置预算" in steward.inner_text("#dp")
    steward.click("#dp-budget-population_registry .dp-set-budget summary")
    steward.fill("#f-dpb-population_registry-epsilon", "abc")
    steward.click("#dp-budget-form-population_registry button[type=submit]")
    assert steward.locator("#dp-budget-form-population_registry .field-error").count() == 1
    steward.select_option("#f-dpb-population_registry-accounting", "pure")
    steward.fill("#f-dpb-population_registry-epsilon", "1")
    steward.click("#dp-budget-form-population_registry button[type=submit]")
    steward.wait_for_selector("[data-figure=epsilon-total]:has-text('1')")

    dev = browser_context().new_page()
    login(dev, county, "dev_zhiyuan")
    dev.goto(f"/lab/projects/{SLUG}")
    dev.fill("#f-dpq-sql", "SELECT max(birth_date) AS oldest FROM population_registry")
    dev.fill("#f-dpq-epsilon", "0.1")
    dev.click("#dp-query-form button[type=submit]")
    refusal = dev.wait_for_selector("#dp-refused")
    assert "MAX is not supported under DP" in refusal.inner_text()
    assert "本次未扣除任何预算" in refusal.inner_text()

    dev.fill("#f-dpq-sql", SEX_BY)
    dev.fill("#f-dpq-epsilon", "0.5")
    dev.click("#dp-query-form button[type=submit]")
    dev.wait_for_selector("#dp-answer-table")
    assert "本次扣除：ε 0.5" in dev.inner_text("#dp-charge")
    real = {r["sex"]: r["n"] for r in run_query(county.hub, OPERATOR, sql=SEX_BY).table.to_pylist()}
    rows = dev.locator("#dp-answer-table tbody tr")
    assert rows.count() == len(real) == 2
    for i in range(rows.count()):
        key, cell = (rows.nth(i).locator("td").nth(j).inner_text() for j in (0, 1))
        match = re.search(r"([\d,]+)\s*± ([\d.,]+)\s*\[([\d,.]+), ([\d,.]+)\]", cell)
        assert match, cell
        value = float(match.group(1).replace(",", ""))
        assert abs(value - real[key]) < 100                        # ε = 0.5: a few people of noise
    assert dev.inner_text("[data-figure=epsilon-spent]") == "0.5"  # the budget updated in place
    dev.fill("#f-dpp-sql", SEX_BY)                                 # what would ±20 people cost?
    dev.fill("#f-dpp-column", "n")
    dev.fill("#f-dpp-accuracy", "20")
    dev.click("#dp-plan-form button[type=submit]")
    planned = dev.wait_for_selector("#dp-plan-result [data-amount]")
    assert 0 < float(planned.get_attribute("data-amount")) < 0.5   # less than the ε just spent
    dev.locator("#dp-query").scroll_into_view_if_needed()
    shot(dev, "dp-answer")

    dev.click("#dp-query-form button[type=submit]")                 # the same query again: free
    dev.wait_for_selector("#dp-charge:has-text('已存答案，不再扣除')")
    assert dev.inner_text("[data-figure=answers]") == "1"
    steward.reload()
    assert "dev_zhiyuan" in steward.inner_text("#dp-budget-population_registry .dp-ledger")
