"""The command line and control API contracts of ARCHITECTURE.md, as other programs use them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.csms import API_TOKEN, free_port


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "chargebox",
        "run",
        "--data-dir",
        str(tmp_path / "data"),
        "--http-port",
        str(port),
        *args,
    ]
    env = {**os.environ, "CHARGEBOX_API_TOKEN": API_TOKEN}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            if r.status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("station did not start")


def test_flags_set_identity_and_connectors(tmp_path: Path) -> None:
    proc, port = _start(tmp_path, "--id", "CP_42", "--connectors", "3")
    try:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        status = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", headers=headers).json()
        assert status["identity"] == "CP_42"
        assert [c["id"] for c in status["connectors"]] == [1, 2, 3]
        assert all(c["status"] == "Available" for c in status["connectors"])
        assert status["ocpp"] == {
            "connected": False,
            "registration": None,
            "csms_url": None,
            "queued_messages": 0,
        }
    finally:
        proc.terminate()
        assert proc.wait(10) == 0  # SIGTERM is a clean shutdown


def test_openapi_describes_the_control_api(tmp_path: Path) -> None:
    proc, port = _start(tmp_path)
    try:
        spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        paths = spec["paths"]
        for path, method in [
            ("/api/v1/status", "get"),
            ("/api/v1/sim/connectors/{cid}/plug", "post"),
            ("/api/v1/sim/connectors/{cid}/unplug", "post"),
            ("/api/v1/sim/connectors/{cid}/ev-state", "post"),
            ("/api/v1/sim/tokens", "post"),
            ("/api/v1/sim/connectors/{cid}/faults", "post"),
            ("/api/v1/sim/connectors/{cid}/faults/{code}", "delete"),
        ]:
            assert method in paths[path], path
        # Every request is authenticated.
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/status")
        assert r.status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_data_survives_in_the_data_dir(tmp_path: Path) -> None:
    """SIGTERM ends a running session with reason Reboot; the next start finds none open."""
    proc, port = _start(tmp_path)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        plugged = httpx.post(base + "/sim/connectors/1/plug", headers=headers).json()
        assert plugged["local_transaction_id"] == 1  # free charging standalone
    finally:
        proc.terminate()
        proc.wait(10)
    with sqlite3.connect(tmp_path / "data" / "chargebox.db") as db:
        reasons = [row[0] for row in db.execute("SELECT stop_reason FROM transactions")]
    assert reasons == ["Reboot"]
    proc, port = _start(tmp_path)
    try:
        status = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", headers=headers).json()
        assert status["connectors"][0]["local_transaction_id"] is None
    finally:
        proc.terminate()
        proc.wait(10)
