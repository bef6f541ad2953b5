"""Web login: first-start setup, login, lockout, roles, CSRF, idle timeout, audit log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from chargebox.store.users import AuditEntry
from chargebox.web.auth import has_role
from tests.webutil import ADMIN_PASSWORD, login, make_admin_web, make_web, session_csrf, setup_admin


def actions(entries: list[AuditEntry]) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in reversed(entries)]


def test_roles_include_the_lower_ones() -> None:
    assert has_role("admin", "installer") and has_role("admin", "operator")
    assert has_role("installer", "operator") and not has_role("installer", "admin")
    assert not has_role("operator", "installer") and not has_role("nobody", "operator")


def test_setup_link_works_once(tmp_path: Path) -> None:
    runtime, ui, client = make_web(tmp_path)
    token = ui.auth.setup_token
    assert token is not None
    assert ui.announce() == f"http://127.0.0.1:8080/setup?token={token}"
    # Pages need a login; there is no default user to log in with.
    assert client.get("/").headers["location"] == "/login?next=/"
    assert "setup-pending" in client.get("/login").text
    assert client.get("/setup?token=wrong").status_code == 404

    page = client.get(f"/setup?token={token}")
    pre = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    short = client.post(
        "/setup",
        data={"csrf_token": pre, "token": token, "username": "admin", "password": "short",
              "confirm": "short"},
    )  # fmt: skip
    assert short.status_code == 400 and 'id="error-password"' in short.text
    mismatch = client.post(
        "/setup",
        data={"csrf_token": pre, "token": token, "username": "admin",
              "password": ADMIN_PASSWORD, "confirm": ADMIN_PASSWORD + "x"},
    )  # fmt: skip
    assert mismatch.status_code == 400 and 'id="error-confirm"' in mismatch.text
    assert runtime.db.query_one("SELECT COUNT(*) AS n FROM users")["n"] == 0  # type: ignore[index]

    done = setup_admin(client, token)
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = done.headers["set-cookie"]
    assert "cb_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP here; HTTPS sets it (test_web_https)
    assert client.get("/").status_code == 200  # logged in right away
    # The hash is argon2id, never the password.
    stored = runtime.db.query_one("SELECT password_hash FROM users")["password_hash"]  # type: ignore[index]
    assert stored.startswith("$argon2id$") and ADMIN_PASSWORD not in stored

    # The link is spent, also after the admin logged out.
    assert client.get(f"/setup?token={token}").status_code == 404
    assert setup_admin_again_fails(client, token)
    assert ui.announce() is None


def setup_admin_again_fails(client: object, token: str) -> bool:
    r = client.post(  # type: ignore[attr-defined]
        "/setup",
        data={"csrf_token": "x", "token": token, "username": "evil", "password": "x" * 12,
              "confirm": "x" * 12},
    )  # fmt: skip
    return bool(r.status_code == 404)


def test_login_wrong_password_and_lockout(tmp_path: Path) -> None:
    runtime, ui, client = make_admin_web(tmp_path, "login_max_failures = 3\nlogin_lockout_s = 1.0")
    client.cookies.clear()

    wrong = login(client, "admin", "not the password")
    assert wrong.status_code == 401 and 'id="login-error"' in wrong.text
    assert "cb_session" not in wrong.headers.get("set-cookie", "")
    assert login(client, "nobody", "whatever").status_code == 401  # unknown user: same answer
    locked = login(client, "admin", "still wrong")
    assert locked.status_code == 429 and "locked" in locked.text
    # While locked, even the right password is refused (per user and per client address).
    assert login(client, "admin", ADMIN_PASSWORD).status_code == 429
    assert login(client, "someone-else", "x").status_code == 429
    time.sleep(1.1)
    ok = login(client, "admin", ADMIN_PASSWORD)
    assert ok.status_code == 303 and "cb_session=" in ok.headers["set-cookie"]
    log = actions(ui.auth.audit.recent())
    assert ("admin", "login.failed", "admin") in log
    assert ("admin", "login.lockout", "admin") in log
    assert ("admin", "login.refused_locked", "admin") in log
    assert log[-1] == ("admin", "login", "admin")


def test_login_form_needs_its_csrf_token(tmp_path: Path) -> None:
    runtime, ui, client = make_admin_web(tmp_path)
    client.cookies.clear()
    client.get("/login")
    r = client.post(
        "/login", data={"csrf_token": "forged", "username": "admin", "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 403 and "cb_session=" not in r.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    ("role", "allowed", "forbidden"),
    [
        ("operator", ["/", "/sim", "/history", "/whitelists", "/system"],
         ["/settings/backend", "/settings/installation", "/logs", "/users", "/audit",
          "/firmware"]),
        ("installer", ["/", "/settings/backend", "/settings/ocpp-keys", "/logs"],
         ["/users", "/audit", "/firmware", "/settings/security"]),
        ("admin", ["/", "/settings/backend", "/users", "/audit", "/firmware"], []),
    ],
)  # fmt: skip
def test_roles_are_enforced(
    tmp_path: Path, role: str, allowed: list[str], forbidden: list[str]
) -> None:
    runtime, ui, client = make_admin_web(tmp_path)
    client.cookies.clear()
    if role != "admin":
        ui.auth.users.create("bob", ui.auth.hasher.hash("bobs password 1"), role)
        assert login(client, "bob", "bobs password 1").status_code == 303
    else:
        assert login(client, "admin", ADMIN_PASSWORD).status_code == 303
    for path in allowed:
        assert client.get(path).status_code == 200, path
    for path in forbidden:
        r = client.get(path)
        assert r.status_code == 403, path
        assert 'id="error-message"' in r.text
    nav = client.get("/").text
    assert ('href="/users"' in nav) == (role == "admin")
    assert ('href="/settings/backend"' in nav) == (role != "operator")


def test_csrf_is_required_for_changes(tmp_path: Path) -> None:
    runtime, ui, client = make_admin_web(tmp_path)
    csrf = session_csrf(client.get("/").text)

    # A form post without the token (another site's form would look like this).
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    # The control API with the session cookie: CSRF header required for changes.
    assert client.get("/api/v1/status").status_code == 200
    r = client.post("/api/v1/sim/connectors/1/plug")
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["detail"]
    r = client.post("/api/v1/sim/connectors/1/plug", headers={"X-CSRF-Token": "nope"})
    assert r.status_code == 403
    r = client.post("/api/v1/sim/connectors/1/plug", json={}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["pilot"] in ("B", "C")
    # The bearer token works as before, and a wrong one is refused even with a session.
    bearer = {"Authorization": f"Bearer {runtime.api_token}"}
    assert client.post("/api/v1/sim/connectors/1/unplug", headers=bearer).status_code == 200
    r = client.get("/api/v1/status", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    # Logout with the token ends the session: the cookie no longer opens anything.
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/api/v1/status").status_code == 401
    assert client.get("/").status_code == 303


def test_session_idle_timeout(tmp_path: Path) -> None:
    runtime, ui, client = make_admin_web(tmp_path, "session_idle_timeout_s = 1.0")
    for _ in range(3):  # activity keeps it alive past the timeout
        time.sleep(0.5)
        assert client.get("/").status_code == 200
    time.sleep(1.3)
    r = client.get("/sim")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/sim"
    assert client.get("/api/v1/status").status_code == 401
    # An htmx request is told where to go instead of getting the login page swapped in.
    r = client.get("/", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/login"


def test_session_absolute_lifetime(tmp_path: Path) -> None:
    runtime, ui, client = make_admin_web(tmp_path, "session_lifetime_s = 1.0")
    time.sleep(0.6)
    assert client.get("/").status_code == 200
    time.sleep(0.6)
    assert client.get("/").status_code == 303


def test_audit_log_records_who_did_what(tmp_path: Path) -> None:
    runtime, ui, client = make_admin_web(tmp_path)
    csrf = session_csrf(client.get("/").text)
    headers = {"X-CSRF-Token": csrf}
    client.post("/api/v1/sim/connectors/1/plug", json={"soc_percent": 50}, headers=headers)
    client.post("/api/v1/sim/connectors/1/plug", json={}, headers=headers)  # 409: not a change
    bearer = {"Authorization": f"Bearer {runtime.api_token}"}
    client.post("/api/v1/sim/connectors/1/unplug", headers=bearer)
    log = actions(ui.auth.audit.recent())
    assert log == [
        ("admin", "user.create", "admin"),
        ("admin", "api", "POST /api/v1/sim/connectors/1/plug"),
        ("api-token", "api", "POST /api/v1/sim/connectors/1/unplug"),
    ]
    page = client.get("/audit")
    assert page.status_code == 200 and "POST /api/v1/sim/connectors/1/plug" in page.text


def test_audit_helper_masks_secrets(tmp_path: Path) -> None:
    from starlette.requests import Request

    from chargebox.web.auth import audit_change

    runtime, ui, client = make_web(tmp_path)
    app = client.app
    scope = {"type": "http", "app": app, "client": ("10.0.0.7", 1), "headers": []}
    request = Request(scope)
    request.state.actor = "alice"
    audit_change(request, "setting.change", "ocpp.csms_url", "ws://a", "ws://b")
    audit_change(request, "setting.change", "AuthorizationKey", "old", "new", secret=True)
    first, second = reversed(ui.auth.audit.recent())
    assert (first.actor, first.old_value, first.new_value, first.client) == (
        "alice", "ws://a", "ws://b", "10.0.0.7",
    )  # fmt: skip
    assert (second.old_value, second.new_value) == ("********", "********")


def test_login_keeps_the_target_page_but_only_a_local_one(tmp_path: Path) -> None:
    runtime, ui, client = make_admin_web(tmp_path)
    client.cookies.clear()
    page = client.get("/login?next=/sim")
    assert 'name="next" value="/sim"' in page.text
    assert 'name="next" value="/"' in client.get("/login?next=//evil.example/").text
