"""Start-up time and idle memory of the default chargebox station.

Not a test. Run from the repository root with the project's virtualenv:

    /tmp/venv/bin/python bench/startup_memory.py            # table on stdout
    /tmp/venv/bin/python bench/startup_memory.py --json     # JSON on stdout, table on stderr

Start-up: `chargebox run --data-dir <fresh tmp> --http-port <free> --csms-url
ws://127.0.0.1:<port>/ocpp` (no --config: the built-in default station), timed from just
before `Popen` to the moment the benchmark central system (raw websockets, the one in
bench/ocpp_latency.py) receives the BootNotification frame. Repeated --runs times with a
fresh data directory each time (so the database is created and migrated every time).

Idle memory: VmRSS (and VmHWM) from /proc/<pid>/status after --idle-s seconds idle,
with the web server and control API up: (1) after the BootNotification was accepted
(CSMS connected), measured in each start-up run; (2) without a CSMS (no --csms-url),
after the control API answered, --runs-standalone times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_latency import API_TOKEN, BenchCS, chargebox_cmd, free_port, stop_process  # noqa: E402

START_TARGET_S = 1.5
RSS_TARGET_MB = 80.0


def proc_status_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) / 1024  # kB -> MiB
    return out


def start_station(
    data_dir: Path, http_port: int, csms_url: str | None, log: Path
) -> subprocess.Popen[bytes]:
    cmd = [*chargebox_cmd(), "--data-dir", str(data_dir), "--http-port", str(http_port)]
    if csms_url:
        cmd += ["--csms-url", csms_url]
    env = {**os.environ, "CHARGEBOX_API_TOKEN": API_TOKEN}
    with open(log, "ab") as f:
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)


def api_ready(http_port: int) -> bool:
    req = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/api/v1/status",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


async def wait_api(proc: subprocess.Popen[bytes], http_port: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"station exited with {proc.returncode}")
        if await asyncio.to_thread(api_ready, http_port):
            return time.perf_counter()
        await asyncio.sleep(0.02)
    raise TimeoutError("control API not ready")


async def with_csms(cs: BenchCS, work: Path, run: int, idle_s: float) -> dict[str, Any]:
    data = work / f"csms-{run}"
    port = free_port()
    identity = "CB-0001"  # the default station's identity
    cs.first_boot_at.pop(identity, None)
    t0 = time.perf_counter_ns()
    proc = start_station(data, port, cs.url, work / f"csms-{run}.log")
    try:
        t_boot = await cs.wait_boot(identity, 30)
        boot_s = (t_boot - t0) / 1e9
        t_api = await wait_api(proc, port, 30)
        await asyncio.sleep(idle_s)
        mem = proc_status_mb(proc.pid)
        return {
            "boot_s": round(boot_s, 3),
            "api_ready_s": round(t_api - t0 / 1e9, 3),
            "rss_mb": round(mem["VmRSS"], 1),
            "hwm_mb": round(mem["VmHWM"], 1),
        }
    finally:
        stop_process(proc)
        conn = cs.conns.get(identity)
        if conn is not None:
            await asyncio.wait_for(conn.closed.wait(), 10)


async def standalone(work: Path, run: int, idle_s: float) -> dict[str, Any]:
    data = work / f"alone-{run}"
    port = free_port()
    t0 = time.perf_counter()
    proc = start_station(data, port, None, work / f"alone-{run}.log")
    try:
        t_api = await wait_api(proc, port, 30)
        await asyncio.sleep(idle_s)
        mem = proc_status_mb(proc.pid)
        return {
            "api_ready_s": round(t_api - t0, 3),
            "rss_mb": round(mem["VmRSS"], 1),
            "hwm_mb": round(mem["VmHWM"], 1),
        }
    finally:
        stop_process(proc)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="chargebox-startup-", dir=args.workdir))
    cs = BenchCS()
    await cs.start()
    try:
        runs = [
            await asyncio.wait_for(with_csms(cs, work, i, args.idle_s), 60)
            for i in range(args.runs)
        ]
        alone = [
            await asyncio.wait_for(standalone(work, i, args.idle_s), 60)
            for i in range(args.runs_standalone)
        ]
    except BaseException:
        print(f"benchmark failed; logs kept in {work}", file=sys.stderr)
        raise
    finally:
        await cs.stop()
    shutil.rmtree(work, ignore_errors=True)
    boots = [r["boot_s"] for r in runs]
    rss = [r["rss_mb"] for r in runs]
    rss_alone = [r["rss_mb"] for r in alone]
    return {
        "params": {
            "runs": args.runs,
            "runs_standalone": args.runs_standalone,
            "idle_s": args.idle_s,
            "command": " ".join(chargebox_cmd()),
        },
        "with_csms": runs,
        "standalone": alone,
        "startup_to_boot_s": {
            "median": statistics.median(boots),
            "max": max(boots),
            "min": min(boots),
            "target": START_TARGET_S,
            "met": max(boots) < START_TARGET_S,
        },
        "idle_rss_mb_with_csms": {
            "median": statistics.median(rss),
            "max": max(rss),
            "target": RSS_TARGET_MB,
            "met": max(rss) < RSS_TARGET_MB,
        },
        "idle_rss_mb_standalone": {
            "median": statistics.median(rss_alone),
            "max": max(rss_alone),
            "target": RSS_TARGET_MB,
            "met": max(rss_alone) < RSS_TARGET_MB,
        },
    }


def table(res: dict[str, Any]) -> str:
    out = [
        f"Start-up of the default station ({res['params']['command']}), "
        f"fresh data dir each run; RSS after {res['params']['idle_s']} s idle"
    ]
    out.append(
        f"  {'run':<5} {'to BootNotification (s)':>24} {'API ready (s)':>14} "
        f"{'VmRSS (MiB)':>12} {'VmHWM (MiB)':>12}"
    )
    for i, r in enumerate(res["with_csms"], 1):
        out.append(
            f"  {i:<5} {r['boot_s']:>24.3f} {r['api_ready_s']:>14.3f} "
            f"{r['rss_mb']:>12.1f} {r['hwm_mb']:>12.1f}"
        )
    s = res["startup_to_boot_s"]
    out.append(
        f"  start -> BootNotification: median {s['median']:.3f} s, max {s['max']:.3f} s "
        f"(target < {s['target']} s: {'met' if s['met'] else 'NOT met'})"
    )
    m = res["idle_rss_mb_with_csms"]
    out.append(
        f"  idle VmRSS with CSMS: median {m['median']:.1f} MiB, max {m['max']:.1f} MiB "
        f"(target < {m['target']:.0f} MB: {'met' if m['met'] else 'NOT met'})"
    )
    out.append("  without CSMS (no --csms-url):")
    for i, r in enumerate(res["standalone"], 1):
        out.append(
            f"  {i:<5} {'-':>24} {r['api_ready_s']:>14.3f} {r['rss_mb']:>12.1f} "
            f"{r['hwm_mb']:>12.1f}"
        )
    m = res["idle_rss_mb_standalone"]
    out.append(
        f"  idle VmRSS without CSMS: median {m['median']:.1f} MiB, max {m['max']:.1f} MiB "
        f"(target < {m['target']:.0f} MB: {'met' if m['met'] else 'NOT met'})"
    )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="JSON on stdout (table on stderr)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--runs-standalone", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=5.0)
    parser.add_argument(
        "--workdir", default=None, help="parent of the data dirs (default: temp dir)"
    )
    args = parser.parse_args()
    res = asyncio.run(asyncio.wait_for(bench(args), 600))
    text = table(res)
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(res, indent=2))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
