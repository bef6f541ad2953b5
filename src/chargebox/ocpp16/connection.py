"""The WebSocket under the OCPP client: where to, how to log in, TLS, and when to retry.

Everything here is decided from the settings and the current configuration keys at the
moment of connecting, so a ChangeConfiguration of a key in RECONNECT_KEYS takes effect by
simply connecting again. The client (`client.py`) owns the loop; this module owns the wire.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from base64 import b64encode
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from chargebox.core.config_keys import Configuration

__all__ = [
    "MAX_BACKOFF_EXPONENT",
    "RECONNECT_KEYS",
    "OcppSettings",
    "backoff_delay",
    "close_soon",
    "connect",
]

#: Configuration keys read only when connecting: a change needs a new connection.
RECONNECT_KEYS = {"AuthorizationKey", "SecurityProfile", "WebSocketPingInterval"}

#: The backoff stops doubling here (2**16 times the minimum is far beyond any maximum).
MAX_BACKOFF_EXPONENT = 16


@dataclass(frozen=True)
class OcppSettings:
    url: str
    identity: str
    ca_file: str | None = None
    call_timeout_s: float = 30.0
    reconnect_min_s: float = 2.0
    reconnect_max_s: float = 120.0
    boot_retry_s: float = 30.0  # when BootNotification.conf says interval 0
    boot_fields: dict[str, str] = field(default_factory=dict)  # chargePointVendor, …

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/" + self.identity


def backoff_delay(settings: OcppSettings, attempt: int) -> float:
    """Exponential backoff with jitter, so a fleet does not reconnect in step after an outage."""
    ceiling = min(settings.reconnect_max_s, settings.reconnect_min_s * 2**attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _basic_auth(identity: str, config: Configuration) -> dict[str, str]:
    """Security profiles 0-2 log in with HTTP Basic auth when an AuthorizationKey is set."""
    profile = config.get_int("SecurityProfile")
    key = config.get("AuthorizationKey")
    if key and profile in (0, 1, 2):
        token = b64encode(f"{identity}:{key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


def connect(settings: OcppSettings, config: Configuration) -> Any:
    """A `websockets.connect` (use with `async with`) for the current keys and settings."""
    ssl_context = None
    if settings.endpoint.startswith("wss://"):
        ssl_context = ssl.create_default_context(cafile=settings.ca_file)
    ping = config.get_int("WebSocketPingInterval")
    return websockets.connect(
        settings.endpoint,
        subprotocols=[websockets.Subprotocol("ocpp1.6")],
        additional_headers=_basic_auth(settings.identity, config),
        ssl=ssl_context,
        ping_interval=ping or None,
        ping_timeout=(ping or None) and max(ping, 10),
        open_timeout=max(5.0, settings.call_timeout_s),
        max_size=2**20,
    )


def close_soon(ws: object) -> None:
    """Close a client connection without waiting; the reader then ends the session."""
    if isinstance(ws, ClientConnection):
        asyncio.ensure_future(ws.close())
