"""GetCompositeSchedule benchmark: 8 installed profiles with 24 periods each.

Not a test. Run from the repository root with the project's virtualenv:

    /tmp/venv/bin/python bench/composite_schedule.py          # table on stdout
    /tmp/venv/bin/python bench/composite_schedule.py --json   # JSON on stdout, table on stderr

What it measures (target: p99 < 2 ms for both):

(a) pure: `smart_charging.composite_schedule(...).to_ocpp()` in this process, over the
    same 8 profiles, connector 1, duration 86400 s.
(b) end to end: a `chargebox run` subprocess (default simulated station) connected to the
    raw-websockets central system of bench/ocpp_latency.py; the 8 profiles are installed
    with SetChargingProfile, then GetCompositeSchedule(connectorId 1, duration 86400, A)
    CALL -> CALLRESULT is timed at the central system (before `send()` to after the answer
    frame was received), as bench/ocpp_latency.py times GetConfiguration.

Every profile applies to connector 1 (no transaction, so no TxProfile hides the defaults):
2 ChargePointMaxProfiles and 6 TxDefaultProfiles (connector 0 and 1, stack levels 0-2, one
in W, two Recurring Daily, one Relative), start times staggered so ~190 period boundaries
fall inside the day.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ocpp_latency import CLOCK, BenchCS, Station, prebuilt, summary  # noqa: E402

from chargebox.core.clock import iso  # noqa: E402
from chargebox.ocpp16.smart_charging import ChargingProfile, composite_schedule  # noqa: E402

DURATION = 86_400


def profiles(now: float) -> list[tuple[int, dict[str, Any]]]:
    """(connectorId, csChargingProfiles) of the 8 profiles, 24 periods each."""
    specs = [
        # connector, purpose, stack level, kind, unit, start offset (s)
        (0, "ChargePointMaxProfile", 0, "Absolute", "A", -300),
        (0, "ChargePointMaxProfile", 1, "Recurring", "A", -7_200),
        (0, "TxDefaultProfile", 0, "Absolute", "A", -600),
        (0, "TxDefaultProfile", 1, "Relative", "A", 0),
        (0, "TxDefaultProfile", 2, "Absolute", "W", -900),
        (1, "TxDefaultProfile", 0, "Recurring", "A", -1_200),
        (1, "TxDefaultProfile", 1, "Absolute", "A", -1_500),
        (1, "TxDefaultProfile", 2, "Absolute", "A", -1_800),
    ]
    out = []
    for n, (connector, purpose, level, kind, unit, offset) in enumerate(specs, start=1):
        scale = 230 * 3 if unit == "W" else 1
        # Gaps at the top levels let the lower levels show through; staggered starts.
        step = 3_600 if level < 2 else 1_800
        schedule: dict[str, Any] = {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [
                {"startPeriod": i * step, "limit": float((6 + (i * 7 + n) % 27) * scale)}
                for i in range(24)
            ],
        }
        if level == 2:
            schedule["duration"] = 24 * step
        if kind != "Relative":
            schedule["startSchedule"] = iso(now + offset)
        profile: dict[str, Any] = {
            "chargingProfileId": n,
            "stackLevel": level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind,
            "chargingSchedule": schedule,
        }
        if kind == "Recurring":
            profile["recurrencyKind"] = "Daily"
        out.append((connector, profile))
    return out


def bench_pure(n: int, warmup: int) -> dict[str, Any]:
    now = time.time()
    installed = [ChargingProfile.from_ocpp(c, p) for c, p in profiles(now)]
    samples = []
    periods = 0
    for i in range(warmup + n):
        t0 = CLOCK()
        result = composite_schedule(installed, 1, now + i, DURATION, default_limit_a=32).to_ocpp()
        t1 = CLOCK()
        if i >= warmup:
            samples.append(t1 - t0)
        periods = len(result["chargingSchedulePeriod"])
    return {**summary(samples), "periods": periods}


async def bench_e2e(n: int, warmup: int, work: Path) -> dict[str, Any]:
    cs = BenchCS()
    await cs.start()
    station = Station(work / "station", cs.url, "CB_COMPOSITE", keys={"MinimumStatusDuration": "0"})
    station.start()
    try:
        await station.wait_ready()
        conn = await cs.wait_conn("CB_COMPOSITE", 30)
        await cs.wait_boot("CB_COMPOSITE", 30)
        for connector, p in profiles(time.time()):
            payload = json.dumps({"connectorId": connector, "csChargingProfiles": p})
            uid = f"scp-{p['chargingProfileId']}"
            _, answer = await cs.call(conn, uid, f'[2,"{uid}","SetChargingProfile",{payload}]')
            if '"Accepted"' not in answer:
                raise RuntimeError(f"SetChargingProfile answered {answer}")
        body = json.dumps({"connectorId": 1, "duration": DURATION, "chargingRateUnit": "A"})
        samples = []
        periods = 0
        for i, (uid, text) in enumerate(
            prebuilt("gcs", warmup + n, "GetCompositeSchedule", [body])
        ):
            latency, answer = await cs.call(conn, uid, text)
            if i >= warmup:
                samples.append(latency)
            if i == 0:
                periods = len(json.loads(answer)[2]["chargingSchedule"]["chargingSchedulePeriod"])
        return {**summary(samples), "periods": periods}
    finally:
        station.stop()
        await cs.stop()


def table(res: dict[str, Any]) -> str:
    lines = [
        f"GetCompositeSchedule, 8 profiles x 24 periods, duration {DURATION} s, "
        f"N={res['params']['n']} after {res['params']['warmup']} warm-up (ms)",
        f"  {'path':<12} {'p50':>8} {'p99':>8} {'max':>8} {'mean':>8} {'periods':>8}",
    ]
    for name in ("pure", "end_to_end"):
        s = res[name]
        lines.append(
            f"  {name:<12} {s['p50_ms']:8.3f} {s['p99_ms']:8.3f} {s['max_ms']:8.3f} "
            f"{s['mean_ms']:8.3f} {s['periods']:8d}"
        )
        verdict = "met" if s["p99_ms"] < 2.0 else "NOT met"
        lines.append(f"  {name:<12} p99 < 2 ms: {verdict}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="JSON on stdout (table on stderr)")
    parser.add_argument("--n", type=int, default=2000, help="timed calls per path")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chargebox-composite-"))
    try:
        pure = bench_pure(args.n, args.warmup)
        e2e = asyncio.run(asyncio.wait_for(bench_e2e(args.n, args.warmup, work), args.timeout))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res = {"params": {"n": args.n, "warmup": args.warmup}, "pure": pure, "end_to_end": e2e}
    text = table(res)
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(res, indent=2))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
