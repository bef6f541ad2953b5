"""`chargebox sim-meter`: a simulated grid meter on the command line."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from chargebox.energy.meters.registermap import MapError, load_map
from chargebox.energy.meters.sim_server import SimMeterServer, parse_profile


def sim_meter(
    map_name: str, host: str, port: int, profile: str, unit: int | None, speed: float = 1.0
) -> int:
    if not 0 <= port <= 65535:
        print("chargebox: --port: must be between 0 and 65535", file=sys.stderr)
        return 2
    if unit is not None and not 0 <= unit <= 255:
        print("chargebox: --unit: must be between 0 and 255", file=sys.stderr)
        return 2
    if speed <= 0:
        print("chargebox: --speed: must be positive", file=sys.stderr)
        return 2
    try:
        regmap = load_map(map_name)
        source = parse_profile(profile, speed=speed)
    except (MapError, ValueError) as exc:
        print(f"chargebox: {exc}", file=sys.stderr)
        return 2

    async def serve() -> None:
        server = SimMeterServer(regmap, source, host=host, port=port, unit=unit)
        try:
            await server.start()
        except (OSError, RuntimeError) as exc:
            raise SystemExit(f"chargebox: cannot listen on {host}:{port}: {exc}") from None
        print(
            f"chargebox: simulated {regmap.title} on {host}:{server.port}, unit {server.unit}, "
            f"{regmap.function} registers, profile {profile}",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    asyncio.run(serve())
    return 0
