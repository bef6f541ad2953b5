"""Composition root, store part: what the station keeps in its data directory, wired in.

Part of :mod:`chargebox.app`, split out for size: the installation settings saved in the
web interface (applied over station.toml at start), the writer of configuration keys, the
runtime state kept across restarts (availability, reservations) and the API token.
"""

from __future__ import annotations

import logging
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from chargebox import settings as station_file
from chargebox.core.events import AvailabilityChanged, EventBus
from chargebox.core.reservations import ReservationChanged
from chargebox.store import ReservationStore, SettingsStore, StateStore

log = logging.getLogger("chargebox")


class SettingsWriter(ThreadPoolExecutor):
    """Writes configuration keys by one background thread, in order, so fsync never stalls
    the loop; the value is already in force in memory, the write follows within milliseconds.
    """

    def __init__(self, store: SettingsStore) -> None:
        super().__init__(max_workers=1, thread_name_prefix="settings-writer")
        self._store = store

    def write(self, key: str, value: str) -> None:
        """Queue one key's new value; ``shutdown(wait=True)`` waits for all of them."""
        self.submit(self._store.set, key, value)


def keep_state(bus: EventBus, state: StateStore, reservations: ReservationStore) -> None:
    """Persist what must survive a restart: availability, and reservations as they change."""

    def availability_changed(event: AvailabilityChanged) -> None:
        state.set("availability", str(event.connector_id), event.availability)

    def reservation_changed(event: ReservationChanged) -> None:
        if event.active:
            reservations.save(event.reservation)
        else:
            reservations.delete(event.reservation.reservation_id)

    bus.subscribe(AvailabilityChanged, availability_changed)
    bus.subscribe(ReservationChanged, reservation_changed)


def api_token(data_dir: Path) -> str:
    """CHARGEBOX_API_TOKEN, or a token made at first start and kept in the data dir."""
    env = os.environ.get("CHARGEBOX_API_TOKEN")
    if env:
        return env
    path = data_dir / "api-token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def apply_stored_overrides(
    file: station_file.StationFile, state: StateStore
) -> station_file.StationFile:
    """station.toml plus the installation settings saved in the web interface.

    ``state`` namespace ``installation``: ``connectors`` ({id: {max_current_a,
    installation_limit_a, operator_limit_a, phases, rotation}}) and ``site`` (grid,
    supply line, sub-distribution limits per phase). Applied at start; an override that
    no longer validates against the file is ignored with a warning, never fatal.
    """
    connectors = state.get("installation", "connectors") or {}
    site = state.get("installation", "site") or {}
    if not connectors and not site:
        return file
    data = file.model_dump()
    hardware = [c.model_dump() for c in file.connector_list()]
    site_data: dict[str, Any] | None = data.get("site")
    site_connectors: dict[int, dict[str, Any]] = {}
    if site_data is not None:
        site_connectors = {int(c["id"]): c for c in site_data.get("connectors", [])}
    for cid_text, values in connectors.items():
        cid = int(cid_text)
        for c in hardware:
            if c["id"] == cid and values.get("max_current_a") is not None:
                c["max_current_a"] = values["max_current_a"]
        wiring = {k: v for k, v in values.items() if k != "max_current_a" and v is not None}
        if wiring:
            site_connectors.setdefault(cid, {"id": cid}).update(wiring)
    data["connectors"] = hardware
    if site.get("grid_limit_a") is not None or site_data is not None:
        site_data = dict(site_data or {})
        for name in ("grid_limit_a", "subdistribution_limit_a", "operator_subdistribution_limit_a"):
            if name in site:
                site_data[name] = site[name]
        groups = [g for g in site_data.get("groups", []) if g.get("name") != "supply_line"]
        line = site.get("supply_line_limit_a")
        if line is not None:
            groups.append({"name": "supply_line", "limit_a": line})
            for c in hardware:
                site_connectors.setdefault(c["id"], {"id": c["id"]}).setdefault(
                    "group", "supply_line"
                )
        else:
            for c in site_connectors.values():
                if c.get("group") == "supply_line":
                    c["group"] = None
        site_data["groups"] = groups
        site_data["connectors"] = list(site_connectors.values())
        if site_data.get("grid_limit_a") is not None:
            data["site"] = site_data
    try:
        return station_file.StationFile.model_validate(data)
    except Exception as exc:  # pydantic ValidationError: keep the file's settings
        log.warning("ignoring the installation settings saved in the web interface: %s", exc)
        return file
