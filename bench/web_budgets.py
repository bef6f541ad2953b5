"""The web interface's budgets (issue 4 item 6), measured in Debian's Chromium by Playwright.

Not a test. Run from the repository root with the project's virtualenv:

    /tmp/venv/bin/python bench/web_budgets.py            # table on stdout
    /tmp/venv/bin/python bench/web_budgets.py --json     # JSON on stdout

A default simulated station (`chargebox run`, fresh data dir, no CSMS) is started, the admin
password set through the setup link, and a headless Chromium logged in. Then:

- *bytes*: what the dashboard transfers: the HTML document plus every CSS and JS response
  (body sizes as received, uncompressed: uvicorn does not compress). Target < 150 KB.
- *FCP*: first contentful paint of the dashboard on localhost, from the Paint Timing API
  (`performance.getEntriesByName("first-contentful-paint")`), --runs loads, cache disabled.
  Target < 300 ms.
- *live latency*: an event in the core → visible in the page. A MutationObserver on connector
  1's status badge records `performance.timeOrigin + performance.now()` when it changes; the
  benchmark plugs a car through the control API and takes the wall-clock time just before the
  request. Latency = mutation time − request time (same machine, same clock). --runs trials
  (plug, wait, unplug, wait). Target < 500 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
TOKEN = "bench-web-budgets-token"
PASSWORD = "bench password 123"
TARGETS = {"bytes_kb": 150.0, "fcp_ms": 300.0, "latency_ms": 500.0}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_station(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    config = workdir / "station.toml"
    config.write_text("[hardware]\nconnectors = 2\n[hardware.sim_car]\nresponse_delay_s = 0\n")
    log = open(workdir / "station.log", "wb")  # noqa: SIM115 - kept for the process
    return subprocess.Popen(
        [sys.executable, "-m", "chargebox", "run", "--config", str(config),
         "--data-dir", str(workdir / "data"), "--http-port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "CHARGEBOX_API_TOKEN": TOKEN},
    )  # fmt: skip


def setup_link(workdir: Path, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = (workdir / "station.log").read_text(errors="replace")
        match = re.search(r"set the admin password at (\S+)", text)
        if match:
            return match.group(1)
        time.sleep(0.05)
    raise SystemExit("no setup link in the station log")


def poll(page: Any, expression: str, timeout: float = 5.0) -> None:
    """wait_for_function evaluates a string, which the pages' CSP forbids: poll instead."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => {expression}"):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.01)


def measure(runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="chargebox-web-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = f"{base}/api/v1"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    proc = start_station(workdir, port)
    try:
        link = setup_link(workdir)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
            )
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(link)
            page.fill("input[name=password]", PASSWORD)
            page.fill("input[name=confirm]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})

            # Bytes: the document, its CSS and JS.
            sizes: dict[str, int] = {}

            def on_response(response: Any) -> None:
                kind = response.request.resource_type
                if kind in ("document", "stylesheet", "script"):
                    with contextlib.suppress(Exception):  # the event stream has no body
                        sizes[response.url] = len(response.body())

            page.on("response", on_response)
            page.goto(base + "/", wait_until="networkidle")
            page.remove_listener("response", on_response)

            # First contentful paint, cache disabled.
            fcps = []
            for _ in range(runs):
                page.goto(base + "/", wait_until="load")
                fcp = page.evaluate(
                    "() => new Promise(r => { const f = () => { const e = performance"
                    ".getEntriesByName('first-contentful-paint')[0]; e ? r(e.startTime) :"
                    " setTimeout(f, 20); }; f(); })"
                )
                fcps.append(float(fcp))

            # Live latency: plug through the API, MutationObserver stamp in the page.
            page.goto(base + "/", wait_until="load")
            poll(page, "document.getElementById('live').dataset.state === 'open'")
            latencies = []
            for _ in range(runs):
                page.evaluate(
                    "() => { window.__changed = null; const el = document.querySelector("
                    '\'[data-connector="1"] [data-f="status"]\'); const before = '
                    "el.textContent; new MutationObserver((m, o) => { if (el.textContent !== "
                    "before) { window.__changed = performance.timeOrigin + performance.now();"
                    " o.disconnect(); } }).observe(el, {childList: true, characterData: true,"
                    " subtree: true}); }"
                )
                sent = time.time() * 1000
                httpx.post(f"{api}/sim/connectors/1/plug", headers=headers, json={})
                poll(page, "window.__changed !== null")
                latencies.append(float(page.evaluate("window.__changed")) - sent)
                httpx.post(f"{api}/sim/connectors/1/unplug", headers=headers)
                poll(
                    page,
                    "document.querySelector('[data-connector=\"1\"]').dataset.status"
                    " === 'Available'",
                )
                time.sleep(0.3)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)

    def stats(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "median": round(statistics.median(ordered), 1),
            "p90": round(ordered[max(0, int(len(ordered) * 0.9) - 1)], 1),
            "max": round(ordered[-1], 1),
        }

    total_bytes = sum(sizes.values())
    return {
        "bytes": total_bytes,
        "bytes_kb": round(total_bytes / 1024, 1),
        "files": {url.replace(base, ""): size for url, size in sorted(sizes.items())},
        "fcp_ms": stats(fcps),
        "latency_ms": stats(latencies),
        "runs": runs,
        "targets": TARGETS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.runs)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    ok = {
        "bytes": result["bytes_kb"] < TARGETS["bytes_kb"],
        "fcp": result["fcp_ms"]["max"] < TARGETS["fcp_ms"],
        "latency": result["latency_ms"]["max"] < TARGETS["latency_ms"],
    }
    print(f"dashboard bytes: {result['bytes']} ({result['bytes_kb']} KB; target < 150 KB)"
          f" {'met' if ok['bytes'] else 'NOT met'}")  # fmt: skip
    for url, size in result["files"].items():
        print(f"  {url}: {size}")
    for name, key in (("first contentful paint", "fcp_ms"), ("live latency", "latency_ms")):
        s = result[key]
        met = "met" if ok["fcp" if key == "fcp_ms" else "latency"] else "NOT met"
        print(f"{name} (ms, {result['runs']} runs): median {s['median']}, p90 {s['p90']}, "
              f"max {s['max']}; target < {TARGETS[key]:.0f} {met}")  # fmt: skip
    return 0 if all(ok.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
