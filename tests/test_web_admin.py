"""Web pages System, Firmware, Logs, Charging history and Users; `chargebox users reset-admin`."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chargebox import cli, system
from chargebox.app import Runtime
from chargebox.ocpp16.firmware import installed_version, update_history
from chargebox.store.whitelist import WhitelistEntry
from chargebox.web.ui import PAGES, WebUI
from tests.webutil import (
    ADMIN_PASSWORD,
    hidden,
    login,
    make_admin_web,
    session_csrf,
)

PASSWORD = "another good password"


def admin_web(tmp_path: Path) -> tuple[Runtime, WebUI, TestClient, str]:
    runtime, ui, client = make_admin_web(tmp_path)
    return runtime, ui, client, session_csrf(client.get("/").text)


def add_user(client: TestClient, csrf: str, name: str, role: str) -> Any:
    return client.post(
        "/users",
        data={"csrf_token": csrf, "username": name, "role": role, "password": PASSWORD,
              "confirm": PASSWORD},
    )  # fmt: skip


def actions(ui: WebUI) -> list[str]:
    return [e.action for e in ui.auth.audit.recent(100)]


def test_pages_are_ready_and_render_in_both_languages(tmp_path: Path) -> None:
    runtime, ui, client, _ = admin_web(tmp_path)
    ready = {p.path for p in PAGES if p.ready}
    assert {"/system", "/firmware", "/logs", "/history", "/users"} <= ready
    for path, marker in [
        ("/system", 'id="versions"'),
        ("/firmware", 'id="fw-form"'),
        ("/logs", 'id="frames"'),
        ("/history", 'id="history-filter"'),
        ("/users", 'id="create-user"'),
    ]:
        r = client.get(path)
        assert r.status_code == 200 and marker in r.text, path
        assert "data-coming" not in r.text
    page = client.get("/system").text
    assert "0.1.0" in page and f">{runtime.db.schema_version}<" in page
    client.get("/lang/de")
    assert "Werkseinstellungen" in client.get("/system").text
    assert "Ladehistorie" in client.get("/history").text


def test_roles_are_enforced(tmp_path: Path) -> None:
    runtime, ui, admin, csrf = admin_web(tmp_path)
    assert add_user(admin, csrf, "olga", "operator").status_code == 200
    assert add_user(admin, csrf, "ingo", "installer").status_code == 200
    operator = TestClient(admin.app, follow_redirects=False)
    assert login(operator, "olga", PASSWORD).status_code == 303
    installer = TestClient(admin.app, follow_redirects=False)
    assert login(installer, "ingo", PASSWORD).status_code == 303
    for path in ("/history", "/history.csv", "/system"):
        assert operator.get(path).status_code == 200, path
    for path in ("/logs", "/logs/frames", "/logs/diagnostics.zip", "/system/export",
                 "/firmware", "/users"):  # fmt: skip
        assert operator.get(path).status_code == 403, path
    for path in ("/logs", "/system/export"):
        assert installer.get(path).status_code == 200, path
    for path in ("/firmware", "/users"):
        assert installer.get(path).status_code == 403, path
    icsrf = session_csrf(installer.get("/").text)
    for path in ("/system/reboot", "/system/factory-reset", "/system/import", "/users"):
        assert installer.post(path, data={"csrf_token": icsrf}).status_code == 403, path
    # The operator sees the restart button but neither reboot nor factory reset nor import.
    page = operator.get("/system").text
    assert 'id="restart"' in page and 'id="factory-reset"' not in page
    assert 'id="import"' not in page and 'id="export"' not in page
    # Without the CSRF token a change is refused.
    assert admin.post("/system/restart").status_code == 403
    assert admin.post("/users", data={"username": "x"}).status_code == 403
    assert operator.get("/users").status_code == 403
    assert TestClient(admin.app, follow_redirects=False).get("/history").status_code == 303


# ------------------------------------------------------------------------------ system


def test_restart_stops_sessions_with_reason_reboot(tmp_path: Path) -> None:
    runtime, ui, client, csrf = admin_web(tmp_path)
    with client:
        client.post("/api/v1/sim/connectors/1/plug", json={}, headers={"X-CSRF-Token": csrf})
        runtime.step()
        assert runtime.station.connectors[1].transaction is not None
        r = client.post("/system/restart", data={"csrf_token": csrf})
        assert r.status_code == 200 and 'id="message"' in r.text
        deadline = time.monotonic() + 5
        while runtime.restart_kind is None and time.monotonic() < deadline:
            time.sleep(0.05)
    assert runtime.restart_kind == "Soft"
    record = runtime.transactions.history(limit=1)[0]
    assert record.stop_reason == "Reboot"
    assert "system.restart" in actions(ui)


def test_factory_reset_needs_the_typed_word_and_keeps_the_certificate(tmp_path: Path) -> None:
    runtime, ui, client, csrf = admin_web(tmp_path)
    r = client.post("/system/factory-reset", data={"csrf_token": csrf, "confirm": "reset"})
    assert r.status_code == 400 and 'id="error-confirm"' in r.text
    assert not (runtime.data_dir / system.FACTORY_RESET_MARKER).exists()
    with client:
        r = client.post("/system/factory-reset", data={"csrf_token": csrf, "confirm": "RESET"})
        assert r.status_code == 200
        deadline = time.monotonic() + 5
        while runtime.restart_kind is None and time.monotonic() < deadline:
            time.sleep(0.05)
    assert (runtime.data_dir / system.FACTORY_RESET_MARKER).exists()
    assert "system.factory_reset" in actions(ui)
    runtime.db.close()
    (runtime.data_dir / "tls").mkdir()
    (runtime.data_dir / "tls" / "cert.pem").write_text("cert")
    (runtime.data_dir / "firmware").mkdir(exist_ok=True)
    (runtime.data_dir / "firmware" / "x.bin").write_text("x")
    assert system.apply_pending_factory_reset(runtime.data_dir)
    assert sorted(p.name for p in runtime.data_dir.iterdir()) == ["tls"]
    assert (runtime.data_dir / "tls" / "cert.pem").read_text() == "cert"
    assert not system.apply_pending_factory_reset(runtime.data_dir)


def _configure(runtime: Runtime) -> None:
    assert runtime.config.change("HeartbeatInterval", "123").value == "Accepted"
    runtime.config.change("AuthorizationKey", "0123456789abcdef0123")
    runtime._writer.submit(lambda: None).result()  # the settings writer has written
    runtime.state.set("backend", "csms_url", "ws://csms.example/ocpp")
    runtime.state.set("network", "apn_password", "hunter22")
    runtime.whitelist.update_many(
        [WhitelistEntry("04A2B3C4"), WhitelistEntry("DEADBEEF", "Blocked", "G1", "2030-01-01")]
    )


def test_configuration_export_import_round_trip(tmp_path: Path) -> None:
    runtime, ui, client, csrf = admin_web(tmp_path)
    _configure(runtime)
    r = client.get("/system/export")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    text = r.text
    document = json.loads(text)
    assert document["format"] == "chargebox-configuration"
    assert document["ocpp_keys"]["HeartbeatInterval"] == "123"
    assert "AuthorizationKey" not in text and "0123456789abcdef0123" not in text
    assert "hunter22" not in text and "apn_password" not in text
    assert document["settings"]["backend"]["csms_url"] == "ws://csms.example/ocpp"
    assert [e["uid"] for e in document["whitelist"]] == ["04A2B3C4", "DEADBEEF"]
    # Change everything, then import the file: all back.
    runtime.config.change("HeartbeatInterval", "900")
    runtime.state.set("backend", "csms_url", "")
    runtime.whitelist.replace_all([WhitelistEntry("OTHER")])
    r = client.post(
        "/system/import",
        data={"csrf_token": csrf},
        files={"file": ("config.json", text.encode(), "application/json")},
    )
    assert r.status_code == 200, r.text
    assert 'id="message"' in r.text
    assert runtime.config.get("HeartbeatInterval") == "123"
    assert runtime.state.get("backend", "csms_url") == "ws://csms.example/ocpp"
    assert [e.uid for e in runtime.whitelist.all()] == ["04A2B3C4", "DEADBEEF"]
    assert runtime.whitelist.get("DEADBEEF") == WhitelistEntry(
        "DEADBEEF", "Blocked", "G1", "2030-01-01"
    )
    assert runtime.config.get("AuthorizationKey") == "0123456789abcdef0123"  # untouched
    assert "system.import" in actions(ui)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["whitelist"].append({"uid": "X", "authorization": "Maybe"}),
         "whitelist[2].authorization"),
        (lambda d: d["ocpp_keys"].update(HeartbeatInterval="soon"), "ocpp_keys.HeartbeatInterval"),
        (lambda d: d["ocpp_keys"].update(NoSuchKey="1"), "ocpp_keys.NoSuchKey"),
        (lambda d: d["ocpp_keys"].update(AuthorizationKey="0" * 20), "ocpp_keys.AuthorizationKey"),
        (lambda d: d["settings"]["backend"].update(csms_url="http://x"),
         "settings.backend.csms_url"),
        (lambda d: d.update(version=99), "version"),
    ],
)  # fmt: skip
def test_a_failing_import_changes_nothing(tmp_path: Path, change: Any, field: str) -> None:
    runtime, ui, client, csrf = admin_web(tmp_path)
    _configure(runtime)
    document = json.loads(client.get("/system/export").text)
    document["ocpp_keys"]["HeartbeatInterval"] = "456"  # a good change before the bad one
    document["whitelist"][0]["authorization"] = "Blocked"
    change(document)
    before = (runtime.config.snapshot(), runtime.whitelist.all(include_deleted=True))
    r = client.post(
        "/system/import",
        data={"csrf_token": csrf},
        files={"file": ("bad.json", json.dumps(document).encode(), "application/json")},
    )
    assert r.status_code == 400
    assert 'id="error-file"' in r.text and field in r.text
    assert (runtime.config.snapshot(), runtime.whitelist.all(include_deleted=True)) == before
    assert "system.import" not in actions(ui)
    r = client.post(
        "/system/import",
        data={"csrf_token": csrf},
        files={"file": ("x.json", b"{not json", "application/json")},
    )
    assert r.status_code == 400 and "not JSON" in r.text


# ---------------------------------------------------------------------------- firmware


def test_firmware_upload_installs_through_the_update_path(tmp_path: Path) -> None:
    runtime, ui, client, csrf = admin_web(tmp_path)
    headers = {"X-CSRF-Token": csrf, "content-type": "application/octet-stream"}
    r = client.post("/firmware/upload?name=fw-1.bin", content=b"INVALID image", headers=headers)
    assert r.status_code == 422 and "INVALID" in r.json()["detail"]
    assert installed_version(runtime.state) is None and runtime.restart_kind is None
    assert update_history(runtime.state)[0]["result"] == "InstallationFailed"
    assert (
        client.post("/firmware/upload?name=../x", content=b"x", headers=headers).status_code == 422
    )
    assert (
        client.post("/firmware/upload?name=e.bin", content=b"", headers=headers).status_code == 422
    )
    no_csrf = {"content-type": "application/octet-stream"}
    assert (
        client.post("/firmware/upload?name=a.bin", content=b"a", headers=no_csrf).status_code == 403
    )
    image = b"\x7fELF" + bytes(range(256)) * 400
    r = client.post("/firmware/upload?name=fw-2.0.bin", content=image, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["installed"] is True and r.json()["version"] == "fw-2.0"
    assert (runtime.data_dir / "firmware" / "fw-2.0.bin").read_bytes() == image
    assert installed_version(runtime.state) == "fw-2.0"
    assert runtime.restart_kind == "Soft"  # the same restart as an OCPP update
    history = update_history(runtime.state)
    assert [(h["version"], h["result"], h["source"]) for h in history[:2]] == [
        ("fw-2.0", "Installed", "upload"), ("fw-1", "InstallationFailed", "upload")
    ]  # fmt: skip
    page = client.get("/firmware").text
    assert 'id="fw-history"' in page and "fw-2.0" in page
    entry = next(e for e in ui.auth.audit.recent(50) if e.action == "firmware.upload")
    assert entry.target == "fw-2.0.bin" and "Installed" in (entry.new_value or "")


# -------------------------------------------------------------------------------- logs


def test_logs_filter_frames_and_download_diagnostics(tmp_path: Path) -> None:
    runtime, ui, client, _ = admin_web(tmp_path)
    logs = runtime.data_dir / "logs"
    logs.mkdir(exist_ok=True)
    (logs / "ocpp-messages.log").write_text(
        '2026-01-01T00:00:00.000Z out [2,"1","BootNotification",{"chargePointVendor":"v"}]\n'
        '2026-01-01T00:00:00.100Z in [3,"1",{"status":"Accepted","interval":60}]\n'
        '2026-01-01T00:00:01.000Z out [2,"2","Heartbeat",{}]\n'
        '2026-01-01T00:00:01.100Z in [3,"2",{"currentTime":"2026-01-01T00:00:01Z"}]\n'
        '2026-01-01T00:00:02.000Z in [2,"a","Reset",{"type":"Soft"}]\n'
    )
    (logs / "chargebox.log").write_text("2026-01-01T00:00:00.000Z INFO chargebox: started\n")
    page = client.get("/logs").text
    assert "BootNotification" in page and "Heartbeat" in page and "started" in page
    frag = client.get("/logs/frames?action=BootNotification").text
    assert frag.count("<tr data-dir") == 2  # the call and its result
    assert "Heartbeat" not in frag
    frag = client.get("/logs/frames?action=&direction=in").text
    assert frag.count('data-dir="in"') == 3 and 'data-dir="out"' not in frag
    assert "Reset" in client.get("/logs/frames?direction=in&action=reset").text
    assert 'id="no-frames"' in client.get("/logs/frames?action=Nothing").text
    r = client.get("/logs/diagnostics.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        assert set(z.namelist()) >= {"chargebox.log", "ocpp-messages.log", "configuration.json"}
        assert "BootNotification" in z.read("ocpp-messages.log").decode()
        assert "AuthorizationKey" not in z.read("configuration.json").decode()


# ----------------------------------------------------------------------------- history


def _sessions(runtime: Runtime, n: int) -> None:
    """n finished sessions, one a day from 2025-01-01 (connectors 1 and 2 alternating)."""
    store = runtime.transactions
    for i in range(n):
        day = time.strftime("%Y-%m-%d", time.gmtime(1735689600 + i * 86400))
        local = store.create(1 + i % 2, f"TAG{i % 7}", 1000 * i, f"{day}T08:00:00Z")
        store.stop(local, 1000 * i + 500 + i, f"{day}T09:30:00Z", "Local")


def test_history_keeps_1200_sessions_and_exports_csv(tmp_path: Path) -> None:
    runtime, ui, client, _ = admin_web(tmp_path)
    _sessions(runtime, 1200)
    assert runtime.transactions.count() == 1200  # nothing is pruned
    page = client.get("/history").text
    assert "1200 sessions · page 1 of 24" in page
    assert page.count("<tr><td>") == 50
    last = client.get("/history?page=24").text
    assert "page 24 of 24" in last and 'id="next"' not in last and 'id="prev"' in last
    assert "2025-01-01 08:00:00" in last and "0.50 kWh" in last and "1:30:00" in last
    r = client.get("/history.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "charset=utf-8" in r.headers["content-type"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8"))))
    assert rows[0][:4] == ["local_id", "transaction_id", "connector_id", "id_tag"]
    assert len(rows) == 1201
    first = dict(zip(rows[0], rows[-1], strict=True))
    assert first["energy_wh"] == "500" and first["energy_kwh"] == "0.500"
    assert first["duration_s"] == "5400" and first["stop_reason"] == "Local"
    # Filters: date range (both days inclusive), connector, tag; the CSV follows them.
    q = "from=2025-01-01&to=2025-01-10&connector=1&tag=tag0"
    page = client.get(f"/history?{q}").text
    assert "1 sessions" in page or "1 session" in page
    rows = list(csv.reader(io.StringIO(client.get(f"/history.csv?{q}").text)))
    assert len(rows) == 2 and rows[1][3] == "TAG0" and rows[1][2] == "1"
    rows = list(
        csv.reader(io.StringIO(client.get("/history.csv?from=2025-01-01&to=2025-01-10").text))
    )
    assert len(rows) == 11
    bad = client.get("/history?from=2025-13-01&connector=9")
    assert bad.status_code == 400 and 'id="error-from"' in bad.text
    assert 'id="error-connector"' in bad.text
    assert client.get("/history.csv?to=yesterday").status_code == 422


# ------------------------------------------------------------------------------- users


def test_users_create_role_password_delete_and_the_last_admin(tmp_path: Path) -> None:
    runtime, ui, client, csrf = admin_web(tmp_path)
    r = client.post(
        "/users",
        data={"csrf_token": csrf, "username": "bad name", "role": "boss", "password": "short",
              "confirm": "short"},
    )  # fmt: skip
    assert r.status_code == 400
    for field in ("username", "role", "password"):
        assert f'id="error-{field}"' in r.text, field
    r = client.post(
        "/users",
        data={"csrf_token": csrf, "username": "olga", "role": "operator", "password": PASSWORD,
              "confirm": PASSWORD + "x"},
    )  # fmt: skip
    assert r.status_code == 400 and 'id="error-confirm"' in r.text
    assert add_user(client, csrf, "olga", "operator").status_code == 200
    assert add_user(client, csrf, "OLGA", "operator").status_code == 400  # names are unique
    olga = ui.auth.users.get("olga")
    admin = ui.auth.users.get("admin")
    assert olga is not None and admin is not None
    # The last admin keeps the role and cannot be deleted.
    r = client.post(f"/users/{admin.id}/role", data={"csrf_token": csrf, "role": "operator"})
    assert r.status_code == 400 and 'id="error-row"' in r.text
    r = client.post(f"/users/{admin.id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 400
    assert ui.auth.users.get("admin").role == "admin"  # type: ignore[union-attr]
    # Promote olga; then admin could be demoted, but not delete itself.
    r = client.post(f"/users/{olga.id}/role", data={"csrf_token": csrf, "role": "admin"})
    assert r.status_code == 200 and ui.auth.users.get("olga").role == "admin"  # type: ignore[union-attr]
    assert client.post(f"/users/{admin.id}/delete", data={"csrf_token": csrf}).status_code == 400
    # Reset olga's password: her sessions end, the new password works, the audit masks it.
    other = TestClient(client.app, follow_redirects=False)
    assert login(other, "olga", PASSWORD).status_code == 303
    new = "a brand new password"
    r = client.post(
        f"/users/{olga.id}/password", data={"csrf_token": csrf, "password": new, "confirm": new}
    )
    assert r.status_code == 200
    assert other.get("/users").status_code == 303  # logged out
    assert login(other, "olga", new).status_code == 303
    r = client.post(
        f"/users/{olga.id}/password", data={"csrf_token": csrf, "password": "x", "confirm": "x"}
    )
    assert r.status_code == 400
    r = client.post(f"/users/{olga.id}/delete", data={"csrf_token": csrf})
    assert r.status_code == 200 and ui.auth.users.get("olga") is None
    entries = {e.action: e for e in ui.auth.audit.recent(100)}
    assert {"user.create", "user.role", "user.password", "user.delete"} <= set(entries)
    assert entries["user.password"].new_value == "********"
    assert (
        entries["user.role"].old_value == "operator" and entries["user.role"].new_value == "admin"
    )
    assert client.post("/users/999/delete", data={"csrf_token": csrf}).status_code == 404


def test_cli_reset_admin_prints_a_one_time_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime, ui, client, _ = admin_web(tmp_path)
    assert ui.auth.setup_token is None
    code = cli.main(["users", "reset-admin", "--data-dir", str(runtime.data_dir)])
    assert code == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8080/setup?token=" in out
    token = out.split("token=")[1].split()[0]
    fresh = TestClient(client.app, follow_redirects=False)
    page = fresh.get(f"/setup?token={token}")
    assert page.status_code == 200
    new = "the forgotten one is back"
    r = fresh.post(
        "/setup",
        data={"csrf_token": hidden(page.text, "csrf_token"), "token": token, "username": "admin",
              "password": new, "confirm": new},
    )  # fmt: skip
    assert r.status_code == 303
    assert login(TestClient(client.app, follow_redirects=False), "admin", new).status_code == 303
    assert login(TestClient(client.app), "admin", ADMIN_PASSWORD).status_code == 401
    assert fresh.get(f"/setup?token={token}").status_code == 404  # once only
    assert "user.reset_admin" in actions(ui)
    assert cli.main(["users", "reset-admin", "--data-dir", str(tmp_path / "nothing")]) == 2


# ------------------------------------------------------------------------ energy panel


def test_dashboard_has_the_energy_panel_and_its_texts(tmp_path: Path) -> None:
    runtime, ui, client, _ = admin_web(tmp_path)
    page = client.get("/").text
    assert 'id="energy" hidden' in page  # energy management is off
    assert 'id="grid-chart"' in page
    text = json.loads(page.split('<script type="application/json" id="text">')[1].split("<")[0])
    assert text["energy_panel"]["budget"] == "Budget for charging (A)"
    js = (Path(__file__).parents[1] / "src/chargebox/web/static/app.js").read_text()
    assert "energy-phases" in js and "addGridPoint" in js
