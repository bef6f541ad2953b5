"""Smart Charging profile: SetChargingProfile, ClearChargingProfile, GetCompositeSchedule.

Also the runtime: the limit in force (the pure composite of `smart_charging.py`) becomes a
`LimitSource.SMART_CHARGING` claim on the station, re-evaluated every second and at once
after a profile or a transaction changes, so the car's current follows a period change
within a second. ChargePointMaxProfile is claimed on connector 0 (the station shares it
between charging connectors); TxDefaultProfile / TxProfile per connector.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chargebox.core.clock import iso
from chargebox.core.connector import Connector
from chargebox.core.events import TransactionStarted, TransactionStopped
from chargebox.core.limits import Claim, LimitSource
from chargebox.core.station import Station
from chargebox.ocpp16.handlers import ActionHandler
from chargebox.ocpp16.rpc import HandlerResult
from chargebox.ocpp16.smart_charging import (
    CP_MAX,
    TX,
    UNITS,
    ChargingProfile,
    Limits,
    ProfileError,
    TxState,
    check,
    composite_schedule,
    limit_at,
    matches_clear,
    replaced_by,
)
from chargebox.store.profiles import ProfileStore

if TYPE_CHECKING:
    from chargebox.ocpp16.client import OcppClient

log = logging.getLogger(__name__)

REMOTE_PROFILE_TTL_S = 180.0  # a RemoteStart's profile waits this long for its transaction
ACCEPTED = HandlerResult({"status": "Accepted"})
REJECTED = HandlerResult({"status": "Rejected"})


class SmartCharging:
    """The Smart Charging handler group and the runtime that claims its limit."""

    def __init__(self, station: Station, store: ProfileStore) -> None:
        self.client: OcppClient | None = None
        self.station = station
        self.store = store
        self.profiles: dict[int, ChargingProfile] = {}
        for rec in store.all():
            try:
                self.profiles[rec.id] = ChargingProfile.from_ocpp(rec.connector_id, rec.profile)
            except (ProfileError, KeyError, TypeError, ValueError):
                log.warning("dropping unreadable stored charging profile %s", rec.id)
                store.delete([rec.id])
        self._had_tx_profile: dict[int, int] = {}  # connector -> local id of its transaction
        self._remote: dict[str, tuple[dict[str, Any], int | None, float]] = {}
        self._claimed: dict[int, float | None] = {}
        station.bus.subscribe(TransactionStarted, self._on_started)
        station.bus.subscribe(TransactionStopped, self._on_stopped)

    def table(self) -> dict[str, ActionHandler]:
        return {
            "SetChargingProfile": self.set_charging_profile,
            "ClearChargingProfile": self.clear_charging_profile,
            "GetCompositeSchedule": self.get_composite_schedule,
        }

    # ---------------------------------------------------------------- handlers

    def _limits(self) -> Limits:
        cfg = self.station.config
        return Limits(
            max_stack_level=cfg.get_int("ChargeProfileMaxStackLevel"),
            max_periods=cfg.get_int("ChargingScheduleMaxPeriods"),
            max_installed=cfg.get_int("MaxChargingProfilesInstalled"),
            allowed_units=frozenset(cfg.get_csl("ChargingScheduleAllowedChargingRateUnit")),
        )

    def set_charging_profile(self, p: dict[str, Any]) -> HandlerResult:
        connector_id = p["connectorId"]
        raw = dict(p["csChargingProfiles"])
        if connector_id != 0 and connector_id not in self.station.connectors:
            return REJECTED
        try:
            profile = ChargingProfile.from_ocpp(connector_id, raw)
            check(profile, self._limits())
        except ProfileError as exc:
            log.info("SetChargingProfile rejected: %s", exc)
            return REJECTED
        if profile.purpose == CP_MAX and connector_id != 0:
            return REJECTED
        if profile.purpose == TX:
            c = self.station.connectors.get(connector_id)
            tx = c.transaction if c is not None else None
            if tx is None:
                return REJECTED  # OCTT TC_058_1: no transaction
            if profile.transaction_id is None:
                profile = profile.with_transaction(tx.remote_id)
            elif profile.transaction_id != tx.remote_id:
                return REJECTED  # OCTT TC_058_2: another transaction
        if not self._install(profile):
            return REJECTED
        self.evaluate()
        return ACCEPTED

    def _install(self, profile: ChargingProfile) -> bool:
        replaced = replaced_by(self.profiles.values(), profile)
        if len(self.profiles) - len(replaced) + 1 > self._limits().max_installed:
            log.info("charging profile %s refused: MaxChargingProfilesInstalled", profile.id)
            return False
        self.store.install(profile.connector_id, profile.raw, [r.id for r in replaced])
        for r in replaced:
            self.profiles.pop(r.id, None)
        self.profiles[profile.id] = profile
        if profile.purpose == TX:
            c = self.station.connectors[profile.connector_id]
            if c.transaction is not None:
                self._had_tx_profile[c.id] = c.transaction.local_id
        return True

    def clear_charging_profile(self, p: dict[str, Any]) -> HandlerResult:
        ids = [
            profile.id
            for profile in self.profiles.values()
            if matches_clear(
                profile,
                profile_id=p.get("id"),
                connector_id=p.get("connectorId"),
                purpose=p.get("chargingProfilePurpose"),
                stack_level=p.get("stackLevel"),
            )
        ]
        if not ids:
            return HandlerResult({"status": "Unknown"})
        self._remove(ids)
        self.evaluate()
        return ACCEPTED

    def _remove(self, ids: list[int]) -> None:
        self.store.delete(ids)
        for i in ids:
            self.profiles.pop(i, None)

    def get_composite_schedule(self, p: dict[str, Any]) -> HandlerResult:
        connector_id = p["connectorId"]
        unit = p.get("chargingRateUnit", "A")
        if connector_id != 0 and connector_id not in self.station.connectors:
            return REJECTED
        if UNITS[unit] not in self._limits().allowed_units:
            return REJECTED
        c = self.station.connectors.get(connector_id)
        schedule = composite_schedule(
            list(self.profiles.values()),
            connector_id,
            self.station.clock.time(),
            p["duration"],
            transaction=self._tx_state(c) if c is not None else None,
            unit=unit,
            phases=c.spec.phases if c is not None else 3,
            default_limit_a=self._default_limit(c),
        )
        return HandlerResult(
            {
                "status": "Accepted",
                "connectorId": connector_id,
                "scheduleStart": iso(schedule.start),
                "chargingSchedule": schedule.to_ocpp(),
            }
        )

    def _default_limit(self, c: Connector | None) -> float:
        """What the station allows where no profile limits: its rating and installation."""
        s = self.station.settings
        rated = (
            c.spec.max_current_a
            if c is not None
            else max((x.spec.max_current_a for x in self.station.connectors.values()), default=0)
        )
        caps = [x for x in (s.installation_limit_a, s.operator_limit_a) if x is not None]
        return min([rated, *caps])

    # ---------------------------------------------------- RemoteStartTransaction

    def remote_start_with_profile(
        self,
        id_tag: str,
        connector_id: int | None,
        raw: dict[str, Any],
        start: Callable[[], bool],
    ) -> bool:
        """RemoteStartTransaction with a chargingProfile: only a TxProfile (OCTT TC_060).

        The profile waits for the transaction it starts and is installed then (TC_059).
        """
        try:
            if raw.get("chargingProfilePurpose") != TX:
                raise ProfileError("RemoteStartTransaction takes a TxProfile only")
            check(ChargingProfile.from_ocpp(connector_id or 1, raw), self._limits())
        except ProfileError as exc:
            log.info("RemoteStartTransaction rejected: %s", exc)
            return False
        key = id_tag.casefold()
        deadline = self.station.clock.time() + REMOTE_PROFILE_TTL_S
        self._remote[key] = (raw, connector_id, deadline)
        ok = start()
        if not ok:
            self._remote.pop(key, None)
        return ok

    # ----------------------------------------------------------------- runtime

    def _on_started(self, event: TransactionStarted) -> None:
        pending = self._remote.pop(event.id_tag.casefold(), None)
        if pending is not None:
            raw, wanted, deadline = pending
            if wanted in (None, event.connector_id) and event.timestamp <= deadline:
                raw = {k: v for k, v in raw.items() if k != "transactionId"}
                try:
                    self._install(ChargingProfile.from_ocpp(event.connector_id, raw))
                except ProfileError as exc:  # checked at RemoteStart; keys may have changed
                    log.warning("RemoteStart charging profile dropped: %s", exc)
        self.evaluate()

    def _on_stopped(self, event: TransactionStopped) -> None:
        """TxProfiles end with their transaction (also one a power loss cut off)."""
        self._had_tx_profile.pop(event.connector_id, None)
        ids = [
            p.id
            for p in self.profiles.values()
            if p.purpose == TX and p.connector_id == event.connector_id
        ]
        if ids:
            self._remove(ids)
        self.evaluate()

    def _tx_state(self, c: Connector) -> TxState | None:
        tx = c.transaction
        if tx is None:
            return None
        return TxState(tx.start_time, tx.remote_id, self._had_tx_profile.get(c.id) == tx.local_id)

    def _bind_transactions(self) -> None:
        """A TxProfile from RemoteStart learns its transactionId once the CSMS gave it."""
        for p in list(self.profiles.values()):
            if p.purpose != TX:
                continue
            c = self.station.connectors.get(p.connector_id)
            tx = c.transaction if c is not None else None
            if tx is None:
                self._remove([p.id])  # its transaction is gone (e.g. ended while we were down)
            elif p.transaction_id is None and tx.remote_id is not None:
                bound = p.with_transaction(tx.remote_id)
                self.store.install(bound.connector_id, bound.raw, [p.id])
                self.profiles[p.id] = bound

    def evaluate(self) -> None:
        """Post (or withdraw) the claims for the limits in force now."""
        self._bind_transactions()
        now = self.station.clock.time()
        profiles = list(self.profiles.values())
        for c in self.station.connectors.values():
            amps = limit_at(
                profiles,
                c.id,
                now,
                transaction=self._tx_state(c),
                phases=c.spec.phases,
                station=False,
            )
            self._claim(c.id, amps)
        self._claim(0, limit_at(profiles, 0, now, tx=False))

    def _claim(self, connector_id: int, amps: float | None) -> None:
        if connector_id in self._claimed and self._claimed[connector_id] == amps:
            return
        self._claimed[connector_id] = amps
        if amps is None:
            self.station.clear_claim(connector_id, LimitSource.SMART_CHARGING)
        else:
            self.station.set_claim(connector_id, Claim.uniform(LimitSource.SMART_CHARGING, amps))

    async def run(self) -> None:
        """Re-evaluate just after every whole second, when schedule periods change."""
        while True:
            try:
                self.evaluate()
            except Exception:  # a bad profile must not stop the limit from following others
                log.exception("smart charging evaluation failed")
            now = self.station.clock.time()
            await asyncio.sleep(1.0 - now % 1.0 + 0.005)
