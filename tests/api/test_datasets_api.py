"""The data hub through the REST API: import, catalog, classification, query, permissions."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.conftest import Env

PEOPLE_CSV = (
    "person_id,身份证号,姓名,sex,birth_date,township_code,income\n"
    "1,11010519491231002X,王小明,M,1949-12-31,330999001,52000\n"
    "2,110105198503070027,李娜,F,1985-03-07,330999001,61000\n"
    "3,110105199001011232,张伟,M,1990-01-01,330999001,\n"
)


def _upload(env: Env, user: str, text: str, *, name: str = "population", department: str = "public_security",
            filename: str = "people.csv", encoding: str = "utf-8", **fields: str):  # type: ignore[no-untyped-def]
    return env.client.post(
        "/api/v1/datasets",
        headers=env.as_(user),
        files={"file": (filename, text.encode(encoding), "text/csv")},
        data={"name": name, "department": department, "title_zh": "人口户籍信息",
              "title_en": "Population registry", **fields},
    )


def _error(response) -> dict:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


def test_every_call_needs_a_token(env: Env) -> None:
    for method, path in (("get", "/api/v1/datasets"), ("get", "/api/v1/me"),
                         ("post", "/api/v1/query"), ("get", "/api/v1/audit")):
        response = getattr(env.client, method)(path)
        assert response.status_code == 401, path
        assert _error(response)["code"] == "unauthenticated"
    bad = env.client.get("/api/v1/datasets", headers={"Authorization": "Bearer cos_forged"})
    assert bad.status_code == 401 and _error(bad)["message"] == "invalid token"


def test_import_show_and_query_as_owning_steward(env: Env) -> None:
    response = _upload(env, "gongan", PEOPLE_CSV)
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 1 and response.json()["rows"] == 3

    detail = env.client.get("/api/v1/datasets/population", headers=env.as_("gongan")).json()
    columns = {c["name"]: c for c in detail["columns"]}
    assert columns["身份证号"]["role"] == "identifier" and columns["身份证号"]["personal"]
    assert columns["身份证号"]["type"] == "string"  # never an integer: keeps the X check char
    assert detail["current"]["profile"]["columns"]["income"]["nulls"] == 1
    assert detail["current"]["profile"]["columns"]["income"]["max"] == "61000"

    answer = env.client.post("/api/v1/query", headers=env.as_("gongan"),
                             json={"sql": "SELECT sex, count(*) AS n FROM population GROUP BY sex ORDER BY sex"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [["F", 1], ["M", 2]]


def test_gbk_csv_upload_is_decoded(env: Env) -> None:
    response = _upload(env, "admin", PEOPLE_CSV, encoding="gbk")
    assert response.status_code == 201, response.text
    assert response.json()["encoding"] == "gb18030"
    rows = env.client.post("/api/v1/query", headers=env.as_("admin"),
                           json={"sql": "SELECT 姓名 FROM population ORDER BY person_id"}).json()["rows"]
    assert rows == [["王小明"], ["李娜"], ["张伟"]]


def test_raw_rows_only_for_own_department_and_admins(env: Env) -> None:
    assert _upload(env, "gongan", PEOPLE_CSV).status_code == 201
    sql = {"sql": "SELECT count(*) FROM population"}
    for user in ("dev", "viewer", "staff", "gongdian"):
        response = env.client.post("/api/v1/query", headers=env.as_(user), json=sql)
        assert response.status_code == 403, user
        assert "population" in _error(response)["message"]
    assert env.client.post("/api/v1/query", headers=env.as_("admin"), json=sql).status_code == 200
    # a developer sees metadata but no min/max (which can be one person's value)
    detail = env.client.get("/api/v1/datasets/population", headers=env.as_("dev")).json()
    income = detail["current"]["profile"]["columns"]["income"]
    assert "max" not in income and "min" not in income and income["nulls"] == 1
    assert detail["you_may"] == {"read_rows": False, "manage": False}
    # refusals are audited
    audit = env.client.get("/api/v1/audit", headers=env.as_("admin"),
                           params={"action": "dataset.query_denied"}).json()
    assert {e["actor"] for e in audit} == {"dev", "viewer", "staff", "gongdian"}


def test_import_is_only_for_stewards_of_the_department(env: Env) -> None:
    for user in ("dev", "gongdian", "viewer"):
        response = _upload(env, user, PEOPLE_CSV)
        assert response.status_code == 403, user
    assert env.client.get("/api/v1/datasets", headers=env.as_("admin")).json() == []


def test_bad_input_changes_nothing(env: Env) -> None:
    staging = env.hub.settings.staging_dir
    bad = "a,b\n1,2\n3,4,5\n"
    response = _upload(env, "gongan", bad, name="broken")
    assert response.status_code == 400
    error = _error(response)
    assert error["details"]["file"] == "people.csv" and error["details"]["row"] == 2
    assert _upload(env, "gongan", "", name="empty").status_code == 400
    overridden = _upload(env, "gongan", PEOPLE_CSV, name="typed", types=json.dumps({"sex": "int64"}))
    assert overridden.status_code == 400 and _error(overridden)["details"]["column"] == "sex"
    assert env.client.get("/api/v1/datasets", headers=env.as_("admin")).json() == []
    assert list(staging.iterdir()) == []
    assert list(env.hub.settings.warehouse_dir.rglob("*.parquet")) == []


def test_duplicate_name_is_a_conflict_and_keeps_the_first(env: Env) -> None:
    assert _upload(env, "gongan", PEOPLE_CSV).status_code == 201
    again = _upload(env, "gongan", "x\n1\n")
    assert again.status_code == 409 and "already exists" in _error(again)["message"]
    versions = env.client.get("/api/v1/datasets/population/versions", headers=env.as_("admin")).json()
    assert [v["rows"] for v in versions] == [3]


def test_bad_dataset_name_is_refused(env: Env) -> None:
    response = _upload(env, "gongan", PEOPLE_CSV, name="Robert'); DROP TABLE")
    assert response.status_code == 400 and "dataset name" in _error(response)["message"]


def test_new_version_and_time_travel(env: Env) -> None:
    assert _upload(env, "gongan", PEOPLE_CSV).status_code == 201
    v2 = PEOPLE_CSV + "4,110105200002290023,赵敏,F,2000-02-29,330999001,70000\n"
    response = env.client.post("/api/v1/datasets/population/versions", headers=env.as_("gongan"),
                               files={"file": ("people2.csv", v2.encode(), "text/csv")})
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 2
    count = lambda pins: env.client.post(  # noqa: E731
        "/api/v1/query", headers=env.as_("gongan"),
        json={"sql": "SELECT count(*) FROM population", "versions": pins}).json()["rows"][0][0]
    assert count(None) == 4
    assert count({"population": 1}) == 3
    assert count({"population": 2}) == 4
    missing = env.client.post("/api/v1/query", headers=env.as_("gongan"),
                              json={"sql": "SELECT 1 FROM population", "versions": {"population": 9}})
    assert missing.status_code == 404


def test_query_refuses_writes_and_unknown_tables(env: Env) -> None:
    assert _upload(env, "gongan", PEOPLE_CSV).status_code == 201
    for sql in ("DELETE FROM population", "DROP TABLE population",
                "SELECT * FROM read_csv('/etc/passwd')", "SELECT 1; SELECT 2",
                "COPY population TO '/tmp/x.csv'", "ATTACH '/tmp/x.db'"):
        response = env.client.post("/api/v1/query", headers=env.as_("admin"), json={"sql": sql})
        assert response.status_code == 400, sql
        assert _error(response)["code"] == "query_refused"
    unknown = env.client.post("/api/v1/query", headers=env.as_("admin"), json={"sql": "SELECT * FROM secrets"})
    assert unknown.status_code == 404 and "secrets" in _error(unknown)["message"]


def test_steward_classifies_columns(env: Env) -> None:
    assert _upload(env, "gongan", PEOPLE_CSV).status_code == 201
    path = "/api/v1/datasets/population/columns/income"
    body = {"level": "sensitive", "role": "measure", "personal": True}
    assert env.client.patch(path, headers=env.as_("dev"), json=body).status_code == 403
    assert env.client.patch(path, headers=env.as_("gongdian"), json=body).status_code == 403
    bad = env.client.patch(path, headers=env.as_("gongan"), json={"level": "secret"})
    assert bad.status_code == 400 and "level" in _error(bad)["message"]
    ok = env.client.patch(path, headers=env.as_("gongan"), json=body)
    assert ok.status_code == 200 and ok.json()["confirmed"] and ok.json()["level"] == "sensitive"
    # a new version keeps the steward's classification
    env.client.post("/api/v1/datasets/population/versions", headers=env.as_("gongan"),
                    files={"file": ("p.csv", PEOPLE_CSV.encode(), "text/csv")})
    detail = env.client.get("/api/v1/datasets/population", headers=env.as_("gongan")).json()
    income = next(c for c in detail["columns"] if c["name"] == "income")
    assert income["level"] == "sensitive" and income["confirmed"]


def test_search_finds_chinese_and_english_words(env: Env) -> None:
    assert _upload(env, "gongan", PEOPLE_CSV).status_code == 201
    power = "uscc,date,kwh\n91330281MA2XXXXX1X,2024-01-01,100.5\n"
    response = _upload(env, "gongdian", power, name="electricity_daily", department="power_supply",
                       filename="power.csv", title_zh="企业日用电量",
                       description_en="daily electricity consumption per enterprise")
    assert response.status_code == 201, response.text
    search = lambda q: [d["name"] for d in env.client.get(  # noqa: E731
        "/api/v1/datasets", params={"q": q}, headers=env.as_("dev")).json()]
    assert search("人口")[:1] == ["population"]
    assert search("electricity")[:1] == ["electricity_daily"]
    assert search("用电") == ["electricity_daily"]


def test_upload_over_the_limit_is_refused(env: Env) -> None:
    env.hub.settings.web.max_upload_bytes = 100
    response = _upload(env, "gongan", PEOPLE_CSV)
    assert response.status_code == 413 and _error(response)["code"] == "too_large"
    assert list(env.hub.settings.staging_dir.iterdir()) == []


def test_preview_shows_inferred_schema(env: Env) -> None:
    response = env.client.post("/api/v1/datasets/preview", headers=env.as_("gongan"),
                               files={"file": ("people.csv", PEOPLE_CSV.encode(), "text/csv")})
    assert response.status_code == 200, response.text
    types = {c["name"]: c["type"] for c in response.json()["columns"]}
    assert types["身份证号"] == "string" and types["person_id"] == "int64"
    assert len(response.json()["rows"]) == 3


def test_validation_and_unknown_routes_use_the_error_shape(env: Env) -> None:
    response = env.client.post("/api/v1/query", headers=env.as_("admin"), json={"sequel": 1})
    assert response.status_code == 422 and _error(response)["code"] == "invalid_request"
    assert _error(env.client.get("/api/v1/nothing-here", headers=env.as_("admin")))["code"] == "not_found"
    assert _error(env.client.get("/api/v1/datasets/nope", headers=env.as_("admin")))["code"] == "not_found"


def test_postgres_backend_import_and_query(pg_env: Env) -> None:
    assert _upload(pg_env, "gongan", PEOPLE_CSV).status_code == 201
    answer = pg_env.client.post("/api/v1/query", headers=pg_env.as_("gongan"),
                                json={"sql": "SELECT count(*) FROM population"})
    assert answer.json()["rows"] == [[3]]
    assert pg_env.client.post("/api/v1/query", headers=pg_env.as_("dev"),
                              json={"sql": "SELECT count(*) FROM population"}).status_code == 403
    verify = pg_env.client.post("/api/v1/audit/verify", headers=pg_env.as_("admin")).json()
    assert verify["intact"] and verify["entries"] >= 9
