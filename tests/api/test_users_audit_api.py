"""Users, roles, tokens and the audit log through the API."""

from __future__ import annotations

from sqlalchemy import update

from countyos.db.models import AuditEntry
from tests.api.conftest import Env


def test_only_admins_manage_users(env: Env) -> None:
    body = {"username": "newbie", "role": "viewer"}
    for user in ("gongan", "dev", "viewer"):
        assert env.client.post("/api/v1/users", headers=env.as_(user), json=body).status_code == 403
    created = env.client.post("/api/v1/users", headers=env.as_("admin"), json=body)
    assert created.status_code == 201
    token = created.json()["token"]
    me = env.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["username"] == "newbie" and me["role"] == "viewer"


def test_user_input_errors(env: Env) -> None:
    post = lambda body: env.client.post("/api/v1/users", headers=env.as_("admin"), json=body)  # noqa: E731
    assert post({"username": "x1", "role": "king"}).status_code == 400
    assert post({"username": "x2", "role": "steward"}).status_code == 400  # no department
    assert post({"username": "x3", "role": "developer", "department": "public_security"}).status_code == 400
    assert post({"username": "dev", "role": "viewer"}).status_code == 409


def test_role_change_takes_effect_and_is_audited(env: Env) -> None:
    upload = env.client.post("/api/v1/datasets", headers=env.as_("gongdian"),
                             files={"file": ("p.csv", b"uscc,kwh\nA1,3.5\n", "text/csv")},
                             data={"name": "power", "department": "power_supply"})
    assert upload.status_code == 201, upload.text
    sql = {"sql": "SELECT sum(kwh) FROM power"}
    assert env.client.post("/api/v1/query", headers=env.as_("viewer"), json=sql).status_code == 403
    change = env.client.put("/api/v1/users/viewer/role", headers=env.as_("admin"),
                            json={"role": "steward", "department": "power_supply"})
    assert change.status_code == 200 and change.json()["department"] == "power_supply"
    entries = env.client.get("/api/v1/audit", headers=env.as_("admin"),
                             params={"action": "user.role_change"}).json()
    assert entries[-1]["target"] == "user:viewer"
    assert entries[-1]["details"]["before"]["role"] == "viewer"
    assert env.client.post("/api/v1/query", headers=env.as_("viewer"), json=sql).status_code == 200


def test_revoked_and_deactivated_tokens_stop_working(env: Env) -> None:
    headers = env.as_("viewer")
    assert env.client.get("/api/v1/me", headers=headers).status_code == 200
    assert env.client.delete("/api/v1/users/viewer/tokens", headers=env.as_("admin")).json()["revoked"] == 1
    assert env.client.get("/api/v1/me", headers=headers).status_code == 401
    staff = env.as_("staff")
    env.client.post("/api/v1/users/staff/deactivate", headers=env.as_("admin"))
    assert env.client.get("/api/v1/me", headers=staff).status_code == 401


def test_users_may_issue_only_their_own_tokens(env: Env) -> None:
    assert env.client.post("/api/v1/users/admin/tokens", headers=env.as_("dev"), json={}).status_code == 403
    mine = env.client.post("/api/v1/users/dev/tokens", headers=env.as_("dev"), json={"name": "laptop"})
    assert mine.status_code == 201 and mine.json()["token"].startswith("cos_")


def test_audit_verify_detects_tampering(env: Env) -> None:
    assert env.client.post("/api/v1/audit/verify", headers=env.as_("dev")).status_code == 403
    intact = env.client.post("/api/v1/audit/verify", headers=env.as_("admin")).json()
    assert intact["intact"] and intact["entries"] >= 9
    with env.hub.db.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(action="nothing"))
    broken = env.client.post("/api/v1/audit/verify", headers=env.as_("admin")).json()
    assert not broken["intact"] and any("entry 2" in p for p in broken["problems"])


def test_organisation_endpoints(env: Env) -> None:
    departments = env.client.get("/api/v1/departments", headers=env.as_("viewer")).json()
    assert {d["code"] for d in departments} == {"public_security", "power_supply"}
    geo = env.client.get("/api/v1/townships/geojson", headers=env.as_("viewer")).json()
    assert geo["type"] == "FeatureCollection" and geo["features"][0]["properties"]["name"] == "东湖街道"
    dup = env.client.post("/api/v1/departments", headers=env.as_("admin"),
                          json={"code": "power_supply", "name_zh": "x"})
    assert dup.status_code == 409
    assert env.client.post("/api/v1/departments", headers=env.as_("gongan"),
                           json={"code": "health", "name_zh": "卫健局"}).status_code == 403
    bad = env.client.post("/api/v1/townships", headers=env.as_("admin"),
                          json={"code": "12", "name_zh": "坏"})
    assert bad.status_code == 400


def test_home_page_and_openapi(env: Env) -> None:
    home = env.client.get("/")
    assert home.status_code == 200 and "县域数字底座" in home.text
    spec = env.client.get("/openapi.json").json()
    assert "/api/v1/query" in spec["paths"] and "/api/v1/datasets" in spec["paths"]
