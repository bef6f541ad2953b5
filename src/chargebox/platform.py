"""The operating system below the station: network interfaces and the clock.

chargebox stores and validates the network and time settings itself; applying them to the
machine (interfaces, modem, DNS, NTP client, time zone, system clock) is the job of a
``Platform`` adapter. The simulated default, :class:`NoopPlatform`, changes nothing on the
host and logs what it would do, so a developer's laptop is never reconfigured.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

__all__ = ["NoopPlatform", "Platform"]

log = logging.getLogger("chargebox.platform")

_SECRET_FIELDS = frozenset({"sim_pin", "apn_password"})


class Platform(Protocol):
    """What a real board implements (e.g. NetworkManager / systemd-timesyncd calls)."""

    name: str

    def apply_network(self, settings: dict[str, Any]) -> None: ...

    def apply_time(self, settings: dict[str, Any]) -> None: ...

    def set_clock(self, epoch_s: float) -> None: ...


class NoopPlatform:
    """The simulated station's platform: records and logs, never touches the host."""

    name = "simulated (no-op)"

    def __init__(self) -> None:
        self.applied: list[tuple[str, dict[str, Any]]] = []

    def apply_network(self, settings: dict[str, Any]) -> None:
        shown = {k: ("********" if k in _SECRET_FIELDS and v else v) for k, v in settings.items()}
        self.applied.append(("network", shown))
        log.info("platform (no-op): would apply network settings %s", shown)

    def apply_time(self, settings: dict[str, Any]) -> None:
        self.applied.append(("time", dict(settings)))
        log.info("platform (no-op): would apply time settings %s", settings)

    def set_clock(self, epoch_s: float) -> None:
        self.applied.append(("clock", {"epoch_s": epoch_s}))
        log.info("platform (no-op): would set the system clock to %.0f", epoch_s)
