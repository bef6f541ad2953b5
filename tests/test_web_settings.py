"""Settings pages: backend, OCPP keys, authorization, whitelists (CSV), installation, network,
date and time — render, validation next to the field, save + audit, roles."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chargebox.app import apply_stored_overrides
from chargebox.core.auth import AuthMode, normalize_tag
from chargebox.settings import StationFile
from chargebox.store.whitelist import WhitelistEntry
from chargebox.store.whitelist_csv import HEADER, export_csv, parse_csv
from tests.webutil import login, make_admin_web, session_csrf

PAGES = [
    "/settings/backend",
    "/settings/ocpp-keys",
    "/settings/authorization",
    "/whitelists",
    "/settings/installation",
    "/settings/network",
    "/settings/time",
]


@pytest.fixture
def web(tmp_path: Path) -> tuple[Any, Any, TestClient]:
    runtime, ui, client = make_admin_web(tmp_path)
    return runtime, ui, client


def csrf_of(client: TestClient, path: str = "/") -> str:
    return session_csrf(client.get(path).text)


def post(client: TestClient, path: str, data: dict[str, str]) -> Any:
    return client.post(path, data={"csrf_token": csrf_of(client, path), **data})


def field_error(html: str, name: str) -> str:
    match = re.search(rf'data-error-for="{name}">([^<]*)<', html)
    return match.group(1) if match else ""


def form_values(html: str) -> dict[str, str]:
    """The values a browser would submit for the page's settings form (as shown)."""
    form = html.split('id="settings-form"')[1].split("</form>")[0]
    values: dict[str, str] = {}
    for tag in re.finditer(r"<input ([^>]*)>", form):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag.group(1)))
        name = attrs.get("name")
        if not name or name == "csrf_token":
            continue
        if attrs.get("type") == "checkbox":
            if " checked" in tag.group(1):
                values[name] = attrs.get("value", "on")
            continue
        values[name] = attrs.get("value", "")
    for sel in re.finditer(r'<select id="f-[^"]*" name="([^"]+)">(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', sel.group(2))
        first = re.search(r'<option value="([^"]*)"', sel.group(2))
        values[sel.group(1)] = (chosen or first).group(1)  # type: ignore[union-attr]
    return values


class Form:
    """A settings page's form as a browser shows it; `submit` changes fields and posts it."""

    def __init__(self, client: TestClient, path: str, html: str | None = None) -> None:
        self.client = client
        self.path = path
        self.values = form_values(client.get(path).text if html is None else html)

    def submit(self, **changes: str) -> Any:
        self.values.update(changes)
        return post(self.client, self.path, self.values)


def audit(ui: Any, action: str) -> list[Any]:
    return [e for e in ui.auth.audit.recent(500) if e.action == action]


# ------------------------------------------------------------------------------ pages


def test_every_page_renders_with_reload_and_save(web: Any) -> None:
    runtime, ui, client = web
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'data-coming="' not in page.text, path
    for path in PAGES[:3] + PAGES[4:]:
        html = client.get(path).text
        assert 'id="save"' in html and f'id="reload" href="{path}"' in html, path
    client.get("/lang/de")
    assert "Speichern" in client.get("/settings/network").text
    assert "Lokale Whitelist" in client.get("/whitelists").text


def test_roles(web: Any, tmp_path: Path) -> None:
    runtime, ui, client = web
    ui.auth.users.create("op", ui.auth.hasher.hash("operator password"), "operator")
    ui.auth.users.create("inst", ui.auth.hasher.hash("installer password"), "installer")
    client.cookies.clear()
    assert login(client, "op", "operator password").status_code == 303
    for path in PAGES:
        expected = 200 if path == "/whitelists" else 403
        assert client.get(path).status_code == expected, path
    r = client.post(
        "/settings/backend", data={"csrf_token": csrf_of(client), "csms_url": "ws://x/ocpp"}
    )
    assert r.status_code == 403 and runtime.state.get("backend", "csms_url") is None
    assert client.get("/whitelists/export.csv").status_code == 200
    client.cookies.clear()
    assert login(client, "inst", "installer password").status_code == 303
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    # CSRF: a change without the token is refused.
    r = client.post("/settings/network", data={"eth_mode": "dhcp"})
    assert r.status_code == 403


# ---------------------------------------------------------------------------- backend


def test_backend_validation_next_to_field(web: Any) -> None:
    runtime, ui, client = web
    r = Form(client, "/settings/backend").submit(
        csms_url="http://csms.example/ocpp", identity="bad id!", authorization_key="x"
    )
    assert r.status_code == 400
    assert "ws:// or wss://" in field_error(r.text, "csms_url")
    assert field_error(r.text, "identity")
    assert "16 to 40" in field_error(r.text, "authorization_key")
    assert runtime.state.get("backend", "csms_url") is None
    assert runtime.ocpp is None


def test_backend_save_starts_the_client_and_audits(web: Any) -> None:
    runtime, ui, client = web
    r = Form(client, "/settings/backend").submit(
        csms_url="ws://127.0.0.1:9/ocpp",
        identity_template="CP_{serial}",
        chargePointSerialNumber="SN42",
        iccid="8945020184545567238",
        security_profile="1",
        authorization_key="0123456789abcdef0123",
    )
    assert r.status_code == 200, r.text
    assert 'id="saved"' in r.text and 'id="restart-needed"' not in r.text
    assert runtime.state.get("backend", "csms_url") == "ws://127.0.0.1:9/ocpp"
    assert runtime.identity == "CP_SN42" and runtime.state.get("backend", "identity") == "CP_SN42"
    assert runtime.ocpp is not None  # the client exists (it runs once the server runs)
    assert runtime.ocpp.settings.endpoint == "ws://127.0.0.1:9/ocpp/CP_SN42"
    assert runtime.ocpp.settings.boot_fields["chargePointSerialNumber"] == "SN42"
    assert runtime.ocpp.settings.boot_fields["iccid"] == "8945020184545567238"
    assert runtime.config.get("AuthorizationKey") == "0123456789abcdef0123"
    assert runtime.config.get("SecurityProfile") == "1"
    assert runtime.station.settings.backend_configured
    assert runtime.state.get("boot", "chargePointSerialNumber") == "SN42"
    targets = {e.target: e for e in audit(ui, "settings.backend")}
    assert targets["csms_url"].new_value == "ws://127.0.0.1:9/ocpp"
    assert targets["AuthorizationKey"].new_value == "********"
    assert "0123456789abcdef0123" not in r.text
    # Security profile may only go up: Rejected next to the field.
    r = Form(client, "/settings/backend", r.text).submit(security_profile="0")
    assert r.status_code == 400 and "only be raised" in field_error(r.text, "security_profile")


def test_backend_url_change_reconnects_a_running_client(tmp_path: Path) -> None:
    runtime, ui, client = make_admin_web(tmp_path)
    runtime.state.set("backend", "csms_url", "ws://127.0.0.1:9/a")
    assert runtime.apply_backend() is True
    first = runtime.ocpp
    assert first is not None
    first.registration = "Accepted"
    form = Form(client, "/settings/backend")
    assert form.submit(csms_url="wss://127.0.0.1:9/b").status_code == 200
    assert runtime.ocpp is first  # the same client, pointed elsewhere
    assert first.settings.url == "wss://127.0.0.1:9/b" and first.registration is None
    # Removing the backend from a running client needs a restart (marked).
    r = form.submit(csms_url="")
    assert r.status_code == 200 and 'id="restart-needed"' in r.text


# --------------------------------------------------------------------------- OCPP keys


def test_ocpp_keys_typed_editors_and_change_semantics(web: Any) -> None:
    runtime, ui, client = web
    html = client.get("/settings/ocpp-keys").text
    assert "Local authorization list" in html and "Smart charging" in html
    assert 'type="checkbox" id="f-AllowOfflineTxForUnknownId"' in html
    assert re.search(r'type="number" id="f-HeartbeatInterval"[^>]*min="\d+"', html)
    assert 'data-readonly="NumberOfConnectors">2<' in html  # read-only shown read-only
    assert 'type="password" id="f-AuthorizationKey" name="AuthorizationKey" value=""' in html
    form = Form(client, "/settings/ocpp-keys", html)
    r = form.submit(HeartbeatInterval="abc", MeterValueSampleInterval="47")
    assert r.status_code == 400
    assert field_error(r.text, "HeartbeatInterval").startswith("Rejected")
    assert runtime.config.get("MeterValueSampleInterval") != "47"  # nothing applied
    r = form.submit(HeartbeatInterval="120", AllowOfflineTxForUnknownId="true")
    assert r.status_code == 200, r.text
    assert runtime.config.get("HeartbeatInterval") == "120"
    assert runtime.config.get_bool("AllowOfflineTxForUnknownId")
    assert 'data-status-for="HeartbeatInterval">Accepted<' in r.text
    entry = {e.target: e for e in audit(ui, "settings.ocpp_key")}["HeartbeatInterval"]
    assert entry.new_value == "120"
    # A key that needs a reboot is marked and the restart offered.
    reboot = [k for k in runtime.config.registry.values() if k.reboot_required and not k.readonly]
    if reboot:
        assert "⟳" in html


# ----------------------------------------------------------------------- authorization


def test_authorization_page_applies_live(web: Any) -> None:
    runtime, ui, client = web
    form = Form(client, "/settings/authorization")
    r = form.submit(FreeChargingIdTag="")
    assert r.status_code == 400 and field_error(r.text, "FreeChargingIdTag")
    r = form.submit(
        FreeChargingIdTag="Kiosk1", mode="rfid", tag_case="upper", AllowOfflineTxForUnknownId="true"
    )
    assert r.status_code == 200
    assert runtime.config.get("FreeChargingIdTag") == "Kiosk1"
    assert runtime.station.settings.auth_mode.value == "rfid"
    assert runtime.station.settings.tag_case == "upper"
    assert runtime.state.get("authorization", "tag_case") == "upper"
    targets = {e.target for e in audit(ui, "settings.authorization")}
    assert {"FreeChargingIdTag", "mode", "tag_case", "AllowOfflineTxForUnknownId"} <= targets


def test_tag_case_normalises_the_reader(web: Any) -> None:
    assert normalize_tag("0a0E9b83", "upper") == "0A0E9B83"
    assert normalize_tag("0A0E9B83", "lower") == "0a0e9b83"
    assert normalize_tag("0a0e9b83", "upper_reversed") == "839B0E0A"
    assert normalize_tag("0A0E9B83", "lower_reversed") == "839b0e0a"
    assert normalize_tag("abc", "upper_reversed") == "ABC"  # not whole bytes: case only
    assert normalize_tag("AbC", "as_read") == "AbC"
    runtime, ui, client = web
    runtime.apply_station_settings(tag_case="upper_reversed")
    runtime.whitelist.upsert(WhitelistEntry("839B0E0A"))
    runtime.apply_station_settings(auth_mode=AuthMode.RFID)
    decision = runtime.station.present_token("0a0e9b83", 1)
    assert decision is not None and decision.verdict.value == "accept"


# ------------------------------------------------------------------------- whitelists


def upload(client: TestClient, data: str, mode: str, name: str = "cards.csv") -> Any:
    return client.post(
        "/whitelists/import",
        data={"csrf_token": csrf_of(client), "mode": mode},
        files={"file": (name, data.encode(), "text/csv")},
    )


GOOD = (
    "UID,GID,Expiry,Authorization\naec78085,,,accepted\n4b13b318,G1,2030-01-01T12:00:00,blocked\n"
)


def test_csv_parse_and_export_round_trip() -> None:
    parsed = parse_csv(GOOD + "04A2B3C4_2,,,accepted\n", max_connector=2)
    assert not parsed.problems and parsed.lines == 4
    assert [e.uid for e in parsed.entries] == ["aec78085", "4b13b318", "04A2B3C4"]
    assert parsed.entries[1].authorization == "Blocked" and parsed.entries[1].gid == "G1"
    assert parsed.entries[1].expiry == "2030-01-01T12:00:00Z"
    assert parsed.entries[2].connector_id == 2
    text = export_csv(parsed.entries)
    assert text.splitlines()[0] == ",".join(HEADER)
    assert "4b13b318,G1,2030-01-01T12:00:00,blocked" in text
    assert "04A2B3C4_2,,,accepted" in text
    again = parse_csv(text, max_connector=2)
    assert again.entries == parsed.entries
    bad = parse_csv(
        "UID,GID,Expiry,Authorization\nok1,,,accepted\nzz z,,,accepted\n"
        "ok2,,2030-13-01T00:00:00,accepted\nok3,,,maybe\nok1,,,blocked\n"
        "x_5,,,accepted\nonly,two\n",
        max_connector=2,
    )
    assert [p.line for p in bad.problems] == [3, 4, 5, 6, 7, 8]
    assert "Expiry" in bad.problems[1].reason and "repeats line 2" in bad.problems[3].reason
    assert parse_csv("uid;gid\n", 2).problems[0].line == 1


def test_import_with_a_bad_line_changes_nothing(web: Any) -> None:
    runtime, ui, client = web
    runtime.whitelist.upsert(WhitelistEntry("KEEP0001"))
    r = upload(client, GOOD + "not a uid!,,,accepted\n", "replace")
    assert r.status_code == 400
    assert 'data-line="4"' in r.text and "Line 4" in r.text
    assert [e.uid for e in runtime.whitelist.all()] == ["KEEP0001"]
    assert not audit(ui, "whitelist.import_replace")


def test_import_update_and_replace(web: Any) -> None:
    runtime, ui, client = web
    runtime.whitelist.upsert(WhitelistEntry("KEEP0001"))
    r = upload(client, GOOD, "update")
    assert r.status_code == 200 and "Imported 2 cards" in r.text
    assert {e.uid for e in runtime.whitelist.all()} == {"KEEP0001", "aec78085", "4b13b318"}
    r = upload(client, "UID,GID,Expiry,Authorization\nnew00001,,,accepted\n", "replace")
    assert r.status_code == 200
    assert [e.uid for e in runtime.whitelist.all()] == ["new00001"]
    assert audit(ui, "whitelist.import_update") and audit(ui, "whitelist.import_replace")
    exported = client.get("/whitelists/export.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text == "UID,GID,Expiry,Authorization\nnew00001,,,accepted\n"


def test_import_limit_1000(web: Any) -> None:
    runtime, ui, client = web
    rows = "".join(f"{n:08x},,,accepted\n" for n in range(1001))
    r = upload(client, "UID,GID,Expiry,Authorization\n" + rows, "replace")
    assert r.status_code == 400 and "at most 1000" in r.text and len(runtime.whitelist) == 0
    rows = "".join(f"{n:08x},,,accepted\n" for n in range(1000))
    assert upload(client, "UID,GID,Expiry,Authorization\n" + rows, "replace").status_code == 200
    assert len(runtime.whitelist) == 1000
    r = upload(client, "UID,GID,Expiry,Authorization\nextra001,,,accepted\n", "update")
    assert r.status_code == 400 and "1001" in r.text and len(runtime.whitelist) == 1000


def test_whitelist_editor_paging_and_states(web: Any) -> None:
    runtime, ui, client = web
    runtime.whitelist.update_many(WhitelistEntry(f"CARD{n:04d}") for n in range(25))
    page = client.get("/whitelists").text
    assert page.count("<tr data-uid=") == 10 and "Page 1 of 3" in page
    assert client.get("/whitelists?page=3").text.count("<tr data-uid=") == 5
    r = post(client, "/whitelists", {"action": "add", "uid": "bad uid", "expiry": "soon"})
    assert r.status_code == 400 and field_error(r.text, "uid") and field_error(r.text, "expiry")
    r = post(
        client,
        "/whitelists",
        {
            "action": "add",
            "uid": "04A2B3C4",
            "gid": "G",
            "expiry": "2031-02-03T04:05:06",
            "connector_id": "2",
            "authorization": "Accepted",
        },
    )
    assert r.status_code == 200
    entry = runtime.whitelist.get("04a2b3c4")
    assert entry is not None and entry.connector_id == 2 and entry.expiry == "2031-02-03T04:05:06Z"
    r = post(
        client, "/whitelists", {"action": "add", "uid": "0000AAAA", "expiry": "2031-02-03T04:05"}
    )
    assert (
        r.status_code == 200 and runtime.whitelist.get("0000AAAA").expiry == "2031-02-03T04:05:00Z"
    )
    for action, check in (
        ("block", lambda e: e.authorization == "Blocked"),
        ("accept", lambda e: e.authorization == "Accepted"),
        ("delete", lambda e: e.deleted),
        ("restore", lambda e: not e.deleted),
    ):
        r = post(client, "/whitelists", {"action": action, "uid": "04A2B3C4"})
        assert r.status_code == 303, action
        current = runtime.whitelist.get("04A2B3C4", include_deleted=True)
        assert current is not None and check(current), action
        assert audit(ui, f"whitelist.{action}"), action
    assert 'data-deleted="1"' not in client.get("/whitelists").text
    runtime.auth_cache.put("CACHED01", "Accepted", None, None)
    assert "CACHED01" in client.get("/whitelists").text
    r = post(client, "/whitelists", {"action": "clear_cache"})
    assert r.status_code == 200 and runtime.auth_cache.all() == []
    assert audit(ui, "whitelist.clear_cache")


# ------------------------------------------------------------------------ installation


def test_installation_validation_and_save(web: Any) -> None:
    runtime, ui, client = web
    form = Form(client, "/settings/installation")
    r = form.submit(installation_limit_a="20", operator_limit_a="25", c1_installation="40")
    assert r.status_code == 400
    assert "installation limit" in field_error(r.text, "operator_limit_a")
    assert "hardware" in field_error(r.text, "c1_installation")
    assert runtime.station.settings.installation_limit_a is None
    r = form.submit(operator_limit_a="16", c1_installation="", grid_l1="40", grid_l2="40")
    assert r.status_code == 400 and field_error(r.text, "grid_l3")
    r = form.submit(grid_l3="40", c2_operator="10", c2_installation="20", c2_rotation="STR")
    assert r.status_code == 200, r.text
    assert 'id="restart-needed"' in r.text  # the site part applies after a restart
    assert runtime.station.settings.installation_limit_a == 20  # live
    assert runtime.station.settings.operator_limit_a == 16
    runtime.step()
    assert runtime.station.connectors[1].limit.current_a == 16
    assert {"operator_limit_a", "grid_l1", "c2_rotation"} <= {
        e.target for e in audit(ui, "settings.installation")
    }
    # What the next start makes of it.
    file = apply_stored_overrides(StationFile(), runtime.state)
    assert file.site is not None and file.site.grid_limit_a == (40, 40, 40)
    c2 = next(c for c in file.site.connectors if c.id == 2)
    assert (c2.rotation, c2.operator_limit_a, c2.installation_limit_a) == ("STR", 10, 20)


# ----------------------------------------------------------------------- network, time


def test_network_validation_and_platform(web: Any) -> None:
    runtime, ui, client = web
    form = Form(client, "/settings/network")
    r = form.submit(
        eth_mode="static",
        ipv4_address="192.168.1.300",
        ipv4_gateway="10.0.0.1",
        ipv6_mode="static",
        ipv6_address="192.168.1.5",
        dns_primary="dns",
        sim_pin="12a",
        uplink="mobile",
    )
    assert r.status_code == 400
    assert "valid IP" in field_error(r.text, "ipv4_address")
    assert "IP version" in field_error(r.text, "ipv6_address")
    assert field_error(r.text, "dns_primary") and field_error(r.text, "sim_pin")
    assert "APN" in field_error(r.text, "apn")
    r = form.submit(ipv4_address="192.168.1.50", ipv4_gateway="192.168.2.1")
    assert "not in the address" in field_error(r.text, "ipv4_gateway")
    r = form.submit(
        ipv4_gateway="192.168.1.1",
        ipv6_address="2001:db8::50",
        dns_primary="1.1.1.1",
        sim_pin="1234",
        apn="iot.example",
        apn_password="secret!",
    )
    assert r.status_code == 200, r.text
    assert runtime.state.get("network", "settings")["ipv4_address"] == "192.168.1.50"
    kind, applied = runtime.platform.applied[-1]
    assert kind == "network" and applied["sim_pin"] == "********"
    pins = [e for e in audit(ui, "settings.network") if e.target == "sim_pin"]
    assert pins and pins[0].new_value == "********"
    assert "1234" not in r.text and "secret!" not in r.text
    # An empty secret field keeps the stored one.
    r = post(client, "/settings/network", form_values(r.text))
    assert runtime.state.get("network", "settings")["sim_pin"] == "1234"


def test_time_page(web: Any) -> None:
    runtime, ui, client = web
    form = Form(client, "/settings/time")
    r = form.submit(timezone="Mars/Olympus", source="ntp", ntp_server="")
    assert r.status_code == 400
    assert field_error(r.text, "timezone") and field_error(r.text, "ntp_server")
    r = form.submit(
        timezone="Europe/Berlin",
        ntp_server="ptbtime1.ptb.de",
        set_clock="1",
        browser_epoch_ms="1767225600000",
    )
    assert r.status_code == 200
    assert runtime.state.get("time", "settings")["timezone"] == "Europe/Berlin"
    assert ("clock", {"epoch_s": 1767225600.0}) in runtime.platform.applied
    assert {"timezone", "clock"} <= {e.target for e in audit(ui, "settings.time")}
