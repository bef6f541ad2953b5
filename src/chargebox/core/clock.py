"""Time for the core: always passed in, never read from the system here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Seconds since the epoch (UTC); the app passes the system clock, tests a manual one."""

    def time(self) -> float: ...


class ManualClock:
    """A clock that moves only when told to, so tests are exact and instant."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, now: float) -> None:
        self._now = now


def iso(ts: float) -> str:
    """OCPP timestamps: ISO 8601 UTC with a Z and millisecond precision."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    """Inverse of :func:`iso`; accepts any ISO 8601 form OCPP peers send."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
