"""Web interface: languages, dashboard, simulator panel, live feed, HTTPS, size budget."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from chargebox.web.i18n import FOLDER, Catalogues, catalogues
from chargebox.web.ui import HTMX, PAGES
from tests.csms import API_TOKEN, StationProcess, free_port
from tests.webutil import make_admin_web, make_web, session_csrf, setup_link

STATIC = Path(__file__).parents[1] / "src" / "chargebox" / "web" / "static"


# ----------------------------------------------------------------------------- languages


def test_catalogues_have_the_same_keys() -> None:
    cats = catalogues()
    assert set(cats.languages) >= {"en", "de"}
    english = set(cats.messages["en"])
    for lang, messages in cats.messages.items():
        assert set(messages) == english, (
            f"{lang}.toml: missing {sorted(english - set(messages))}, "
            f"extra {sorted(set(messages) - english)}"
        )
    # Every navigation label and every page's catalogue key exists.
    for page in PAGES:
        assert page.label in english


def test_catalogue_fallback_and_negotiation(tmp_path: Path) -> None:
    for name in ("en", "de"):
        (tmp_path / f"{name}.toml").write_bytes((FOLDER / f"{name}.toml").read_bytes())
    (tmp_path / "fr.toml").write_text('[meta]\nname = "Français"\n[nav]\nlogout = "Déconnexion"\n')
    cats = Catalogues(tmp_path)
    assert list(cats.languages) == ["en", "de", "fr"]
    assert cats.get("fr", "nav.logout") == "Déconnexion"
    assert cats.get("fr", "nav.dashboard") == "Dashboard"  # missing: English
    assert cats.get("de", "nav.dashboard") == "Übersicht"
    assert cats.get("de", "no.such.key") == "no.such.key"
    assert cats.get("de", "coming.title", page="X") == "X: in Arbeit"
    assert cats.negotiate(None, "de-DE,de;q=0.9,en;q=0.8") == "de"
    assert cats.negotiate(None, "es-ES, fr;q=0.5, de;q=0.7") == "de"
    assert cats.negotiate(None, "ja") == "en"
    assert cats.negotiate(None, None) == "en"
    assert cats.negotiate("fr", "de") == "fr"  # the cookie wins
    assert cats.negotiate("xx", "de") == "de"


def test_language_by_header_and_switch(tmp_path: Path) -> None:
    runtime, ui, client = make_web(tmp_path)
    page = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert '<html lang="de">' in page.text and "Anmelden" in page.text
    r = client.get("/lang/de?next=/login")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "cb_lang=de" in r.headers["set-cookie"]
    assert "Benutzername" in client.get("/login").text
    assert client.get("/lang/en?next=https://evil.example").headers["location"] == "/"
    client.get("/lang/en")
    assert "User name" in client.get("/login").text


# ------------------------------------------------------------------------ dashboard, sim


def test_dashboard_shows_every_connector_and_why(tmp_path: Path) -> None:
    runtime, ui, client = make_admin_web(tmp_path)
    csrf = session_csrf(client.get("/").text)
    r = client.post(
        "/api/v1/sim/connectors/2/plug",
        json={"max_current_a": 10, "soc_percent": 42, "phases": 1},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text
    for _ in range(3):
        runtime.step()
    page = client.get("/").text
    assert 'data-connector="1"' in page and 'data-connector="2"' in page
    card = page.split('data-connector="2"')[1].split("</section>")[0]
    assert "42 %" in card  # state of charge
    assert "32.0 A" in card and "connector rating" in card  # the limit and why
    assert "2.30 kW" in card  # 10 A on one phase
    assert "FreeCharging" in card
    assert "standalone (no backend)" in page
    assert 'id="chart"' in page and 'id="energy"' in page
    assert "Content-Security-Policy" in client.get("/").headers
    # German: the same page, translated.
    client.get("/lang/de")
    assert "Bemessungsstrom des Ladepunkts" in client.get("/").text


def test_simulator_panel_calls_the_control_api(tmp_path: Path) -> None:
    runtime, ui, client = make_admin_web(tmp_path)
    page = client.get("/sim").text
    for path in (
        "/api/v1/sim/connectors/1/plug",
        "/api/v1/sim/connectors/1/unplug",
        "/api/v1/sim/connectors/1/ev-state",
        "/api/v1/sim/connectors/1/faults",
        "/api/v1/sim/connectors/1/faults/{code}",
        "/api/v1/sim/connectors/0/faults",
        "/api/v1/sim/tokens",
    ):
        assert path in page, path
    assert "<option>ground_failure</option>" in page
    assert 'hx-ext="json-api"' in page


def test_placeholder_pages_say_they_are_coming(tmp_path: Path) -> None:
    runtime, ui, client = make_admin_web(tmp_path)
    for page in PAGES:
        r = client.get(page.path)
        assert r.status_code == 200, page.path
        assert ('data-coming="' in r.text) == (not page.ready), page.path


def test_dashboard_budget_under_150_kb() -> None:
    """HTML + CSS + JS of the dashboard (the page itself is measured in the browser test)."""
    size = sum((STATIC / name).stat().st_size for name in (HTMX, "app.js", "app.css"))
    assert size < 120_000, size


# ------------------------------------------------------------------------ live feed (SSE)


async def _events(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Any:
    """Yield (event, data, time) from a server-sent event stream."""
    async with client.stream("GET", url, headers=headers, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = "message"
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                yield event, json.loads(line[6:]), time.monotonic()


async def test_sse_delivers_a_status_change_within_a_second(tmp_path: Path) -> None:
    station = StationProcess(tmp_path, None)
    station.start()
    try:
        await station.wait_ready()
        base = f"http://127.0.0.1:{station.http_port}"
        async with httpx.AsyncClient() as client:
            r = await client.get(base + "/events")
            assert r.status_code in (401, 303)  # neither cookie nor token
            stream = _events(client, base + "/events", station.headers)
            event, data, _ = await anext(stream)
            assert event == "status" and data["connectors"][0]["status"] == "Available"
            plugged_at = time.monotonic()
            await station.plug(1)
            async for _event, data, at in stream:
                if data["connectors"][0]["status"] != "Available":
                    assert at - plugged_at < 1.0, at - plugged_at
                    break
                assert at - plugged_at < 2.0, "no status change pushed"
            # Periodic snapshots keep coming (about one per second).
            stamps = []
            async for _event, data, _at in stream:
                stamps.append(data["at"])
                if len(stamps) == 3:
                    break
            assert stamps[-1] - stamps[0] < 3.0
            await stream.aclose()
    finally:
        station.kill()


async def test_sse_with_a_session_cookie(tmp_path: Path) -> None:
    station = StationProcess(tmp_path, None)
    station.start()
    try:
        await station.wait_ready()
        link = setup_link(tmp_path / "station.log")
        base = f"http://127.0.0.1:{station.http_port}"
        async with httpx.AsyncClient(base_url=base, follow_redirects=False) as client:
            token = link.split("token=")[1]
            page = await client.get(f"/setup?token={token}")
            pre = page.text.split('name="csrf_token" value="')[1].split('"')[0]
            done = await client.post(
                "/setup",
                data={"csrf_token": pre, "token": token, "username": "admin",
                      "password": "x" * 12, "confirm": "x" * 12},
            )  # fmt: skip
            assert done.status_code == 303
            csrf = session_csrf((await client.get("/")).text)
            stream = _events(client, "/events", {})
            event, data, _ = await anext(stream)
            assert event == "status"
            r = await client.post(
                "/api/v1/sim/connectors/2/plug", json={}, headers={"X-CSRF-Token": csrf}
            )
            assert r.status_code == 200
            async for _event, data, _at in stream:
                if data["connectors"][1]["status"] != "Available":
                    break
            await stream.aclose()
    finally:
        station.kill()


# ---------------------------------------------------------------------------------- HTTPS


def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text("[http]\nhttps = true\n")
    port = free_port()
    log = open(tmp_path / "station.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "chargebox", "run", "--config", str(config),
         "--data-dir", str(tmp_path / "data"), "--http-port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={"CHARGEBOX_API_TOKEN": API_TOKEN,
                                                   "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    try:
        link = setup_link(tmp_path / "station.log")
        assert link.startswith(f"https://127.0.0.1:{port}/setup?token=")
        assert "HTTPS certificate SHA-256 fingerprint" in (tmp_path / "station.log").read_text()
        cert = tmp_path / "data" / "tls" / "cert.pem"
        assert cert.exists() and (tmp_path / "data" / "tls" / "key.pem").stat().st_mode & 0o077 == 0
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 10
        while True:
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/login", verify=context, timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert r.status_code == 200
        assert "Secure" in r.headers["set-cookie"]  # cookies only over HTTPS
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        r = httpx.get(f"https://127.0.0.1:{port}/api/v1/status", verify=context, headers=headers)
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
