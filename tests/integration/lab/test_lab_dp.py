"""The lab's dp mode through the API: budgets set by stewards, answers with accuracy, repeats
free, refusals free, the budget never overspent — also under concurrent members."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from countyos.auth.users import create_user
from countyos.lab.projects import add_member
from tests.integration.lab.conftest import ADMIN, Lab

SEX_BY = "SELECT sex, count(*) AS n FROM population_registry GROUP BY sex"


def _dp_project(lab: Lab, slug: str, *, epsilon: float = 1.0) -> None:
    assert lab.post("dev_zhiyuan", "/scenarios/ageing/apply", json={"slug": slug, "title": slug}).status_code == 201
    grant = lab.post("dev_zhiyuan", f"/projects/{slug}/grants", json={
        "dataset": "population_registry", "columns": ["person_id", "sex", "township_code", "birth_date"],
        "purpose": "DP 统计", "mode": "dp", "expires_at": "2099-01-01T00:00:00+00:00"}).json()
    assert lab.post("steward_gongan", f"/grants/{grant['id']}/decision", json={"approve": True}).status_code == 200
    for column, domain in (("sex", ["女", "男"]),):
        response = lab.client.patch(f"/api/v1/datasets/population_registry/columns/{column}",
                                    headers=lab.h("steward_gongan"), json={"public_domain": domain})
        assert response.status_code == 200, response.text
    body = {"dataset": "population_registry", "accounting": "pure", "epsilon": epsilon}
    assert lab.post("dev_zhiyuan", f"/projects/{slug}/dp/budgets", json=body).status_code == 403
    assert lab.post("steward_gongan", f"/projects/{slug}/dp/budgets", json=body).status_code == 200


def _spent(lab: Lab, slug: str, user: str = "dev_zhiyuan") -> float:
    budgets = lab.get(user, f"/projects/{slug}/dp/budgets").json()
    return float(budgets[0]["spent"]["epsilon"])


def test_dp_answer_carries_accuracy_and_repeats_are_free(lab: Lab) -> None:
    _dp_project(lab, "dp-basic")
    first = lab.post("dev_zhiyuan", "/projects/dp-basic/dp/query", json={"sql": SEX_BY, "epsilon": 0.5})
    assert first.status_code == 200, first.text
    answer = first.json()
    assert sorted(row[0] for row in answer["rows"]) == ["女", "男"]   # keys from the public domain
    real = dict(lab.client.post("/api/v1/query", headers=lab.h("admin"), json={"sql": SEX_BY}).json()["rows"])
    for row, accuracy in zip(answer["rows"], answer["accuracy"]):
        assert accuracy[1] is not None and accuracy[1]["confidence"] == 0.95
        assert abs(row[1] - real[row[0]]) < 200          # ε = 0.5 on a count: noise of a few units
    assert _spent(lab, "dp-basic") == pytest.approx(0.5)
    again = lab.post("dev_zhiyuan", "/projects/dp-basic/dp/query", json={"sql": SEX_BY, "epsilon": 0.5}).json()
    assert again["rows"] == answer["rows"] and again["from_cache"]
    assert _spent(lab, "dp-basic") == pytest.approx(0.5)           # no new charge
    ledger = lab.get("steward_gongan", "/projects/dp-basic/dp/budgets").json()[0]["ledger"]
    assert len(ledger) == 1 and ledger[0]["member"] == "dev_zhiyuan"   # shown to both sides
    assert lab.get("dev_b", "/projects/dp-basic/dp/budgets").status_code == 404


def test_unsupported_queries_are_refused_and_cost_nothing(lab: Lab) -> None:
    _dp_project(lab, "dp-refuse")
    for sql, reason in (("SELECT max(birth_date) AS m FROM population_registry", "max"),
                        ("SELECT person_id FROM population_registry", ""),
                        ("SELECT * FROM population_registry", "")):
        response = lab.post("dev_zhiyuan", "/projects/dp-refuse/dp/query", json={"sql": sql, "epsilon": 0.1})
        assert response.status_code == 400, (sql, response.text)
        assert reason in response.json()["error"]["message"].lower()
    assert _spent(lab, "dp-refuse") == 0


def test_exhausted_budget_refuses_with_a_clear_message(lab: Lab) -> None:
    _dp_project(lab, "dp-exhaust", epsilon=1.0)
    ok = lab.post("dev_zhiyuan", "/projects/dp-exhaust/dp/query", json={"sql": SEX_BY, "epsilon": 0.6})
    assert ok.status_code == 200
    other = "SELECT township_code, count(*) AS n FROM population_registry GROUP BY township_code"
    refused = lab.post("dev_zhiyuan", "/projects/dp-exhaust/dp/query",
                       json={"sql": other, "epsilon": 0.6, "delta": 1e-6})
    assert refused.status_code == 403
    assert "nothing was charged" in refused.json()["error"]["message"]
    assert _spent(lab, "dp-exhaust") == pytest.approx(0.6)


def test_budget_is_never_overspent_by_concurrent_members(lab: Lab) -> None:
    _dp_project(lab, "dp-race", epsilon=1.0)
    with lab.hub.db.session() as session:
        for name in ("racer_1", "racer_2", "racer_3"):
            _, lab.tokens[name] = create_user(session, ADMIN, username=name, role="developer")
            add_member(session, ADMIN, project="dp-race", username=name)
    users = ["dev_zhiyuan", "racer_1", "racer_2", "racer_3"] * 2
    queries = [f"SELECT sex, count(*) AS n FROM population_registry WHERE birth_date < DATE '{1950 + i * 5}-01-01' GROUP BY sex"
               for i in range(len(users))]

    def ask(pair):  # type: ignore[no-untyped-def]
        user, sql = pair
        return lab.post(user, "/projects/dp-race/dp/query", json={"sql": sql, "epsilon": 0.3}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(ask, zip(users, queries)))
    assert codes.count(200) == 3 and codes.count(403) == len(codes) - 3, codes
    assert _spent(lab, "dp-race") == pytest.approx(0.9)


def test_accuracy_planning_before_spending(lab: Lab) -> None:
    _dp_project(lab, "dp-plan")
    plan = lab.post("dev_zhiyuan", "/projects/dp-plan/dp/plan",
                    json={"sql": SEX_BY, "targets": {"n": {"absolute": 20}}})
    assert plan.status_code == 200, plan.text
    epsilon = float(plan.json()["amount"])
    assert 0 < epsilon < 1
    tighter = lab.post("dev_zhiyuan", "/projects/dp-plan/dp/plan",
                       json={"sql": SEX_BY, "targets": {"n": {"absolute": 10}}}).json()
    # half the ± needs about twice the ε (discrete Laplace tails are not exactly linear in 1/ε)
    assert float(tighter["amount"]) == pytest.approx(2 * epsilon, rel=0.05)
    assert _spent(lab, "dp-plan") == 0
