"""OCPP 1.6J benchmark: chargebox vs a plain `ocpp`-library charge point, same central system.

Not a test. Run from the repository root with the project's virtualenv:

    /tmp/venv/bin/python bench/ocpp_latency.py            # table on stdout
    /tmp/venv/bin/python bench/ocpp_latency.py --json     # JSON on stdout, table on stderr

What it measures (see docs/performance.md for the method):

(a) chargebox, started as a subprocess (`chargebox run`, default simulated station with
    2 connectors, MinimumStatusDuration 0): CALL -> CALLRESULT latency of GetConfiguration
    (all keys, no key list) and ChangeConfiguration (MeterValueSampleInterval, alternating
    values), timed at the benchmark central system from just before `ws.send()` of the
    pre-built CALL to just after `recv()` returned the answer frame.
(b) the same frames against a plain charge point: an `ocpp.v16.ChargePoint` subclass with
    library defaults (schema validation on, in the default executor), run in its own
    subprocess (`--plain-cp`, an internal mode of this file). It answers GetConfiguration
    with exactly the key list chargebox returned.
    Measurement blocks alternate between the two charge points so drift hits both alike.
(c) transaction MeterValues throughput, answered at once by the central system:
    chargebox: a separate station with `--connectors 16` starts 16 transactions (RFID via
    the control API, Authorize/StartTransaction Accepted), MeterValueSampleInterval 1;
    the central system then refuses connections for --offline-s seconds (503), so the
    persistent queue fills with transaction MeterValues; it accepts again, sets
    MeterValueSampleInterval 0 on the new connection and times the drain of the backlog
    (first to last MeterValues frame received).
    plain: a `--plain-cp` process loops `await cp.call(call.MeterValues(...))` with the
    payload chargebox sent (warm-up, then --mv-n timed calls, first to last frame).
    Also: TriggerMessage(MeterValues) cycle time on chargebox (CALL sent -> the triggered
    MeterValues CALL received), for a latency view of the same path.

The central system is raw `websockets` (no `ocpp` library on this side); CALLs it sends
and answers it gives are pre-built strings (only the unique id is spliced in).
Every loop is bounded by a count and a deadline; subprocesses are always killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.server import ServerConnection, serve

API_TOKEN = "bench-token"
REPO = Path(__file__).resolve().parent.parent
CLOCK = time.perf_counter_ns

# [type, "uid"(, "action")  -- enough to route a frame without json.loads
_HEAD = re.compile(r'\[\s*(\d)\s*,\s*"([^"\\]*)"\s*(?:,\s*"([^"\\]*)")?')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def chargebox_cmd() -> list[str]:
    """`chargebox run` through the console script next to this interpreter, else -m."""
    script = Path(sys.executable).with_name("chargebox")
    if script.exists():
        return [str(script), "run"]
    return [sys.executable, "-m", "chargebox", "run"]


# ----------------------------------------------------------------- central system


class Conn:
    """One charge point's connection at the benchmark central system."""

    def __init__(self, ws: ServerConnection, identity: str) -> None:
        self.ws = ws
        self.identity = identity
        self.opened_at = CLOCK()
        self.pending: dict[str, asyncio.Future[tuple[int, str]]] = {}
        self.calls: Counter[str] = Counter()
        self.mv_times: list[int] = []  # receive time (ns) of every MeterValues CALL
        self.mv_sample: str | None = None
        self.mv_waiter: asyncio.Future[int] | None = None  # resolved by the next MeterValues
        self.closed = asyncio.Event()


class BenchCS:
    """A lean OCPP 1.6J central system on raw websockets with pre-built answers."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.refuse = False  # answer the handshake with 503 ("offline")
        self.conns: dict[str, Conn] = {}
        self.first_boot_at: dict[str, int] = {}  # identity -> perf_counter_ns
        self._changed: asyncio.Event = asyncio.Event()
        self._server: Any = None
        self._tx_id = 1000
        stamp = now_iso()
        self.answers: dict[str, str] = {
            "BootNotification": f'{{"currentTime":"{stamp}","interval":300,"status":"Accepted"}}',
            "Heartbeat": f'{{"currentTime":"{stamp}"}}',
            "StatusNotification": "{}",
            "MeterValues": "{}",
            "Authorize": '{"idTagInfo":{"status":"Accepted"}}',
            "StopTransaction": '{"idTagInfo":{"status":"Accepted"}}',
            "DataTransfer": '{"status":"Accepted"}',
            "DiagnosticsStatusNotification": "{}",
            "FirmwareStatusNotification": "{}",
        }

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def start(self) -> None:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            self.port,
            subprotocols=[websockets.Subprotocol("ocpp1.6")],
            process_request=self._process_request,
            max_size=2**22,
        )

    async def stop(self) -> None:
        for conn in list(self.conns.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(), 2)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 3)

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if self.refuse:
            return connection.respond(503, "offline\n")
        return None

    def _answer(self, action: str) -> str | None:
        if action == "StartTransaction":
            self._tx_id += 1
            return f'{{"transactionId":{self._tx_id},"idTagInfo":{{"status":"Accepted"}}}}'
        return self.answers.get(action)

    async def _handler(self, ws: ServerConnection) -> None:
        identity = ws.request.path.rsplit("/", 1)[-1] if ws.request else "?"
        conn = Conn(ws, identity)
        self.conns[identity] = conn
        self._poke()
        send = ws.send
        try:
            async for raw in ws:
                t = CLOCK()
                text = raw if isinstance(raw, str) else raw.decode()
                m = _HEAD.match(text)
                if m is None:
                    continue
                uid = m.group(2)
                if m.group(1) == "2":
                    action = m.group(3) or ""
                    conn.calls[action] += 1
                    if action == "MeterValues":
                        conn.mv_times.append(t)
                        w = conn.mv_waiter
                        if w is not None and not w.done():
                            w.set_result(t)
                        if conn.mv_sample is None:
                            conn.mv_sample = text
                    elif action == "BootNotification":
                        self.first_boot_at.setdefault(identity, t)
                        self._poke()
                    body = self._answer(action)
                    if body is None:
                        await send(f'[4,"{uid}","NotImplemented","",{{}}]')
                    else:
                        await send('[3,"' + uid + '",' + body + "]")
                else:
                    fut = conn.pending.pop(uid, None)
                    if fut is not None and not fut.done():
                        fut.set_result((t, text))
        except websockets.ConnectionClosed:
            pass
        finally:
            conn.closed.set()
            for fut in conn.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("closed"))
            if self.conns.get(identity) is conn:
                del self.conns[identity]
            self._poke()

    def _poke(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_conn(self, identity: str, timeout: float, *, not_: Conn | None = None) -> Conn:
        deadline = time.monotonic() + timeout
        while True:
            conn = self.conns.get(identity)
            if conn is not None and conn is not not_:
                return conn
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{identity} did not connect within {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_boot(self, identity: str, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while identity not in self.first_boot_at:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no BootNotification from {identity} within {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.first_boot_at[identity]

    @staticmethod
    async def call(conn: Conn, uid: str, text: str, timeout: float = 10.0) -> tuple[int, str]:
        """Send a pre-built CALL; (latency ns from before send to receipt, answer text)."""
        fut: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        conn.pending[uid] = fut
        t0 = CLOCK()
        await conn.ws.send(text)
        t1, answer = await asyncio.wait_for(fut, timeout)
        return t1 - t0, answer


# ----------------------------------------------------------------- subprocesses


class Station:
    """A `chargebox run` subprocess with its control API."""

    def __init__(
        self,
        workdir: Path,
        csms_url: str | None,
        identity: str,
        *,
        keys: dict[str, str],
        connectors: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.csms_url = csms_url
        self.identity = identity
        self.keys = keys
        self.connectors = connectors
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "station.toml"
        lines = [
            "[ocpp]",
            "call_timeout_s = 10",
            "reconnect_min_s = 0.2",
            "reconnect_max_s = 0.5",
            "[hardware.sim_car]",
            "response_delay_s = 0",
            "[ocpp.keys]",
            *[f'{k} = "{v}"' for k, v in self.keys.items()],
        ]
        config.write_text("\n".join(lines) + "\n")
        cmd = [
            *chargebox_cmd(),
            "--config",
            str(config),
            "--data-dir",
            str(self.workdir / "data"),
            "--id",
            self.identity,
            "--http-port",
            str(self.http_port),
            "--log-level",
            "WARNING",
        ]
        if self.connectors is not None:
            cmd += ["--connectors", str(self.connectors)]
        if self.csms_url:
            cmd += ["--csms-url", self.csms_url]
        env = {**os.environ, "CHARGEBOX_API_TOKEN": API_TOKEN}
        log = open(self.workdir / "station.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()

    def stop(self) -> None:
        stop_process(self.proc)

    def log_tail(self) -> str:
        path = self.workdir / "station.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def _api_sync(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/api/v1{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        return await asyncio.to_thread(self._api_sync, method, path, body)

    async def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"station exited {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, ValueError):
                await self.api("GET", "/status")
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"station API not ready:\n{self.log_tail()}")


def stop_process(proc: subprocess.Popen[Any] | None) -> None:
    """SIGTERM, then SIGKILL after 5 s; only the process we started, by its pid."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def start_plain_cp(
    url: str,
    identity: str,
    keys_file: Path,
    *,
    mv_payload: Path | None = None,
    mv_count: int = 0,
    log_path: Path,
    mode: str = "--plain-cp",
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        mode,
        url,
        "--identity",
        identity,
        "--keys-file",
        str(keys_file),
    ]
    if mv_payload is not None:
        cmd += ["--mv-payload", str(mv_payload), "--mv-count", str(mv_count)]
    log = open(log_path, "ab")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


# ----------------------------------------------------------------- statistics


def pct(sorted_ns: list[int], q: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not sorted_ns:
        return float("nan")
    k = max(0, min(len(sorted_ns) - 1, math.ceil(q / 100 * len(sorted_ns)) - 1))
    return sorted_ns[k] / 1e6


def summary(samples_ns: list[int]) -> dict[str, float]:
    s = sorted(samples_ns)
    return {
        "n": len(s),
        "p50_ms": round(pct(s, 50), 3),
        "p99_ms": round(pct(s, 99), 3),
        "max_ms": round(s[-1] / 1e6, 3) if s else float("nan"),
        "mean_ms": round(statistics.fmean(s) / 1e6, 3) if s else float("nan"),
    }


def rate(times_ns: list[int]) -> float:
    if len(times_ns) < 2:
        return float("nan")
    return (len(times_ns) - 1) / ((times_ns[-1] - times_ns[0]) / 1e9)


# ----------------------------------------------------------------- (a) + (b) latency


def prebuilt(prefix: str, count: int, action: str, payloads: list[str]) -> list[tuple[str, str]]:
    out = []
    for i in range(count):
        uid = f"{prefix}-{i}"
        out.append((uid, f'[2,"{uid}","{action}",{payloads[i % len(payloads)]}]'))
    return out


async def latency_phase(cs: BenchCS, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    keys = {"MinimumStatusDuration": "0", "HeartbeatInterval": "300"}
    station = Station(work / "cb-latency", cs.url, "CB_LAT", keys=keys)
    plain: subprocess.Popen[bytes] | None = None
    echo: subprocess.Popen[bytes] | None = None
    try:
        station.start()
        cb = await cs.wait_conn("CB_LAT", 30)
        await cs.wait_boot("CB_LAT", 30)
        await station.wait_ready()
        await asyncio.sleep(1.0)  # boot-time StatusNotifications are out of the way
        _, answer = await cs.call(cb, "probe", '[2,"probe","GetConfiguration",{}]')
        cb_keys = json.loads(answer)[2]["configurationKey"]
        keys_file = work / "keys.json"
        keys_file.write_text(json.dumps(cb_keys))
        plain = start_plain_cp(cs.url, "PLAIN_LAT", keys_file, log_path=work / "plain-lat.log")
        pl = await cs.wait_conn("PLAIN_LAT", 30)
        await cs.wait_boot("PLAIN_LAT", 30)
        _, answer = await cs.call(pl, "probe", '[2,"probe","GetConfiguration",{}]')
        plain_keys = len(json.loads(answer)[2]["configurationKey"])
        echo = start_plain_cp(
            cs.url, "ECHO_LAT", keys_file, log_path=work / "echo-lat.log", mode="--echo-cp"
        )
        ec = await cs.wait_conn("ECHO_LAT", 30)
        await cs.wait_boot("ECHO_LAT", 30)
        whos = ("cb", "pl", "echo")

        n, warm, block = args.n, args.warmup, args.block
        cc_values = [
            '{"key":"MeterValueSampleInterval","value":"30"}',
            '{"key":"MeterValueSampleInterval","value":"60"}',
        ]
        results: dict[str, Any] = {"keys": {"chargebox": len(cb_keys), "plain": plain_keys}}
        errors: Counter[str] = Counter()
        for action, payloads, tag in (
            ("GetConfiguration", ["{}"], "gc"),
            ("ChangeConfiguration", cc_values, "cc"),
        ):
            frames = {who: prebuilt(f"{tag}-{who}", warm + n, action, payloads) for who in whos}
            conns = {"cb": cb, "pl": pl, "echo": ec}
            samples: dict[str, list[int]] = {who: [] for who in whos}
            deadline = time.monotonic() + args.phase_timeout
            # warm-up, then alternate blocks of `block` calls between the two charge points
            for who in whos:
                for uid, text in frames[who][:warm]:
                    _, answer = await cs.call(conns[who], uid, text)
                    if not answer.startswith("[3") or (tag == "cc" and "Accepted" not in answer):
                        errors[f"{who}:{action}"] += 1
            pos = warm
            while pos < warm + n:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{action} phase exceeded {args.phase_timeout}s")
                for who in whos:
                    for uid, text in frames[who][pos : pos + block]:
                        dt, answer = await cs.call(conns[who], uid, text)
                        samples[who].append(dt)
                        if answer[1] != "3":
                            errors[f"{who}:{action}"] += 1
                pos += block
            results[action] = {
                "chargebox": summary(samples["cb"]),
                "plain": summary(samples["pl"]),
                "floor": summary(samples["echo"]),
            }
            results[action]["p99_ratio"] = round(
                results[action]["chargebox"]["p99_ms"] / results[action]["plain"]["p99_ms"], 3
            )
        results["errors"] = dict(errors)
        return results
    finally:
        station.stop()
        stop_process(plain)
        stop_process(echo)


# ----------------------------------------------------------------- (c) throughput


async def throughput_chargebox(cs: BenchCS, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    keys = {
        "MinimumStatusDuration": "0",
        "HeartbeatInterval": "300",
        "MeterValueSampleInterval": "1",
    }
    ident = "CB_MV"
    station = Station(work / "cb-mv", cs.url, ident, keys=keys, connectors=args.connectors)
    try:
        station.start()
        conn = await cs.wait_conn(ident, 30)
        await cs.wait_boot(ident, 30)
        await station.wait_ready()
        for cid in range(1, args.connectors + 1):
            await station.api("POST", f"/sim/connectors/{cid}/plug")
            await station.api(
                "POST", "/sim/tokens", {"id_tag": f"BENCH{cid:02d}", "connector_id": cid}
            )
        deadline = time.monotonic() + 30
        while True:
            st = await station.api("GET", "/status")
            busy = [
                c
                for c in st["connectors"]
                if c["status"] in ("Charging", "SuspendedEV", "SuspendedEVSE")
            ]
            if (
                len(busy) == args.connectors
                and st["ocpp"]["queued_messages"] == 0
                and conn.calls["StartTransaction"] >= args.connectors
            ):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"transactions did not start: {st}")
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)  # live periodic MeterValues flow
        live_mv = conn.calls["MeterValues"]

        # offline: refuse the handshake and drop the connection; the queue fills
        cs.refuse = True
        await conn.ws.close()
        await asyncio.wait_for(conn.closed.wait(), 10)
        await asyncio.sleep(args.offline_s)
        st = await station.api("GET", "/status")
        backlog = st["ocpp"]["queued_messages"]

        # online again: stop sampling at once, then time the drain
        cs.refuse = False
        conn2 = await cs.wait_conn(ident, 30, not_=conn)
        t_connected = conn2.opened_at
        await cs.call(
            conn2,
            "mvi0",
            '[2,"mvi0","ChangeConfiguration",{"key":"MeterValueSampleInterval","value":"0"}]',
        )
        deadline = time.monotonic() + args.phase_timeout
        while True:
            await asyncio.sleep(0.5)
            st = await station.api("GET", "/status")
            if (
                st["ocpp"]["queued_messages"] == 0
                and conn2.mv_times
                and CLOCK() - conn2.mv_times[-1] > 300_000_000
            ):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("backlog did not drain")
        times = conn2.mv_times
        drain = {
            "connectors": args.connectors,
            "offline_s": args.offline_s,
            "live_meter_values_before_offline": live_mv,
            "queued_at_reconnect": backlog,
            "meter_values_drained": len(times),
            "drain_s": round((times[-1] - times[0]) / 1e9, 3),
            "connect_to_first_ms": round((times[0] - t_connected) / 1e6, 1),
            "per_s": round(rate(times), 1),
        }
        sample = json.loads(conn2.mv_sample or conn.mv_sample or "[]")[3]

        # TriggerMessage(MeterValues) cycle: CALL sent -> triggered MeterValues received
        cycles: list[int] = []
        n = args.trigger_n
        frames = prebuilt(
            "tm", n + 50, "TriggerMessage", ['{"requestedMessage":"MeterValues","connectorId":1}']
        )
        deadline = time.monotonic() + args.phase_timeout
        for i, (uid, text) in enumerate(frames):
            if time.monotonic() > deadline:
                raise TimeoutError("TriggerMessage phase exceeded its deadline")
            waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            conn2.mv_waiter = waiter
            t0 = CLOCK()
            _, answer = await cs.call(conn2, uid, text)
            if "Accepted" not in answer:
                raise RuntimeError(f"TriggerMessage answered {answer}")
            t1 = await asyncio.wait_for(waiter, 10)
            if i >= 50:
                cycles.append(t1 - t0)
        trigger = summary(cycles)
        trigger["per_s"] = round(1e3 / statistics.fmean(c / 1e6 for c in cycles), 1)
        return {"drain": drain, "trigger": trigger, "payload": sample}
    finally:
        station.stop()


async def throughput_plain(
    cs: BenchCS, work: Path, payload: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    payload_file = work / "mv-payload.json"
    payload_file.write_text(json.dumps(payload))
    keys_file = work / "keys.json"
    if not keys_file.exists():
        keys_file.write_text("[]")
    warm = args.warmup
    proc = start_plain_cp(
        cs.url,
        "PLAIN_MV",
        keys_file,
        mv_payload=payload_file,
        mv_count=warm + args.mv_n,
        log_path=work / "plain-mv.log",
    )
    try:
        conn = await cs.wait_conn("PLAIN_MV", 30)
        await asyncio.wait_for(conn.closed.wait(), args.phase_timeout)
        times = conn.mv_times[warm:]
        if len(conn.mv_times) != warm + args.mv_n:
            raise RuntimeError(f"plain CP sent {len(conn.mv_times)} MeterValues")
        return {
            "meter_values": len(times),
            "elapsed_s": round((times[-1] - times[0]) / 1e9, 3),
            "per_s": round(rate(times), 1),
        }
    finally:
        stop_process(proc)


# ----------------------------------------------------------------- report


def table(res: dict[str, Any]) -> str:
    out = []
    lat = res["latency"]
    out.append(
        f"CALL -> CALLRESULT latency at the central system, N={res['params']['n']} each "
        f"after {res['params']['warmup']} warm-up (ms)"
    )
    out.append(
        f"  GetConfiguration returns {lat['keys']['chargebox']} keys (chargebox) / "
        f"{lat['keys']['plain']} keys (plain)"
    )
    out.append(
        f"  {'action':<20} {'charge point':<10} {'p50':>8} {'p99':>8} {'max':>8} {'mean':>8}"
    )
    for action in ("GetConfiguration", "ChangeConfiguration"):
        for who in ("chargebox", "plain", "floor"):
            s = lat[action][who]
            out.append(
                f"  {action:<20} {who:<10} {s['p50_ms']:8.3f} {s['p99_ms']:8.3f} "
                f"{s['max_ms']:8.3f} {s['mean_ms']:8.3f}"
            )
        ratio = lat[action]["p99_ratio"]
        verdict = "met" if ratio <= 0.5 else "NOT met"
        out.append(f"  {action:<20} p99 chargebox/plain = {ratio:.2f} (target <= 0.50: {verdict})")
    if lat.get("errors"):
        out.append(f"  errors: {lat['errors']}")
    tp = res["throughput"]
    d = tp["chargebox_drain"]
    out.append("")
    out.append("Transaction MeterValues throughput (central system answers at once)")
    out.append(
        f"  chargebox backlog drain: {d['meter_values_drained']} MeterValues "
        f"({d['queued_at_reconnect']} queued after {d['offline_s']} s offline, "
        f"{d['connectors']} connectors) in {d['drain_s']} s = {d['per_s']:.1f} /s"
    )
    p = tp["plain_loop"]
    out.append(
        f"  plain cp.call loop:      {p['meter_values']} MeterValues in {p['elapsed_s']} s "
        f"= {p['per_s']:.1f} /s"
    )
    out.append(f"  chargebox/plain throughput = {tp['ratio']:.2f}")
    t = tp["chargebox_trigger"]
    out.append(
        f"  chargebox TriggerMessage(MeterValues) -> MeterValues cycle, N={t['n']}: "
        f"p50 {t['p50_ms']:.3f} ms, p99 {t['p99_ms']:.3f} ms, max {t['max_ms']:.3f} ms "
        f"({t['per_s']:.1f} cycles/s)"
    )
    return "\n".join(out)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="chargebox-bench-", dir=args.workdir))
    cs = BenchCS()
    await cs.start()
    try:
        latency = await asyncio.wait_for(latency_phase(cs, work, args), args.total_timeout)
        cb = await asyncio.wait_for(throughput_chargebox(cs, work, args), args.total_timeout)
        plain = await asyncio.wait_for(
            throughput_plain(cs, work, cb["payload"], args), args.total_timeout
        )
    except BaseException:
        print(f"benchmark failed; logs kept in {work}", file=sys.stderr)
        raise
    finally:
        await cs.stop()
    shutil.rmtree(work, ignore_errors=True)
    return {
        "params": {
            "workdir": str(work.parent),
            "n": args.n,
            "warmup": args.warmup,
            "block": args.block,
            "connectors": args.connectors,
            "offline_s": args.offline_s,
            "mv_n": args.mv_n,
            "trigger_n": args.trigger_n,
        },
        "latency": latency,
        "throughput": {
            "chargebox_drain": cb["drain"],
            "chargebox_trigger": cb["trigger"],
            "plain_loop": plain,
            "ratio": round(cb["drain"]["per_s"] / plain["per_s"], 3),
            "payload": cb["payload"],
        },
    }


# ----------------------------------------------------------------- plain charge point


async def plain_cp_main(args: argparse.Namespace) -> None:
    """A charge point on the `ocpp` library with its defaults (runs in its own process)."""
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call, call_result
    from ocpp.v16.enums import Action, ConfigurationStatus

    keys = json.loads(Path(args.keys_file).read_text())
    config: dict[str, str] = {}

    class PlainChargePoint(ChargePoint):
        @on(Action.get_configuration)
        def on_get_configuration(self, key: list[str] | None = None) -> Any:
            return call_result.GetConfiguration(configuration_key=keys)

        @on(Action.change_configuration)
        def on_change_configuration(self, key: str, value: str) -> Any:
            config[key] = value
            return call_result.ChangeConfiguration(status=ConfigurationStatus.accepted)

    async with websockets.connect(
        f"{args.plain_cp}/{args.identity}", subprotocols=[websockets.Subprotocol("ocpp1.6")]
    ) as ws:
        cp = PlainChargePoint(args.identity, ws)
        reader = asyncio.ensure_future(cp.start())
        await cp.call(
            call.BootNotification(charge_point_model="plain", charge_point_vendor="bench")
        )
        if args.mv_payload:
            p = json.loads(Path(args.mv_payload).read_text())
            for _ in range(args.mv_count):
                await cp.call(
                    call.MeterValues(
                        connector_id=p["connectorId"],
                        meter_value=p["meterValue"],
                        transaction_id=p.get("transactionId"),
                    )
                )
            await ws.close()
        with contextlib.suppress(websockets.ConnectionClosed):
            await reader


async def echo_cp_main(args: argparse.Namespace) -> None:
    """Transport floor: raw websockets, answers are pre-built strings, no OCPP processing."""
    keys = Path(args.keys_file).read_text()
    answers = {
        "GetConfiguration": '{"configurationKey":' + keys + "}",
        "ChangeConfiguration": '{"status":"Accepted"}',
    }
    async with websockets.connect(
        f"{args.echo_cp}/{args.identity}", subprotocols=[websockets.Subprotocol("ocpp1.6")]
    ) as ws:
        await ws.send(
            '[2,"boot","BootNotification",{"chargePointModel":"echo","chargePointVendor":"bench"}]'
        )
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                text = raw if isinstance(raw, str) else raw.decode()
                m = _HEAD.match(text)
                if m is not None and m.group(1) == "2":
                    body = answers.get(m.group(3) or "", "{}")
                    await ws.send('[3,"' + m.group(2) + '",' + body + "]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="JSON on stdout (table on stderr)")
    parser.add_argument("--n", type=int, default=2000, help="timed calls per action and CP")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--block", type=int, default=250, help="calls per alternating block")
    parser.add_argument("--connectors", type=int, default=32, help="chargebox connectors for (c)")
    parser.add_argument(
        "--offline-s", type=float, default=25.0, help="offline time to build backlog"
    )
    parser.add_argument("--mv-n", type=int, default=2000, help="timed plain MeterValues calls")
    parser.add_argument("--trigger-n", type=int, default=500, help="timed TriggerMessage cycles")
    parser.add_argument(
        "--workdir",
        default=None,
        help="parent of the stations' data dirs (default: the system temp dir)",
    )
    parser.add_argument("--phase-timeout", type=float, default=180.0)
    parser.add_argument("--total-timeout", type=float, default=400.0)
    # internal: the plain charge point subprocess
    parser.add_argument("--plain-cp", help=argparse.SUPPRESS)
    parser.add_argument("--echo-cp", help=argparse.SUPPRESS)
    parser.add_argument("--identity", default="PLAIN", help=argparse.SUPPRESS)
    parser.add_argument("--keys-file", help=argparse.SUPPRESS)
    parser.add_argument("--mv-payload", help=argparse.SUPPRESS)
    parser.add_argument("--mv-count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.plain_cp:
        asyncio.run(asyncio.wait_for(plain_cp_main(args), 900))
        return 0
    if args.echo_cp:
        asyncio.run(asyncio.wait_for(echo_cp_main(args), 900))
        return 0
    res = asyncio.run(bench(args))
    text = table(res)
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(res, indent=2))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
