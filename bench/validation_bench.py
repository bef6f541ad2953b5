"""Micro-benchmark: our synchronous cached validation vs ``ocpp.messages.validate_payload``.

Not a test. Run: ``/tmp/venv/bin/python bench/validation_bench.py [iterations]``.
Why: the library validates every message in the default thread-pool executor; this
measures what that costs per message against ``chargebox.ocpp16.framing``.
The library's validators do no ``format`` checking; ours check date-times, so ours do
slightly more work per MeterValues message.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ocpp import messages
from ocpp.messages import Call as LibCall
from ocpp.messages import CallResult as LibCallResult

from chargebox.ocpp16 import framing


def _get_configuration_conf() -> dict[str, Any]:
    """GetConfiguration.conf with 60 keys (a CALLRESULT we send)."""
    return {
        "configurationKey": [
            {"key": f"ConfigurationKeyNumber{i:02d}", "readonly": i % 3 == 0, "value": str(i * 7)}
            for i in range(60)
        ]
    }


def _meter_values() -> dict[str, Any]:
    """MeterValues.req with 10 sampled values (a CALL we send)."""
    sampled = [
        {
            "value": f"{1000 + i}.5",
            "context": "Sample.Periodic",
            "format": "Raw",
            "measurand": "Energy.Active.Import.Register",
            "phase": "L1",
            "location": "Outlet",
            "unit": "Wh",
        }
        for i in range(10)
    ]
    return {
        "connectorId": 1,
        "transactionId": 4711,
        "meterValue": [{"timestamp": "2024-05-01T08:00:00.000Z", "sampledValue": sampled}],
    }


def _change_configuration() -> dict[str, Any]:
    """ChangeConfiguration.req (a CALL we receive)."""
    return {"key": "MeterValueSampleInterval", "value": "60"}


def _stats(samples_ns: list[int]) -> str:
    """p50/p99 in microseconds."""
    s = sorted(samples_ns)
    p50 = s[len(s) // 2] / 1000
    p99 = s[min(len(s) - 1, int(len(s) * 0.99))] / 1000
    return f"p50 {p50:8.1f} us   p99 {p99:8.1f} us"


def _time_sync(fn: Callable[[], None], n: int) -> list[int]:
    """Per-call durations of a synchronous validation."""
    for _ in range(min(200, n)):  # warm caches
        fn()
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


async def _time_async(fn: Callable[[], Awaitable[None]], n: int) -> list[int]:
    """Per-call durations of an awaited validation, as a handler would see them."""
    for _ in range(min(200, n)):
        await fn()
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        await fn()
        out.append(clock() - t0)
    return out


def _cold_start() -> None:
    """Cost of compiling validators: lazily for one action vs all at once."""
    framing._validators.clear()
    t0 = time.perf_counter_ns()
    framing.validate_request("ChangeConfiguration", _change_configuration())
    first = time.perf_counter_ns() - t0
    framing._validators.clear()
    t0 = time.perf_counter_ns()
    framing.preload()
    everything = time.perf_counter_ns() - t0
    print(f"first ChangeConfiguration validation incl. lazy compile: {first / 1000:8.1f} us")
    print(
        f"preload() of all {len(framing._validators)} validators:"
        f"               {everything / 1e6:8.2f} ms"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    cases: list[tuple[str, Callable[[], None], Callable[[], Any]]] = []

    conf = _get_configuration_conf()
    cases.append(
        (
            "GetConfiguration.conf (60 keys)",
            lambda: framing.validate_outbound("GetConfiguration", conf, result=True),
            lambda: LibCallResult("1", conf, action="GetConfiguration"),
        )
    )
    meter = _meter_values()
    cases.append(
        (
            "MeterValues.req (10 sampled values)",
            lambda: framing.validate_outbound("MeterValues", meter, result=False),
            lambda: LibCall("1", "MeterValues", meter),
        )
    )
    change = _change_configuration()
    cases.append(
        (
            "ChangeConfiguration.req",
            lambda: framing.validate_request("ChangeConfiguration", change),
            lambda: LibCall("1", "ChangeConfiguration", change),
        )
    )

    print(f"python {sys.version.split()[0]}, {n} iterations per row\n")
    _cold_start()
    print()
    loop = asyncio.new_event_loop()
    try:
        for name, ours, lib_msg in cases:
            msg = lib_msg()
            print(name)
            print(f"  chargebox framing (sync, cached)   {_stats(_time_sync(ours, n))}")

            async def lib_validate(msg: Any = msg) -> None:
                await messages.validate_payload(msg, "1.6")

            messages.ASYNC_VALIDATION = True
            lib_async = loop.run_until_complete(_time_async(lib_validate, n))
            print(f"  ocpp validate_payload (executor)   {_stats(lib_async)}")
            messages.ASYNC_VALIDATION = False
            lib_sync = loop.run_until_complete(_time_async(lib_validate, n))
            print(f"  ocpp validate_payload (sync mode)  {_stats(lib_sync)}")
            messages.ASYNC_VALIDATION = True
    finally:
        loop.close()


if __name__ == "__main__":
    main()
