"""The web page "Load management between stations" (/dlm): off, master, slave, clear table."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from chargebox.app import RunOptions, Runtime
from chargebox.energy.dlm.master import DlmMaster
from chargebox.energy.dlm.slave import DlmSlave
from chargebox.energy.model import PhaseCurrents
from chargebox.settings import DlmSection
from chargebox.web.api import create_app
from chargebox.web.dlm_page import dlm_view
from chargebox.web.ui import PAGES, WebUI, install_ui
from tests.csms import free_port, free_port_ranges
from tests.test_dlm import slave_toml
from tests.webutil import login, session_csrf, setup_admin

PASSWORD = "another good password"


def dlm_web(tmp_path: Path, extra: str = "") -> tuple[Runtime, WebUI, TestClient, str]:
    """A station (its DLM from `extra`) with a logged-in admin; no server, no DLM task."""
    config = tmp_path / "station.toml"
    config.write_text(
        "[hardware]\nconnectors = 2\n[hardware.sim_car]\nresponse_delay_s = 0\n" + extra
    )
    runtime = Runtime(RunOptions(config=config, data_dir=tmp_path / "data"))
    runtime.station.boot()
    app = create_app(runtime)
    ui = install_ui(app, runtime)
    client = TestClient(app, follow_redirects=False)
    assert ui.auth.setup_token is not None
    setup_admin(client, ui.auth.setup_token)
    return runtime, ui, client, session_csrf(client.get("/").text)


def master_toml(ports: list[int], limit: float = 16.0) -> str:
    slaves = ", ".join(f'{{host = "127.0.0.1", port = {p}, connectors = 2}}' for p in ports)
    return f"""
[dlm]
role = "master"
network_id = 7
group_limit_a = {limit}
timeout_s = 10
disconnected_limit_a = 6
slaves = [{slaves}]
"""


def slave_file(port: int) -> str:
    return slave_toml(port, poll_s=0.5, disconnected_limit_a=8, master_host="")


def user_client(admin: TestClient, csrf: str, name: str, role: str) -> tuple[TestClient, str]:
    r = admin.post(
        "/users",
        data={"csrf_token": csrf, "username": name, "role": role, "password": PASSWORD,
              "confirm": PASSWORD},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    client = TestClient(admin.app, follow_redirects=False)
    assert login(client, name, PASSWORD).status_code == 303
    return client, session_csrf(client.get("/").text)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def master_with_slaves(runtime: Runtime) -> tuple[DlmMaster, str, str]:
    """Slave 0 online and charging, slave 1 gone; the known table has both plus an old one."""
    master = runtime.dlm
    assert isinstance(master, DlmMaster)
    online, gone = master.links
    online.online, online.network_id, online.last_seen = True, 7, time.monotonic()
    c1 = online.connectors[1]
    c1.cp_state, c1.currents_a, c1.setpoint = 3, PhaseCurrents(9.8, 9.9, 10.0), 10.0
    online.last_alloc = {1: 10.5, 2: 0.0}
    gone.online, gone.network_id, gone.error = False, 7, "no connection"
    gone.last_seen = time.monotonic() - 60  # longer than timeout_s: gone
    gone.last_alloc = {1: 8.0}
    stamp = 1_700_000_000  # 2023-11-14 22:13:20 UTC
    master.known = {
        online.key: {"host": "127.0.0.1", "port": online.port, "network_id": 7,
                     "connectors": 2, "last_seen": round(time.time())},
        gone.key: {"host": "127.0.0.1", "port": gone.port, "network_id": 7,
                   "connectors": 2, "last_seen": stamp},
        "10.0.0.9:502": {"host": "10.0.0.9", "port": 502, "network_id": 7,
                         "connectors": 1, "last_seen": stamp},
    }  # fmt: skip
    master.cycles, master.last_cycle_s = 42, 0.0123
    master.budget_a = PhaseCurrents(16.0, 16.0, 16.0)
    master.allocated_a = PhaseCurrents(10.5, 10.5, 10.5)
    master.reserved_a = PhaseCurrents(6.0, 6.0, 6.0)
    return master, online.key, gone.key


# ----------------------------------------------------------------------------------- off


def test_page_is_in_the_navigation_and_explains_off(tmp_path: Path) -> None:
    runtime, ui, client, _ = dlm_web(tmp_path)
    assert runtime.dlm is None
    page = next(p for p in PAGES if p.path == "/dlm")
    assert page.ready and page.role == "installer" and page.label == "nav.dlm"
    r = client.get("/dlm")
    assert r.status_code == 200
    assert 'id="dlm-off"' in r.text and "data-coming" not in r.text
    assert 'href="/dlm"' in r.text  # in the navigation
    assert "Load management between stations is off" in r.text
    assert "[dlm]" in r.text and "station.toml" in r.text
    assert "hx-get" not in r.text.split("<main>")[1]  # nothing to refresh
    client.get("/lang/de")
    r = client.get("/dlm")
    assert "Lastmanagement zwischen Stationen ist an dieser Station aus" in r.text
    assert "[dlm]" in r.text
    # Nothing to clear without a master.
    csrf = session_csrf(r.text)
    r = client.post("/dlm/clear", data={"csrf_token": csrf})
    assert r.status_code == 400 and 'id="error"' in r.text


# -------------------------------------------------------------------------------- master


def test_master_page_shows_currents_slaves_known_table_and_warning(tmp_path: Path) -> None:
    p1, p2 = free_port_ranges(2, 2)
    runtime, ui, client, _ = dlm_web(tmp_path, master_toml([p1, p2]))
    master, online, gone = master_with_slaves(runtime)
    r = client.get("/dlm")
    assert r.status_code == 200
    html = r.text
    # The live part refreshes itself every 2 s from a fragment.
    assert 'hx-get="/dlm/live"' in html and 'hx-trigger="every 2s"' in html
    assert 'data-v="role">Master (this station' in html
    assert 'data-v="network_id">7<' in html and 'data-v="cycles">42<' in html
    assert 'data-v="cycle_ms">12 ms<' in html
    phases = html.split('id="dlm-phases"')[1].split("</table>")[0]
    assert re.search(r'data-row="group_limit_a">.*?<td>16\.0</td><td>16\.0</td><td>16\.0</td>',
                     phases)  # fmt: skip
    assert re.search(r'data-row="reserved_a">.*?<td>6\.0</td>', phases)
    assert re.search(r'data-row="allocated_a">.*?<td>10\.5</td>', phases)
    # 2 slaves x 2 connectors x 6 A = 24 A > 16 A: the warning box, prominent and translated.
    assert '<div class="alert" id="dlm-warnings" role="alert">' in html
    warnings = html.split('id="dlm-warnings"')[1].split("</div>")[0]
    assert "add up to 24 A, more than the group&#39;s limit of 16 A" in warnings
    # The live slaves table.
    slaves = html.split('id="dlm-slaves"')[1].split("</table>")[0]
    first = slaves.split(f'data-slave="{online}"')[1].split("</tbody>")[0]
    assert 'data-state="online"' in slaves.split(f'data-slave="{online}"')[1][:30]
    assert "C: car charging" in first and "9.8 / 9.9 / 10.0" in first
    assert "<td>10.0</td><td>10.5</td>" in first  # setpoint, allocation
    second = slaves.split(f'data-slave="{gone}"')[1].split("</tbody>")[0]
    assert 'data-state="gone"' in slaves.split(f'data-slave="{gone}"')[1][:30]
    assert ">gone<" in second and "no connection" in second
    # The persistent table: every known slave, last seen in the station's zone (UTC here).
    known = html.split('id="dlm-known"')[1].split("</table>")[0]
    assert known.count("data-known=") == 3
    assert "2023-11-14 22:13:20" in known and "Last seen (UTC)" in known
    assert f'data-known="{online}" data-online="1"' in known
    # The button, its confirmation, and what it means.
    assert 'id="clear-table"' in html and "hx-confirm=" in html
    assert 'action="/dlm/clear"' in html and 'name="csrf_token"' in html
    assert "last allocation reserved" in html and "until the table is cleared" in html
    # The fragment is the live part alone.
    live = client.get("/dlm/live")
    assert live.status_code == 200 and "<html" not in live.text
    assert 'id="dlm-slaves"' in live.text and 'id="dlm-warnings"' in live.text
    # German.
    client.get("/lang/de")
    de = client.get("/dlm").text
    assert "ergeben zusammen 24 A, mehr als die Grenze der Gruppe von 16 A" in de
    assert "Bekannte Slaves" in de and ">verloren<" in de and "Tabelle leeren" in de


def test_master_page_with_a_real_cycle_against_closed_ports(tmp_path: Path) -> None:
    runtime, ui, client, _ = dlm_web(tmp_path, master_toml([free_port()], limit=63))
    master = runtime.dlm
    assert isinstance(master, DlmMaster)

    async def one_cycle() -> None:
        await master.cycle()
        await master.close()

    asyncio.run(one_cycle())
    html = client.get("/dlm").text
    assert 'id="dlm-warnings"' not in html  # 2 x 6 A <= 63 A
    slaves = html.split('id="dlm-slaves"')[1].split("</table>")[0]
    assert 'data-state="missing"' in slaves and ">missing<" in slaves
    assert 'data-v="error"></td>' not in slaves  # the connection error is shown
    assert 'data-v="cycles">1<' in html
    assert 'id="dlm-known-empty"' in html


def test_clear_table_needs_csrf_and_installer_and_reports_the_count(tmp_path: Path) -> None:
    runtime, ui, admin, csrf = dlm_web(tmp_path, master_toml(free_port_ranges(2, 2)))
    master, online, gone = master_with_slaves(runtime)
    operator, ocsrf = user_client(admin, csrf, "olga", "operator")
    installer, icsrf = user_client(admin, csrf, "ingo", "installer")
    # The operator neither sees the page nor clears the table (and has no menu entry).
    assert operator.get("/dlm").status_code == 403
    assert operator.get("/dlm/live").status_code == 403
    assert operator.post("/dlm/clear", data={"csrf_token": ocsrf}).status_code == 403
    assert 'href="/dlm"' not in operator.get("/").text
    # Without the CSRF token, or with a wrong one: refused.
    assert installer.post("/dlm/clear").status_code == 403
    assert installer.post("/dlm/clear", data={"csrf_token": csrf}).status_code == 403
    assert TestClient(admin.app, follow_redirects=False).post("/dlm/clear").status_code == 303
    assert len(master.known) == 3
    # The installer clears: the two that are not online go, the online one stays.
    assert installer.get("/dlm").status_code == 200
    r = installer.post("/dlm/clear", data={"csrf_token": icsrf})
    assert r.status_code == 200, r.text
    assert 'id="message"' in r.text and "2 slaves removed from the table." in r.text
    assert list(master.known) == [online]
    assert list(runtime.state.get("dlm", "slaves")) == [online]
    known = r.text.split('id="dlm-known"')[1].split("</table>")[0]
    assert known.count("data-known=") == 1
    entry = next(e for e in ui.auth.audit.recent(20) if e.action == "dlm.clear_table")
    assert entry.actor == "ingo" and gone in (entry.old_value or "")
    # Once more: nothing left to remove; the CSRF header works as well as the field.
    r = installer.post("/dlm/clear", headers={"X-CSRF-Token": icsrf})
    assert r.status_code == 200 and "No slave removed" in r.text
    installer.get("/lang/de")
    r = installer.post("/dlm/clear", data={"csrf_token": icsrf})
    assert "Kein Slave entfernt" in r.text


def test_clear_calls_clear_table_with_one_removed(tmp_path: Path) -> None:
    runtime, ui, client, csrf = dlm_web(tmp_path, master_toml([free_port()], limit=63))
    calls: list[int] = []
    master = runtime.dlm
    assert isinstance(master, DlmMaster)
    master.known = {"10.0.0.9:502": {"connectors": 2, "network_id": 7, "last_seen": 0}}
    original = master.clear_table

    def counting() -> int:
        calls.append(1)
        return original()

    master.clear_table = counting  # type: ignore[method-assign]
    r = client.post("/dlm/clear", data={"csrf_token": csrf})
    assert r.status_code == 200 and calls == [1]
    assert "1 slave removed from the table." in r.text
    assert 'id="dlm-known-empty"' in r.text


# --------------------------------------------------------------------------------- slave


def test_slave_page_shows_disconnected_then_connected(tmp_path: Path) -> None:
    runtime, ui, client, _ = dlm_web(tmp_path, slave_file(free_port()))
    slave = runtime.dlm
    assert isinstance(slave, DlmSlave)
    html = client.get("/dlm").text
    assert 'hx-get="/dlm/live"' in html
    assert 'id="dlm-disconnected"' in html
    assert "limited to the disconnected limit of 8.0 A" in html
    assert 'data-connected="0"' in html and 'data-v="role">Slave<' in html
    assert 'data-v="master">unknown' in html and 'data-v="age">never<' in html
    assert 'data-v="disconnected_limit">8.0 A<' in html
    setpoints = html.split('id="dlm-setpoints"')[1].split("</table>")[0]
    assert setpoints.count("data-connector=") == 2
    assert "8.0 A (disconnected limit)" in setpoints
    assert 'id="clear-table"' not in html
    # The master writes: connected, the setpoints apply.
    slave.write_setpoint(1, 10)
    slave.write_setpoint(2, 65535)
    html = client.get("/dlm/live").text
    assert 'id="dlm-disconnected"' not in html and 'data-connected="1"' in html
    assert 'data-v="master">found by discovery' in html
    assert re.search(r'data-v="age">[0-9.]+ s ago<', html)
    setpoints = html.split('id="dlm-setpoints"')[1].split("</table>")[0]
    assert '<tr data-connector="1"><td>1</td><td>10.0 A</td><td>10.0 A</td>' in setpoints
    assert '<tr data-connector="2"><td>2</td><td>no limit</td><td>no limit</td>' in setpoints
    # No write for longer than timeout_s: back to the disconnected limit.
    slave.check(runtime.station.clock.time() + 60)
    html = client.get("/dlm").text
    assert 'id="dlm-disconnected"' in html and 'data-connected="0"' in html
    assert "<td>10.0 A</td><td>8.0 A (disconnected limit)</td>" in html
    assert 'data-v="master">found by discovery' in html  # a master did write
    client.get("/lang/de")
    de = client.get("/dlm").text
    assert "Verbindungsabbruch-Grenze von 8.0 A" in de and "getrennt" in de


def test_slave_with_a_configured_master_address(tmp_path: Path) -> None:
    runtime, ui, client, _ = dlm_web(tmp_path, slave_file(free_port()))
    cfg = DlmSection(role="slave", network_id=3, master_host="192.168.1.20", master_port=502)
    runtime.dlm = DlmSlave(runtime.station, cfg)
    html = client.get("/dlm").text
    assert 'data-v="master">192.168.1.20:502<' in html
    assert 'data-v="network_id">3<' in html


# ----------------------------------------------------------------------------- the view


def test_view_tolerates_missing_and_extra_keys() -> None:
    class Fake:
        def __init__(self, snapshot: dict[str, Any]) -> None:
            self.snapshot = snapshot

        def clear_table(self) -> int:
            return 0

    class FakeRuntime:
        state = None

    def t(key: str, **values: Any) -> str:
        return key

    rt = FakeRuntime()
    rt.dlm = Fake({"role": "master", "meter": {"ok": True}, "limits": [1, 2]})  # type: ignore[attr-defined]
    view = dlm_view(rt, t)
    assert view["kind"] == "master" and view["slaves"] == [] and view["known"] == []
    assert view["phases"][0] == ("group_limit_a", ["–", "–", "–"])
    rt.dlm = Fake(  # type: ignore[attr-defined]
        {
            "role": "master",
            "warnings": ["something new", {"code": "x", "text": "structured"}],
            "slaves": [{"address": "h:1", "discovered": True, "connectors": [{"id": 1}]}],
            "known_slaves": {"h:1": {"last_seen": None, "discovered": True}},
        }
    )
    view = dlm_view(rt, t)
    assert view["warnings"] == ["something new", "structured"]
    assert view["slaves"][0]["state"] == "missing" and view["slaves"][0]["discovered"]
    assert view["known"][0]["last_seen"] == "–" and view["known"][0]["discovered"]
    rt.dlm = Fake({"role": "slave"})  # type: ignore[attr-defined]
    view = dlm_view(rt, t)
    assert view["kind"] == "slave" and view["master"] == "dlm_page.master_unknown"
    assert view["setpoints"] == [] and view["age"] == "–"


def test_optional_master_keys_are_shown_when_present(tmp_path: Path) -> None:
    runtime, ui, client, _ = dlm_web(tmp_path)

    class Fake:
        snapshot = {
            "role": "master_standalone",
            "network_id": 5,
            "group_limit_a": [32, 32, 32],
            "operator_limit_a": [20, 20, 25],
            "external_load_a": [4, 5, 6],
            "budget_a": [16, 15, 19],
            "binding": ["operator_L1", "", "grid_L3"],
            "meter": {"state": "silent", "fallback": True, "age_s": 12.34},
            "limits": ["load_shedding", "pv"],
        }

        def clear_table(self) -> int:
            return 0

    runtime.dlm = Fake()
    html = client.get("/dlm").text
    assert 'data-v="role">Standalone master' in html
    phases = html.split('id="dlm-phases"')[1].split("</table>")[0]
    assert re.search(r'data-row="operator_limit_a">.*?<td>20\.0</td><td>20\.0</td><td>25\.0</td>',
                     phases)  # fmt: skip
    assert re.search(r'data-row="external_load_a">.*?<td>4\.0</td>', phases)
    assert re.search(r'data-row="binding">.*?<td>operator_L1</td><td>–</td><td>grid_L3</td>',
                     phases)  # fmt: skip
    assert 'data-v="meter">silent (fallback), 12.3 s ago<' in html
    assert 'data-v="limits">load_shedding, pv<' in html
    # Without them: no such rows.
    Fake.snapshot = {"role": "master", "operator_limit_a": None, "limits": []}
    html = client.get("/dlm/live").text
    assert 'data-row="operator_limit_a"' not in html and 'data-row="external_load_a"' not in html
    assert 'data-row="binding"' not in html and 'data-v="meter"' not in html
    assert 'data-v="limits">none<' in html
