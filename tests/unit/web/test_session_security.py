"""Browser sessions: log-in, the signed cookie, CSRF, log-out, redirects — and attacks on each."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import select

from countyos.auth.users import set_active
from countyos.db.models import ApiToken, AuditEntry
from countyos.web.pages.security import SESSION_COOKIE, SessionCodec, load_secret, safe_next
from tests.conftest import ADMIN
from tests.unit.web.conftest import Portal, csrf_of


@pytest.mark.parametrize("target", [
    "//evil.example/", "/\\evil.example", "https://evil.example/x", "javascript:alert(1)",
    "evil.example", "/\t/evil.example", "\\\\evil.example", "", "http:/evil.example",
])
def test_safe_next_refuses_every_way_off_the_site(target: str) -> None:
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/catalog", "/catalog/x?q=人口", "/lab/projects/p#grants"])
def test_safe_next_keeps_local_paths(target: str) -> None:
    assert safe_next(target) == target


def test_login_sets_a_hardened_cookie_that_is_not_the_users_token(portal: Portal) -> None:
    client = portal.client()
    page = client.get("/login?next=/catalog")
    response = client.post("/login", data={"username": "gongan", "token": portal.env.tokens["gongan"],
                                            "csrf_token": csrf_of(page.text), "next": "/catalog"})
    assert response.status_code == 303 and response.headers["location"] == "/catalog"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert portal.env.tokens["gongan"] not in cookie
    with portal.hub.db.session() as session:
        web = session.execute(select(ApiToken).where(ApiToken.name == "web-session")).scalars().all()
        assert len(web) == 1 and web[0].expires_at is not None
        assert session.execute(select(AuditEntry).where(AuditEntry.action == "web.login")).first()
    assert client.get("/").status_code == 200


def test_login_refuses_a_token_of_someone_else_or_a_wrong_one(portal: Portal) -> None:
    client = portal.client()
    for username, token in (("gongan", portal.env.tokens["admin"]), ("gongan", "cos_wrong"),
                            ("nobody", portal.env.tokens["gongan"])):
        page = client.get("/login")
        response = client.post("/login", data={"username": username, "token": token,
                                                "csrf_token": csrf_of(page.text)})
        assert response.status_code == 401
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
        assert "令牌错误" in response.text                       # the message sits by the field
    page = client.get("/login")
    empty = client.post("/login", data={"csrf_token": csrf_of(page.text)})
    assert empty.status_code == 400
    assert empty.text.count('class="field-error"') == 2


def test_forms_without_a_valid_csrf_token_are_refused(portal: Portal) -> None:
    client = portal.client()
    client.get("/login")
    no_token = client.post("/login", data={"username": "gongan", "token": portal.env.tokens["gongan"]})
    assert no_token.status_code == 403
    steward = portal.login("gongan")
    other = portal.login("gongdian")
    # a token from another browser's session is worthless here
    stolen = portal.csrf(other)
    response = steward.post("/admin/settings/showcase", data={"public": "1", "csrf_token": stolen})
    assert response.status_code == 403
    admin = portal.login("admin")
    token = portal.csrf(admin)
    cross_site = admin.post("/admin/settings/showcase", data={"public": "1", "csrf_token": token},
                            headers={"origin": "https://evil.example"})
    assert cross_site.status_code == 403
    ok = admin.post("/admin/settings/showcase", data={"public": "1", "csrf_token": token})
    assert ok.status_code == 303
    by_header = admin.post("/admin/settings/showcase", data={"public": ""},
                           headers={"x-csrf-token": token})
    assert by_header.status_code == 303


def test_a_forged_or_expired_session_cookie_opens_nothing(portal: Portal) -> None:
    value = portal.login("admin").cookies[SESSION_COOKIE]
    tampered = portal.client()
    tampered.cookies.set(SESSION_COOKIE, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert tampered.get("/").status_code == 303
    forged = portal.client()                                               # signed with another key
    forged.cookies.set(SESSION_COOKIE, SessionCodec(b"x" * 32).dumps(portal.env.tokens["admin"]))
    assert forged.get("/").headers["location"].startswith("/login")
    codec = SessionCodec(load_secret(portal.hub.settings.home), max_age=-1)
    assert codec.loads(codec.dumps("cos_x")) is None                       # too old


def test_logout_revokes_only_the_session_and_deactivation_ends_sessions(portal: Portal) -> None:
    client = portal.login("gongan")
    cookie = client.cookies[SESSION_COOKIE]
    assert client.post("/logout", data={"csrf_token": portal.csrf(client)}).status_code == 303
    replay = portal.client()
    replay.cookies.set(SESSION_COOKIE, cookie)
    assert replay.get("/").status_code == 303                              # the old cookie is dead
    api = portal.env.client.get("/api/v1/me", headers=portal.env.as_("gongan"))
    assert api.status_code == 200                                          # their own token lives on
    again = portal.login("gongan")
    with portal.hub.db.session() as session:
        set_active(session, ADMIN, username="gongan", active=False)
    assert again.get("/").status_code == 303


def test_the_secret_is_private_and_stable(portal: Portal) -> None:
    path = portal.hub.settings.home / "web" / "secret.key"
    first = load_secret(portal.hub.settings.home)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(first) == 32
    assert load_secret(portal.hub.settings.home) == first


def test_pages_carry_security_headers_and_anonymous_users_go_to_login(portal: Portal) -> None:
    client = portal.client()
    home = client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/login?next=/"
    htmx = client.get("/catalog", headers={"hx-request": "true"})
    assert htmx.headers["hx-redirect"] == "/login?next=/catalog"
    page = portal.login("viewer").get("/catalog")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text                                     # no inline script
