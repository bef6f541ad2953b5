"""Helpers for the web-interface tests: an in-process app, forms, the setup link."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from chargebox.app import RunOptions, Runtime
from chargebox.web.api import create_app
from chargebox.web.ui import WebUI, install_ui

ADMIN_PASSWORD = "correct horse battery"
SETUP_LINE = re.compile(r"set the admin password at (\S+/setup\?token=\S+)")


def make_web(tmp_path: Path, http: str = "") -> tuple[Runtime, WebUI, TestClient]:
    """A station runtime and its web app, without a server (FastAPI's TestClient)."""
    config = tmp_path / "station.toml"
    config.write_text("[hardware]\nconnectors = 2\n[hardware.sim_car]\nresponse_delay_s = 0\n"
                      f"[http]\n{http}\n")  # fmt: skip
    runtime = Runtime(RunOptions(config=config, data_dir=tmp_path / "data"))
    runtime.station.boot()
    app = create_app(runtime)
    ui = install_ui(app, runtime)
    return runtime, ui, TestClient(app, follow_redirects=False)


def make_admin_web(tmp_path: Path, http: str = "") -> tuple[Runtime, WebUI, TestClient]:
    """`make_web`, with the admin account set up and logged in on the client."""
    runtime, ui, client = make_web(tmp_path, http)
    assert ui.auth.setup_token is not None
    setup_admin(client, ui.auth.setup_token)
    return runtime, ui, client


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name} in page"
    return match.group(1)


def session_csrf(html: str) -> str:
    match = re.search(r'hx-headers=\'\{"X-CSRF-Token": "([^"]+)"\}\'', html)
    assert match, "no hx-headers CSRF token on <body>"
    return match.group(1)


def setup_admin(
    client: TestClient, token: str, password: str = ADMIN_PASSWORD, username: str = "admin"
) -> Any:
    page = client.get(f"/setup?token={token}")
    assert page.status_code == 200, page.text
    return client.post(
        "/setup",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "token": token,
            "username": username,
            "password": password,
            "confirm": password,
        },
    )


def login(client: TestClient, username: str, password: str) -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "username": username,
            "password": password,
            "next": "/",
        },
    )


def setup_link(log_path: Path, timeout: float = 10.0) -> str:
    """The one-time setup link a station printed on its console."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        match = SETUP_LINE.search(text)
        if match:
            return match.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no setup link in {log_path}")
