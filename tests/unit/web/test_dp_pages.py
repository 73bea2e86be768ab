"""The lab's differential-privacy pages through the real app: a steward sets budgets and declares
columns, a developer asks DP queries and plans their accuracy; the pages refuse exactly what the
API refuses (non-members get 404, developers cannot set budgets or declare columns)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from countyos.auth import authenticate
from countyos.auth.users import create_user
from countyos.catalog.datasets import import_dataset, update_column
from countyos.lab import dp_service, grants, projects
from tests.conftest import ADMIN
from tests.unit.web.conftest import Portal

SLUG = "dp-ageing"
PEOPLE = 240
SEX_BY = "SELECT sex, count(*) AS n FROM people GROUP BY sex"
HTMX = {"hx-request": "true"}


def _sex(i: int) -> str:
    return "女" if i % 3 == 0 else "男"


@dataclass
class DPLab:
    portal: Portal
    real: dict[str, int]

    def client(self, username: str) -> TestClient:
        return self.portal.login(username)

    def post(self, client: TestClient, path: str, data: dict,  # type: ignore[no-untyped-def]
             htmx: bool = True):
        headers = {"x-csrf-token": self.portal.csrf(client), **(HTMX if htmx else {})}
        return client.post(path, data=data, headers=headers)

    def status(self) -> dict:
        return dp_service.budgets(self.portal.hub, ADMIN, project=SLUG)[0]


def _principal(portal: Portal, username: str):  # type: ignore[no-untyped-def]
    with portal.hub.db.session() as session:
        return authenticate(session, portal.env.tokens[username])


@pytest.fixture
def dp_lab(portal: Portal, tmp_path: Path) -> DPLab:
    """A people dataset of public security, a scenario offering it and the developer's project
    holding an approved ``dp`` grant on it (no budget, no declaration yet)."""
    rows = "".join(f"p{i:04d},{_sex(i)},33099900{1 + i % 2},{1000 + 37 * i}\n" for i in range(PEOPLE))
    source = tmp_path / "people.csv"
    source.write_text("person_id,sex,township_code,income\n" + rows, encoding="utf-8")
    hub = portal.hub
    import_dataset(hub, ADMIN, source=source, name="people", department="public_security")
    dev, steward = _principal(portal, "dev"), _principal(portal, "gongan")
    with hub.db.session() as session:
        _, portal.env.tokens["dev2"] = create_user(session, ADMIN, username="dev2", role="developer")
        update_column(session, ADMIN, dataset="people", column="person_id", role="entity_key")
        projects.publish_scenario(session, ADMIN, slug="ageing", title_zh="老龄化", title_en="Ageing",
                                  problem_zh="老年人口", datasets=["people"])
        projects.apply(session, dev, scenario="ageing", slug=SLUG, title="DP 老龄化")
        grant = grants.request_grant(session, dev, project=SLUG, dataset="people",
                                     columns=["person_id", "sex", "township_code", "income"],
                                     purpose="差分隐私统计", mode="dp",
                                     expires_at=datetime.now(UTC) + timedelta(days=30))
        grants.decide_grant(session, steward, grant_id=grant.id, approve=True, rules={})
    real: dict[str, int] = {}
    for i in range(PEOPLE):
        real[_sex(i)] = real.get(_sex(i), 0) + 1
    return DPLab(portal, real)


def _ready(lab: DPLab, epsilon: float = 1.0, accounting: str = "pure", delta: float = 0.0) -> None:
    """The steward's part, through the services (the pages for it are tested separately)."""
    steward = _principal(lab.portal, "gongan")
    with lab.portal.hub.db.session() as session:
        update_column(session, steward, dataset="people", column="sex", public_domain=["女", "男"])
    dp_service.set_budget(lab.portal.hub, steward, project=SLUG, dataset="people",
                          accounting=accounting, epsilon=epsilon, delta=delta)


CELL = re.compile(r'<span class="dp-value">([\d,.\-]+)</span>\s*<span class="dp-pm">± ([\d,.]+)</span>'
                  r'\s*<span class="muted small">\[([\d,.\-]+), ([\d,.\-]+)\]</span>')


def _cells(html: str) -> dict[str, tuple[float, float, float, float]]:
    """Group key → (value, ±, lower, upper) of a rendered answer."""
    found = {}
    table = html.split('id="dp-answer-table"')[1].split("</table>")[0]
    for row in re.findall(r"<tr><td>(.*?)</td></tr>", table, re.S):
        key = row.split("</td>")[0].strip()
        match = CELL.search(row)
        assert match, row
        found[key] = tuple(float(x.replace(",", "")) for x in match.groups())
    return found


def test_developer_sees_values_with_intervals_and_pays_once(dp_lab: DPLab) -> None:
    _ready(dp_lab)
    dev = dp_lab.client("dev")
    page = dev.get(f"/lab/projects/{SLUG}")
    assert page.status_code == 200 and "差分隐私 DP" in page.text and 'id="f-dpq-epsilon"' in page.text
    assert 'id="f-dpq-rho"' not in page.text                      # a pure budget asks for ε only
    assert "尚无扣除记录" in page.text

    first = dp_lab.post(dev, f"/lab/projects/{SLUG}/dp/query", {"sql": SEX_BY, "epsilon": "0.5"})
    assert first.status_code == 200, first.text
    cells = _cells(first.text)
    assert set(cells) == set(dp_lab.real)                          # keys from the declared domain
    for key, (value, half, lower, upper) in cells.items():
        assert lower < value < upper and half > 0
        assert upper - lower == pytest.approx(2 * half, abs=2)     # shown rounded to whole people
        assert abs(value - dp_lab.real[key]) < 60                  # ε = 0.5 on a count: noise of a few
    assert "本次扣除：ε 0.5" in first.text
    assert 'hx-swap-oob="true"' in first.text                      # the budget figures update too
    assert re.search(r'data-figure="epsilon-spent">0.5<', first.text)
    status = dp_lab.status()
    assert float(status["spent"]["epsilon"]) == 0.5 and status["answers_charged"] == 1

    again = dp_lab.post(dev, f"/lab/projects/{SLUG}/dp/query", {"sql": SEX_BY, "epsilon": "0.5"})
    assert again.status_code == 200 and "已存答案，不再扣除" in again.text
    assert _cells(again.text) == cells
    status = dp_lab.status()
    assert float(status["spent"]["epsilon"]) == 0.5 and status["answers_charged"] == 1

    ledger = dp_lab.client("gongan").get(f"/lab/projects/{SLUG}").text    # both sides see it
    assert re.search(r"<td>dev</td><td>ε 0.5</td><td><code class=\"sql\">SELECT sex, COUNT", ledger)
    plain = dp_lab.post(dev, f"/lab/projects/{SLUG}/dp/query", {"sql": SEX_BY, "epsilon": "0.5"},
                        htmx=False)                               # without htmx: the whole page
    assert plain.status_code == 200 and "<html" in plain.text and "已存答案，不再扣除" in plain.text
    english = dev.get(f"/lab/projects/{SLUG}?lang=en").text
    assert "Differential privacy (DP)" in english and "answers charged" in english


def test_refusals_say_why_and_charge_nothing(dp_lab: DPLab) -> None:
    _ready(dp_lab)
    dev = dp_lab.client("dev")
    path = f"/lab/projects/{SLUG}/dp/query"
    refused = dp_lab.post(dev, path, {"sql": "SELECT max(income) AS m FROM people", "epsilon": "0.1"})
    assert refused.status_code == 400
    assert "MAX is not supported under DP" in refused.text and "quantile" in refused.text
    assert "本次未扣除任何预算" in refused.text and "Traceback" not in refused.text
    exhausted = dp_lab.post(dev, path, {"sql": SEX_BY, "epsilon": "5"})
    assert exhausted.status_code == 403 and "本次未扣除任何预算" in exhausted.text
    assert "隐私预算已用尽" in exhausted.text
    assert 'id="dp-query-form"' in exhausted.text                 # the form stays to try again

    empty = dp_lab.post(dev, path, {"sql": "", "epsilon": ""})
    assert empty.status_code == 400
    assert re.search(r'has-error">\s*<label for="f-dpq-sql"', empty.text)
    assert re.search(r'has-error">\s*<label for="f-dpq-epsilon"', empty.text)
    for bad in ({"epsilon": "-1"}, {"epsilon": "abc"}, {"epsilon": "nan"}, {"epsilon": "0.1", "delta": "1"},
                {"epsilon": "0.1", "rho": "0.1"}):
        response = dp_lab.post(dev, path, {"sql": SEX_BY, **bad})
        assert response.status_code == 400 and response.text.count('class="field-error"') == 1, bad
    script = dp_lab.post(dev, path, {"sql": "SELECT '<script>alert(1)</script>' AS s FROM people",
                                     "epsilon": "0.1"})
    assert script.status_code == 400 and "<script>alert(1)" not in script.text   # escaped
    forged = dev.post(path, data={"sql": SEX_BY, "epsilon": "0.5"}, headers=HTMX)  # no CSRF token
    assert forged.status_code == 403
    status = dp_lab.status()
    assert float(status["spent"]["epsilon"]) == 0 and status["answers_charged"] == 0


def test_planning_tells_the_epsilon_and_charges_nothing(dp_lab: DPLab) -> None:
    _ready(dp_lab)
    dev = dp_lab.client("dev")
    path = f"/lab/projects/{SLUG}/dp/plan"

    def needed(**target: str) -> tuple[float, float]:
        response = dp_lab.post(dev, path, {"sql": SEX_BY, "column": "n", **target})
        assert response.status_code == 200, response.text
        epsilon = float(re.search(r'data-amount="([\d.eE-]+)"', response.text).group(1))
        accuracy = float(re.search(r"<td>n</td>\s*<td>± ([\d.,]+)</td>", response.text).group(1))
        return epsilon, accuracy

    tight, tight_accuracy = needed(accuracy="10")
    loose, loose_accuracy = needed(percent="5", expected="1000")  # ±50
    assert 0 < loose < tight
    assert tight_accuracy <= 10 and loose_accuracy <= 50
    unknown = dp_lab.post(dev, path, {"sql": SEX_BY, "column": "people", "accuracy": "10"})
    assert unknown.status_code == 400
    assert re.search(r'has-error">\s*<label for="f-dpp-column"', unknown.text)
    both = dp_lab.post(dev, path, {"sql": SEX_BY, "column": "n", "accuracy": "10", "percent": "5"})
    assert both.status_code == 400 and 'for="f-dpp-accuracy"' in both.text
    assert dp_lab.status()["answers_charged"] == 0


def test_non_members_get_not_found(dp_lab: DPLab) -> None:
    _ready(dp_lab)
    for username in ("dev2", "viewer"):
        client = dp_lab.client(username)
        assert client.get(f"/lab/projects/{SLUG}").status_code == 404
        for action in ("query", "plan"):
            response = dp_lab.post(client, f"/lab/projects/{SLUG}/dp/{action}",
                                   {"sql": SEX_BY, "epsilon": "0.5", "column": "n", "accuracy": "5"})
            assert response.status_code == 404, (username, action)
            assert "dp-answer" not in response.text and "Traceback" not in response.text
    assert dp_lab.status()["answers_charged"] == 0


def test_only_the_datasets_steward_sets_budgets_and_declares_columns(dp_lab: DPLab) -> None:
    budget_path = f"/lab/projects/{SLUG}/dp/budgets"
    budget = {"dataset": "people", "accounting": "pure", "epsilon": "2", "delta": "0"}
    for username in ("dev", "gongdian"):                          # a member; another department
        client = dp_lab.client(username)
        refused = dp_lab.post(client, budget_path, budget, htmx=False)
        assert refused.status_code == 403 and "<html" in refused.text
        declared = dp_lab.post(client, "/catalog/people/columns/sex/dp", {"domain": "女,男"})
        assert declared.status_code == 403
        assert 'class="dp-declare"' not in client.get("/catalog/people").text
    assert dp_lab.status()["budget"] is None

    steward = dp_lab.client("gongan")
    page = steward.get(f"/lab/projects/{SLUG}").text
    assert "尚未设置预算" in page and 'id="dp-budget-form-people"' in page
    assert 'id="dp-query-form"' not in page                       # stewards do not ask queries
    bad = dp_lab.post(steward, budget_path, {**budget, "epsilon": "-2"}, htmx=False)
    assert bad.status_code == 400
    assert re.search(r'has-error">\s*<label for="f-dpb-people-epsilon"', bad.text)
    zcdp = dp_lab.post(steward, budget_path, {**budget, "accounting": "zcdp"}, htmx=False)
    assert zcdp.status_code == 400 and 'for="f-dpb-people-delta"' in zcdp.text
    elsewhere = dp_lab.post(steward, budget_path, {**budget, "dataset": "no_such"}, htmx=False)
    assert elsewhere.status_code == 404
    saved = dp_lab.post(steward, budget_path, budget, htmx=False)
    assert saved.status_code == 303
    assert dp_lab.status()["budget"] == {"accounting": "pure", "epsilon": "2", "delta": "0"}

    row = dp_lab.post(steward, "/catalog/people/columns/sex/dp", {"domain": "女， 男"})
    assert row.status_code == 200 and 'data-dp="domain">女, 男<' in row.text
    bounds = dp_lab.post(steward, "/catalog/people/columns/income/dp", {"lower": "0", "upper": "20000"})
    assert bounds.status_code == 200 and "[0, 20,000]" in bounds.text
    for bad_bounds in ({"lower": "5", "upper": "1"}, {"lower": "0.5", "upper": "10"},
                       {"lower": "", "upper": "9"}):
        response = dp_lab.post(steward, "/catalog/people/columns/income/dp", bad_bounds)
        assert response.status_code == 400 and 'class="field-error"' in response.text, bad_bounds
    repeated = dp_lab.post(steward, "/catalog/people/columns/sex/dp", {"domain": "女,女"})
    assert repeated.status_code == 400

    viewer = dp_lab.client("viewer").get("/catalog/people").text       # public facts, read-only
    assert 'data-dp="domain">女, 男<' in viewer and "[0, 20,000]" in viewer
    assert 'class="dp-declare"' not in viewer
    developer = dp_lab.client("dev").get(f"/lab/projects/{SLUG}").text
    assert "公开取值域: 女, 男" in developer and "裁剪上下界 [0, 20000]" in developer


def test_a_zcdp_budget_asks_for_rho(dp_lab: DPLab) -> None:
    _ready(dp_lab, epsilon=2, accounting="zcdp", delta=1e-6)
    dev = dp_lab.client("dev")
    page = dev.get(f"/lab/projects/{SLUG}").text
    assert 'id="f-dpq-rho"' in page and 'id="f-dpq-epsilon"' not in page
    answer = dp_lab.post(dev, f"/lab/projects/{SLUG}/dp/query", {"sql": SEX_BY, "rho": "0.05"})
    assert answer.status_code == 200, answer.text
    assert "本次扣除：ρ 0.05" in answer.text and set(_cells(answer.text)) == set(dp_lab.real)
    assert float(dp_lab.status()["spent"]["rho"]) == 0.05
