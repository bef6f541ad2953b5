"""The slave side of DLM: setpoints written by the master over Modbus (register 1010).

Each write is `Claim(LimitSource.DLM, amps)` on the connector. Until the first write, and
whenever no write arrives within `timeout_s`, every connector gets the disconnected limit
(still a `dlm` claim), so a slave that loses its master never draws more than that.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chargebox.core.limits import Claim, LimitSource
from chargebox.core.station import Station

log = logging.getLogger(__name__)

NO_LIMIT = 65535
DLM_SLAVE = 3


class DlmSlave:
    def __init__(self, station: Station, cfg: Any) -> None:
        self.station = station
        self.network_id = int(cfg.network_id)
        self.timeout_s = float(cfg.timeout_s)
        self.disconnected_limit_a = float(cfg.disconnected_limit_a)
        self.master = f"{cfg.master_host}:{cfg.master_port}" if cfg.master_host else ""
        self.setpoints: dict[int, int | None] = {cid: None for cid in station.connectors}
        self.last_write: float | None = None
        self.disconnected = True
        self.writes = 0
        self._apply_disconnected()

    def _apply_disconnected(self) -> None:
        self.disconnected = True
        claim = Claim.uniform(LimitSource.DLM, self.disconnected_limit_a)
        self.station.set_claims({cid: [claim] for cid in self.station.connectors})

    def check_setpoint(self, cid: int, value: int) -> str | None:
        """Why `value` is refused, or None."""
        if value in (0, NO_LIMIT):
            return None
        hw = self.station.connectors[cid].spec.max_current_a
        if not self.station.settings.min_current_a <= value <= hw:
            return f"0, {self.station.settings.min_current_a:g}-{hw:g} or 65535"
        return None

    def write_setpoint(self, cid: int, value: int) -> None:
        self.writes += 1
        self.last_write = self.station.clock.time()
        if self.disconnected:
            log.info("DLM: master writes setpoints again")
            self.disconnected = False
            self.station.set_claims(
                {c: [] for c in self.station.connectors if c != cid}, clear=[LimitSource.DLM]
            )
        self.setpoints[cid] = None if value == NO_LIMIT else int(value)
        if value == NO_LIMIT:
            self.station.set_claims({cid: []}, clear=[LimitSource.DLM])
        else:
            self.station.set_claims({cid: [Claim.uniform(LimitSource.DLM, float(value))]})

    def check(self, now: float | None = None) -> None:
        now = self.station.clock.time() if now is None else now
        if self.disconnected or self.last_write is None:
            return
        if now - self.last_write > self.timeout_s:
            log.warning(
                "DLM: no setpoint from the master for %s s: disconnected limit %s A",
                self.timeout_s,
                self.disconnected_limit_a,
            )
            self._apply_disconnected()

    async def run(self) -> None:
        while True:
            try:
                self.check()
            except Exception:
                log.exception("DLM slave check failed")
            await asyncio.sleep(0.1)

    def register_values(self, cid: int) -> dict[str, int]:
        sp = self.setpoints.get(cid)
        if self.disconnected:
            sp = int(self.disconnected_limit_a)
        return {
            "dlm_mode": DLM_SLAVE,
            "dlm_setpoint": NO_LIMIT if sp is None else sp,
            "dlm_network_id": self.network_id,
        }

    @property
    def snapshot(self) -> dict[str, Any]:
        now = self.station.clock.time()
        return {
            "role": "slave",
            "network_id": self.network_id,
            "master": self.master or None,
            "connected": not self.disconnected,
            "last_write_age_s": None
            if self.last_write is None
            else round(now - self.last_write, 2),
            "disconnected_limit_a": self.disconnected_limit_a,
            "setpoints": {str(c): v for c, v in self.setpoints.items()},
        }
