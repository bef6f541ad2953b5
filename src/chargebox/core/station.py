"""The station: connectors, sessions and limits, driven by commands and `tick()`.

Adapters change the station only through the public methods here and learn what
happened from events on the bus. `tick()` polls the hardware ports, applies
timeouts, re-arbitrates limits and reports statuses; the app calls it a few
times a second, tests call it after moving a manual clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chargebox.core import metering
from chargebox.core.auth import (
    AuthContext,
    AuthDecision,
    AuthMode,
    AuthSources,
    Verdict,
    decide,
    effective_mode,
    is_valid,
    normalize_tag,
    same_owner,
)
from chargebox.core.clock import Clock, iso, parse_iso
from chargebox.core.config_keys import Configuration
from chargebox.core.connector import (
    Authorization,
    Connector,
    ConnectorHardware,
    ConnectorSpec,
    StatusReporter,
    Transaction,
    derive_status,
    status_key,
)
from chargebox.core.errors import ErrorDef, Scope, Severity, load_catalogue, most_severe
from chargebox.core.events import (
    AuthorizationDecided,
    AuthorizationRequested,
    AvailabilityChanged,
    ErrorChanged,
    EventBus,
    LimitChanged,
    MeterSample,
    ResetRequested,
    StatusChanged,
    TransactionStarted,
    TransactionStopped,
)
from chargebox.core.limits import Claim, LimitSource, apply_order, arbitrate
from chargebox.core.ports import TransactionJournal
from chargebox.core.reservations import Reservation, Reservations
from chargebox.core.types import (
    AuthorizationStatus,
    Availability,
    ChargePointStatus,
    IdTagInfo,
    PilotState,
    StopReason,
)

log = logging.getLogger(__name__)

# Faults the core detects itself (the hardware cannot know it failed to report).
LOCK_FAILURE = "lock_failure"
METER_FAILURE = "power_meter_failure"
CONTACTOR_WELDED = "contactor_welded"
MODE3_ERROR = "mode3_error"

# IEC 61851-1 gives a car 3 s to answer a PWM change; until then "SuspendedEV" is not news.
EV_RESPONSE_GRACE_S = 3.0

_STOP_REASON_FOR_FAULT = {"emergency_stop": StopReason.EMERGENCY_STOP}


@dataclass(frozen=True, slots=True)
class StationSettings:
    """Station-level choices that are not OCPP keys (they come from station.toml or the UI)."""

    auth_mode: AuthMode = AuthMode.AUTO
    backend_configured: bool = False
    min_current_a: float = 6.0
    installation_limit_a: float | None = None
    operator_limit_a: float | None = None
    persist_meter_every_s: float = 10.0
    tag_case: str = "as_read"  # core.auth.TAG_CASES: how a UID read by the reader becomes an idTag


@dataclass(frozen=True, slots=True)
class PendingToken:
    id_tag: str
    connector_id: int
    purpose: str  # "start" or "stop"


class Station:
    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        config: Configuration,
        connectors: Sequence[tuple[ConnectorSpec, ConnectorHardware]],
        journal: TransactionJournal,
        auth_sources: AuthSources,
        settings: StationSettings | None = None,
        availability: Mapping[int, str] | None = None,
        station_faults: Iterable[str] = (),
        reservations: Iterable[Reservation] = (),
    ) -> None:
        self.clock = clock
        self.bus = bus
        self.config = config
        self.journal = journal
        self.auth_sources = auth_sources
        self.settings = settings or StationSettings()
        self.catalogue = load_catalogue()
        self.connectors: dict[int, Connector] = {
            spec.id: Connector(spec, hw) for spec, hw in connectors
        }
        saved = dict(availability or {})
        self.availability = Availability(saved.get(0, Availability.OPERATIVE))
        for c in self.connectors.values():
            c.availability = Availability(saved.get(c.id, Availability.OPERATIVE))
        self.station_hw_faults: frozenset[str] = frozenset(station_faults)
        self.station_claims: dict[LimitSource, Claim] = {}
        # True while the energy manager folds connector-0 claims into its allocation,
        # so they are not also shared equally here.
        self.station_claims_delegated = False
        self.online = False
        self._reporters: dict[int, StatusReporter] = {0: StatusReporter()}
        self._reporters.update({cid: StatusReporter() for cid in self.connectors})
        self._pending: dict[str, PendingToken] = {}
        self._next_aligned: float | None = None
        self._aligned_interval = 0
        self._last_id_tag: dict[int, str] = {}
        self.reservations = Reservations(self, reservations)  # restored from the store

    # ------------------------------------------------------------------ boot

    def boot(self) -> None:
        """Finish what a crash left open, then take a first look at the hardware.

        A transaction still open in the journal was cut off by a power loss or a
        kill: it is stopped with reason PowerLoss at the last meter reading known.
        """
        for rec in self.journal.open_transactions():
            meter = rec.last_meter_wh if rec.last_meter_wh is not None else rec.meter_start_wh
            when = rec.last_meter_time or rec.start_time
            self.journal.stop(rec.local_id, meter, when, StopReason.POWER_LOSS.value)
            self.bus.publish(
                TransactionStopped(
                    parse_iso(when),
                    rec.connector_id,
                    rec.local_id,
                    meter,
                    StopReason.POWER_LOSS,
                    None,
                    (),
                    recovered=True,
                )
            )
        self.tick()

    # ------------------------------------------------------------------ tick

    def tick(self) -> None:
        now = self.clock.time()
        for c in self.connectors.values():
            self._poll(c, now)
        self._expire_authorizations(now)
        self.reservations.tick(now)
        self._apply_limits(now)
        self._meter(now)
        self._report(now)

    def _poll(self, c: Connector, now: float) -> None:
        reading = c.hw.meter.read()
        if reading is None:
            self._set_detected(c, METER_FAILURE, True, now)
        else:
            c.measurement = reading
            self._set_detected(c, METER_FAILURE, False, now)
        faults = c.hw.controller.active_faults()
        if faults != c.hw_faults:
            added, removed = faults - c.hw_faults, c.hw_faults - faults
            c.hw_faults = frozenset(faults)
            for code in sorted(removed):
                self.bus.publish(ErrorChanged(now, c.id, code, False))
            for code in sorted(added):
                self.bus.publish(ErrorChanged(now, c.id, code, True))
                self._fault_raised(c, code, now)
        welded = not c.contactor_commanded and c.hw.controller.contactor_closed()
        self._set_detected(c, CONTACTOR_WELDED, welded, now)
        pilot = c.hw.controller.pilot_state()
        if pilot in (PilotState.E, PilotState.F):
            self._set_detected(c, MODE3_ERROR, True, now)
            return  # an error state is not an unplug: keep the session as it is
        self._set_detected(c, MODE3_ERROR, False, now)
        if pilot != c.pilot:
            old, c.pilot = c.pilot, pilot
            if pilot.plugged and not old.plugged:
                self._plugged_in(c, now)
            elif not pilot.plugged and old.plugged:
                self._unplugged(c, now)

    def _set_detected(self, c: Connector, code: str, active: bool, now: float) -> None:
        if active and code not in c.detected_faults:
            c.detected_faults.add(code)
            self.bus.publish(ErrorChanged(now, c.id, code, True))
            self._fault_raised(c, code, now)
        elif not active and code in c.detected_faults:
            c.detected_faults.discard(code)
            self.bus.publish(ErrorChanged(now, c.id, code, False))

    def _fault_raised(self, c: Connector, code: str, now: float) -> None:
        error = self.catalogue.get(code)
        if error is not None and error.stops_transaction and c.transaction is not None:
            self._stop(c, _STOP_REASON_FOR_FAULT.get(code, StopReason.OTHER), None, now)

    def _plugged_in(self, c: Connector, now: float) -> None:
        c.finishing = False
        if c.transaction is not None:
            c.ev_left = False  # the car came back to a transaction that kept running
            return
        if c.authorization is not None:
            self._start_transaction(c, now)
        elif self._mode() is AuthMode.FREE and self._can_start(c):
            info = IdTagInfo(AuthorizationStatus.ACCEPTED)
            self._authorize(c, self.config.get("FreeChargingIdTag"), info, "free", now)

    def _unplugged(self, c: Connector, now: float) -> None:
        tx = c.transaction
        unlock_on_disconnect = self.config.get_bool("UnlockConnectorOnEVSideDisconnect")
        if tx is not None:
            if self.config.get_bool("StopTransactionOnEVSideDisconnect"):
                self._stop(c, StopReason.EV_DISCONNECTED, None, now, unlock=unlock_on_disconnect)
            else:
                c.ev_left = True
                if unlock_on_disconnect:
                    c.hw.lock.unlock()
        elif c.hw.lock.is_locked() and (unlock_on_disconnect or not c.finishing):
            c.hw.lock.unlock()
        c.finishing = c.transaction is None and c.hw.lock.is_locked()
        if (
            c.awaiting_id_tag is None
            and c.authorization is not None
            and c.authorization.deadline is None
        ):
            c.authorization = None  # plug-first authorization goes with the car
        self._set_detected(c, LOCK_FAILURE, False, now)

    def _expire_authorizations(self, now: float) -> None:
        for c in self.connectors.values():
            auth = c.authorization
            if auth is not None and auth.deadline is not None and now >= auth.deadline:
                log.info(
                    "connector %s: no car within ConnectionTimeOut, authorization dropped", c.id
                )
                c.authorization = None

    # ---------------------------------------------------------------- limits

    def set_claim(self, connector_id: int, claim: Claim) -> None:
        """Post or replace a limit claim; connector 0 limits the whole station."""
        if connector_id == 0:
            self.station_claims[claim.source] = claim
        else:
            self.connectors[connector_id].claims[claim.source] = claim

    def clear_claim(self, connector_id: int, source: LimitSource) -> None:
        target = self.station_claims if connector_id == 0 else self.connectors[connector_id].claims
        target.pop(source, None)

    def set_claims(
        self,
        batch: Mapping[int, Iterable[Claim]],
        clear: Iterable[LimitSource] = (),
        *,
        delegate_station_claims: bool | None = None,
    ) -> None:
        """Replace several connectors' claims at once and apply them in one step.

        The sources in `clear` are removed from each connector of the batch first. The
        new setpoints go out together, decreases before increases (`apply_order`), so a
        fuse never sees more than the old or the new state allows.
        """
        drop = tuple(clear)
        for cid, claims in batch.items():
            target = self.station_claims if cid == 0 else self.connectors[cid].claims
            for source in drop:
                target.pop(source, None)
            for claim in claims:
                target[claim.source] = claim
        if delegate_station_claims is not None:
            self.station_claims_delegated = delegate_station_claims
        self._apply_limits(self.clock.time())

    def can_switch_phases(self, connector_id: int) -> bool:
        """The connector's hardware can switch between 1 and 3 phases (optional port)."""
        c = self.connectors.get(connector_id)
        return c is not None and callable(getattr(c.hw.controller, "set_phases", None))

    def set_phases(self, connector_id: int, phases: int) -> bool:
        """Switch a connector to 1 or 3 phases where the hardware can.

        The offer drops to 0 and the contactor opens before the switch; the next limit
        arbitration offers current again on the new phases.
        """
        c = self.connectors.get(connector_id)
        switch = getattr(c.hw.controller, "set_phases", None) if c is not None else None
        if c is None or switch is None or phases not in (1, 3):
            return False
        self._output(c, 0.0)
        ok = bool(switch(phases))
        self._apply_limits(self.clock.time())
        return ok

    def may_draw(self, connector_id: int) -> bool:
        """A session on this connector may draw current now (for the energy manager)."""
        return self._may_draw(self.connectors[connector_id])

    def limit_without(self, connector_id: int, sources: Iterable[LimitSource]) -> float:
        """The connector's limit over every claim except those of `sources` (amps)."""
        c = self.connectors[connector_id]
        skip = set(sources)
        sharing = max(1, sum(1 for x in self.connectors.values() if x.transaction is not None))
        phases = range(c.spec.phases) if c.spec.phases < 3 else range(3)
        claims = [k for k in self._claims_for(c, sharing) if k.source not in skip]
        return arbitrate(claims, phases_used=phases, min_current_a=0.0).unpaused_a

    def _claims_for(self, c: Connector, sharing: int) -> list[Claim]:
        s = self.settings
        claims = [Claim.uniform(LimitSource.HARDWARE, c.spec.max_current_a)]
        cable = c.hw.controller.cable_rating_a() if c.pilot.plugged else None
        if cable is not None:
            claims.append(Claim.uniform(LimitSource.CABLE, cable))
        if s.installation_limit_a is not None:
            claims.append(Claim.uniform(LimitSource.INSTALLATION, s.installation_limit_a))
        if s.operator_limit_a is not None:
            claims.append(Claim.uniform(LimitSource.OPERATOR, s.operator_limit_a))
        claims.extend(c.claims.values())
        # A station-wide claim is shared equally between the connectors that charge
        # (unless the energy manager allocates it).
        for claim in () if self.station_claims_delegated else self.station_claims.values():
            claims.append(Claim(claim.source, tuple(a / sharing for a in claim.amps)))  # type: ignore[arg-type]
        return claims

    def _apply_limits(self, now: float) -> None:
        sharing = max(1, sum(1 for c in self.connectors.values() if c.transaction is not None))
        targets: dict[int, float] = {}
        for c in self.connectors.values():
            phases = range(c.spec.phases) if c.spec.phases < 3 else range(3)
            limit = arbitrate(
                self._claims_for(c, sharing),
                phases_used=phases,
                min_current_a=self.settings.min_current_a,
            )
            if (limit.current_a, limit.source) != (c.limit.current_a, c.limit.source):
                self.bus.publish(LimitChanged(now, c.id, limit.current_a, limit.source.value))
            c.limit = limit
            targets[c.id] = limit.current_a if self._may_draw(c) else 0.0
        old = {cid: c.offered_a for cid, c in self.connectors.items()}
        for cid in apply_order(old, targets):
            self._output(self.connectors[cid], targets[cid])

    def _may_draw(self, c: Connector) -> bool:
        tx = c.transaction
        if tx is None or c.ev_left or not c.pilot.plugged:
            return False
        if self._errors(c, faults_only=True) or self._station_errors(faults_only=True):
            return False
        if tx.energy_budget_wh is not None and c.measurement is not None:
            return c.measurement.energy_wh < tx.energy_budget_wh
        return True

    def _output(self, c: Connector, amps: float) -> None:
        """Pilot before contactor: lower the current first, open last; close first, then offer."""
        close = amps > 0 and c.pilot.wants_energy
        if amps != c.offered_a:
            if c.offered_a <= 0 < amps:
                c.offered_since = self.clock.time()
            elif amps <= 0:
                c.offered_since = None
            c.hw.controller.set_pilot_current(amps)
            c.offered_a = amps
        if close != c.contactor_commanded:
            c.hw.controller.set_contactor(close)
            c.contactor_commanded = close

    # -------------------------------------------------------------- metering

    def _meter(self, now: float) -> None:
        interval = self.config.get_int("MeterValueSampleInterval")
        for c in self.connectors.values():
            tx = c.transaction
            if tx is None or c.measurement is None:
                continue
            if interval > 0:
                if tx.next_sample_at is None:
                    tx.next_sample_at = now + interval
                elif now >= tx.next_sample_at:
                    self._sample(
                        c, "Sample.Periodic", "MeterValuesSampledData", "StopTxnSampledData", now
                    )
                    while tx.next_sample_at <= now:
                        tx.next_sample_at += interval
                    self._persist_meter(c, now)
            else:
                tx.next_sample_at = None
            if now >= tx.next_persist_at:
                self._persist_meter(c, now)
        aligned = self.config.get_int("ClockAlignedDataInterval")
        if aligned <= 0:
            self._next_aligned = None
        elif self._next_aligned is None or aligned != self._aligned_interval:
            self._next_aligned = metering.next_aligned(now, aligned)
        elif now >= self._next_aligned:
            boundary = self._next_aligned  # an aligned value is stamped with its boundary
            for c in self.connectors.values():
                if c.measurement is not None:
                    self._sample(
                        c, "Sample.Clock", "MeterValuesAlignedData", "StopTxnAlignedData", boundary
                    )
            self._next_aligned = metering.next_aligned(now, aligned)
        self._aligned_interval = aligned

    def _sample(
        self, c: Connector, context: str, key: str, stop_key: str | None, now: float
    ) -> None:
        assert c.measurement is not None
        tx = c.transaction
        local_id = tx.local_id if tx is not None else None
        values = metering.sample(c.measurement, self.config.get_csl(key), context)
        if values:
            self.bus.publish(MeterSample(now, c.id, local_id, context, values))
        if tx is not None and stop_key is not None:
            data = metering.sample(c.measurement, self.config.get_csl(stop_key), context)
            if data:
                tx.data.append(MeterSample(now, c.id, local_id, context, data))

    def _persist_meter(self, c: Connector, now: float) -> None:
        tx = c.transaction
        if tx is not None and c.measurement is not None:
            self.journal.update_meter(tx.local_id, round(c.measurement.energy_wh), iso(now))
            tx.next_persist_at = now + self.settings.persist_meter_every_s

    def trigger_meter_values(self, connector_id: int) -> bool:
        """TriggerMessage(MeterValues): a sample now, outside the schedule."""
        targets = (
            list(self.connectors.values())
            if connector_id == 0
            else [self.connectors[connector_id]]
            if connector_id in self.connectors
            else []
        )
        now = self.clock.time()
        for c in targets:
            if c.measurement is not None:
                self._sample(c, "Trigger", "MeterValuesSampledData", None, now)
        return bool(targets)

    # ---------------------------------------------------------------- status

    def _errors(self, c: Connector, faults_only: bool = False) -> list[ErrorDef]:
        return [
            e
            for code in sorted(c.fault_codes)
            if (e := self.catalogue.get(code)) is not None
            and e.scope is not Scope.STATION
            and (not faults_only or e.severity is Severity.FAULT)
        ]

    def _station_errors(self, faults_only: bool = False, *, for_cp: bool = False) -> list[ErrorDef]:
        """Errors of the whole station: raised at connector 0, or station-scoped anywhere.

        With `for_cp` (connector 0's own report) a connector's "both"-scoped error counts
        too; it is reported on the charge point as well but does not stop other connectors.
        """
        found: list[ErrorDef] = []
        for code in sorted(self.station_hw_faults):
            e = self.catalogue.get(code)
            if e is not None and e.scope is not Scope.CONNECTOR:
                found.append(e)
        for c in self.connectors.values():
            for code in sorted(c.fault_codes):
                e = self.catalogue.get(code)
                if e is not None and (
                    e.scope is Scope.STATION or (for_cp and e.scope is Scope.BOTH)
                ):
                    found.append(e)
        return [e for e in found if not faults_only or e.severity is Severity.FAULT]

    def set_station_faults(self, codes: Iterable[str]) -> None:
        new = frozenset(codes)
        now = self.clock.time()
        for code in sorted(new - self.station_hw_faults):
            self.bus.publish(ErrorChanged(now, 0, code, True))
            for c in self.connectors.values():
                self._fault_raised(c, code, now)
        for code in sorted(self.station_hw_faults - new):
            self.bus.publish(ErrorChanged(now, 0, code, False))
        self.station_hw_faults = new

    def status_of(self, connector_id: int) -> tuple[ChargePointStatus, ErrorDef | None]:
        station_errors = self._station_errors(for_cp=connector_id == 0)
        if connector_id == 0:
            worst = most_severe(station_errors)
            if worst is not None and worst.severity is Severity.FAULT:
                return ChargePointStatus.FAULTED, worst
            if self.availability is Availability.INOPERATIVE:
                return ChargePointStatus.UNAVAILABLE, worst
            return ChargePointStatus.AVAILABLE, worst
        c = self.connectors[connector_id]
        faults = [e for e in station_errors if e.severity is Severity.FAULT]
        return derive_status(c, self._errors(c), faults)

    def current_statuses(self) -> list[StatusChanged]:
        """Every connector's status as of now, connector 0 first (after a (re)connect)."""
        now = self.clock.time()
        out = []
        for cid in (0, *self.connectors):
            status, error = self.status_of(cid)
            key = status_key(status, error)
            out.append(StatusChanged(now, cid, key[0], key[1], key[2]))
        return out

    def _report(self, now: float) -> None:
        minimum = float(self.config.get_int("MinimumStatusDuration"))
        for cid, reporter in self._reporters.items():
            status, error = self.status_of(cid)
            if status is ChargePointStatus.SUSPENDED_EV and self._car_still_responding(cid, now):
                continue  # energy was offered a moment ago: give the car time to take it
            key = reporter.observe(status_key(status, error), now, minimum)
            if key is not None:
                self.bus.publish(StatusChanged(now, cid, key[0], key[1], key[2]))

    def _car_still_responding(self, connector_id: int, now: float) -> bool:
        c = self.connectors[connector_id]
        return c.offered_since is not None and now - c.offered_since < EV_RESPONSE_GRACE_S

    # ------------------------------------------------------------ sessions

    def _mode(self) -> AuthMode:
        """The OCPP key FreeChargingEnabled switches free charging on over any file setting."""
        if self.config.get_bool("FreeChargingEnabled"):
            return AuthMode.FREE
        return effective_mode(self.settings.auth_mode, self.settings.backend_configured)

    def _can_start(self, c: Connector) -> bool:
        return (
            c.transaction is None
            and not c.finishing
            and c.availability is Availability.OPERATIVE
            and self.availability is Availability.OPERATIVE
            and not self._errors(c, faults_only=True)
            and not self._station_errors(faults_only=True)
        )

    def _auth_context(self, online: bool | None = None) -> AuthContext:
        cfg = self.config
        return AuthContext(
            backend=self.settings.backend_configured,
            online=self.online if online is None else online,
            now=self.clock.time(),
            local_pre_authorize=cfg.get_bool("LocalPreAuthorize"),
            local_authorize_offline=cfg.get_bool("LocalAuthorizeOffline"),
            allow_offline_tx_for_unknown_id=cfg.get_bool("AllowOfflineTxForUnknownId"),
            authorization_cache_enabled=cfg.get_bool("AuthorizationCacheEnabled"),
            local_auth_list_enabled=cfg.get_bool("LocalAuthListEnabled"),
        )

    def _authorize(
        self, c: Connector, id_tag: str, info: IdTagInfo, source: str, now: float
    ) -> bool:
        """False when a reservation keeps the connector for another idTag."""
        admitted, reservation_id = self.reservations.admit(c, id_tag, info.parent_id_tag)
        if not admitted:
            c.awaiting_id_tag = None
            self.bus.publish(AuthorizationDecided(now, id_tag, c.id, info, "reserved"))
            return False
        deadline = None if c.pilot.plugged else now + self.config.get_int("ConnectionTimeOut")
        c.authorization = Authorization(id_tag, info, source, deadline, reservation_id)
        c.awaiting_id_tag = None
        self.bus.publish(AuthorizationDecided(now, id_tag, c.id, info, source))
        if c.pilot.plugged:
            self._start_transaction(c, now)
        return True

    def _start_transaction(self, c: Connector, now: float) -> None:
        auth = c.authorization
        assert auth is not None
        if not c.hw.lock.fixed_cable and not c.hw.lock.is_locked() and not c.hw.lock.lock():
            c.authorization = None
            self._set_detected(c, LOCK_FAILURE, True, now)
            return
        self._report(now)  # Preparing goes out before StartTransaction
        meter = round(c.measurement.energy_wh) if c.measurement is not None else 0
        auth.reservation_id = self.reservations.consume(auth.reservation_id)
        local_id = self.journal.create(
            c.id, auth.id_tag, meter, iso(now), auth.info.parent_id_tag, auth.reservation_id
        )
        tx = Transaction(
            local_id, c.id, auth.id_tag, now, meter, auth.info.parent_id_tag, auth.reservation_id
        )
        c.transaction, c.authorization, c.finishing = tx, None, False
        self._last_id_tag[c.id] = auth.id_tag
        if c.measurement is not None:
            data = metering.sample(
                c.measurement, self.config.get_csl("StopTxnSampledData"), "Transaction.Begin"
            )
            if data:
                tx.data.append(MeterSample(now, c.id, local_id, "Transaction.Begin", data))
        self.bus.publish(
            TransactionStarted(now, c.id, local_id, auth.id_tag, meter, auth.reservation_id)
        )
        self._apply_limits(now)

    def _stop(
        self,
        c: Connector,
        reason: StopReason,
        id_tag: str | None,
        now: float,
        *,
        unlock: bool = True,
    ) -> None:
        tx = c.transaction
        assert tx is not None
        self._output(c, 0.0)
        meter = round(c.measurement.energy_wh) if c.measurement is not None else tx.meter_start_wh
        if c.measurement is not None:
            data = metering.sample(
                c.measurement, self.config.get_csl("StopTxnSampledData"), "Transaction.End"
            )
            if data:
                tx.data.append(MeterSample(now, c.id, tx.local_id, "Transaction.End", data))
        self.journal.stop(tx.local_id, meter, iso(now), reason.value, id_tag)
        c.transaction, c.ev_left = None, False
        lock = c.hw.lock
        if unlock and not lock.fixed_cable and lock.is_locked() and not lock.unlock():
            self._set_detected(c, LOCK_FAILURE, True, now)
        c.finishing = c.pilot.plugged or c.hw.lock.is_locked()
        self.bus.publish(
            TransactionStopped(now, c.id, tx.local_id, meter, reason, id_tag, tuple(tx.data))
        )
        if c.scheduled_availability is not None:
            self._set_availability(c, c.scheduled_availability, now)

    # -------------------------------------------------------------- tokens

    def present_token(self, id_tag: str, connector_id: int | None = None) -> AuthDecision | None:
        """An RFID card at the reader: stops its own session, or starts one."""
        id_tag = normalize_tag(id_tag, self.settings.tag_case)
        now = self.clock.time()
        for c in self.connectors.values():
            tx = c.transaction
            if (
                tx is not None
                and connector_id in (None, c.id)
                and same_owner(id_tag, tx.id_tag, None, None)
            ):
                self._stop(c, StopReason.LOCAL, id_tag, now)
                return AuthDecision(
                    Verdict.ACCEPT, IdTagInfo(AuthorizationStatus.ACCEPTED), "owner"
                )
            if (
                c.transaction is None
                and c.finishing
                and c.hw.lock.is_locked()
                and connector_id in (None, c.id)
                and self._last_id_tag.get(c.id, "").casefold() == id_tag.casefold()
            ):
                c.hw.lock.unlock()  # the owner releases a cable left locked
                c.finishing = c.pilot.plugged
                return AuthDecision(
                    Verdict.ACCEPT, IdTagInfo(AuthorizationStatus.ACCEPTED), "owner"
                )
        for c in self.connectors.values():
            auth = c.authorization
            if (
                auth is not None
                and connector_id in (None, c.id)
                and (auth.id_tag.casefold() == id_tag.casefold())
            ):
                c.authorization = None  # the same card again cancels a waiting session
                return None
        target = self._select_connector(connector_id, id_tag)
        if target is None:
            return None
        purpose = "stop" if target.transaction is not None else "start"
        decision = decide(id_tag, self._auth_context(), self.auth_sources, target.id)
        self._apply_decision(target, id_tag, decision, purpose, now)
        return decision

    def _select_connector(
        self, connector_id: int | None, id_tag: str | None = None
    ) -> Connector | None:
        if connector_id is not None:
            return self.connectors.get(connector_id)
        free = self.reservations.order(
            [c for c in self.connectors.values() if self._can_start(c)], id_tag
        )
        for c in free:
            if c.pilot.plugged and c.authorization is None and c.awaiting_id_tag is None:
                return c
        for c in free:
            if not c.busy:
                return c
        running = [c for c in self.connectors.values() if c.transaction is not None]
        return running[0] if len(running) == 1 else None

    def _apply_decision(
        self, c: Connector, id_tag: str, decision: AuthDecision, purpose: str, now: float
    ) -> None:
        if decision.verdict is Verdict.ASK:
            self._pending[id_tag.casefold()] = PendingToken(id_tag, c.id, purpose)
            if purpose == "start":
                c.awaiting_id_tag = id_tag
            self.bus.publish(AuthorizationRequested(now, id_tag))
            return
        info = decision.info or IdTagInfo(AuthorizationStatus.INVALID)
        accepted = decision.verdict is Verdict.ACCEPT
        if purpose == "stop":
            tx = c.transaction
            if (
                tx is not None
                and accepted
                and same_owner(id_tag, tx.id_tag, info.parent_id_tag, tx.parent_id_tag)
            ):
                self._stop(c, StopReason.LOCAL, id_tag, now)
            else:
                self.bus.publish(AuthorizationDecided(now, id_tag, c.id, info, decision.source))
            return
        if c.awaiting_id_tag is not None and c.awaiting_id_tag.casefold() == id_tag.casefold():
            c.awaiting_id_tag = None
        if accepted and self._can_start(c):
            self._authorize(c, id_tag, info, decision.source, now)
        else:
            self.bus.publish(AuthorizationDecided(now, id_tag, c.id, info, decision.source))

    def authorization_result(self, id_tag: str, info: IdTagInfo | None) -> None:
        """The central system's answer to Authorize.req, or None when none came."""
        now = self.clock.time()
        if info is not None:
            self.remember(id_tag, info)
        pending = self._pending.pop(id_tag.casefold(), None)
        if pending is None:
            return
        c = self.connectors[pending.connector_id]
        if info is None:
            decision = decide(id_tag, self._auth_context(online=False), self.auth_sources, c.id)
        else:
            verdict = Verdict.ACCEPT if is_valid(info, now) else Verdict.REJECT
            decision = AuthDecision(verdict, info, "backend")
        self._apply_decision(c, id_tag, decision, pending.purpose, now)

    def remember(self, id_tag: str, info: IdTagInfo) -> None:
        """Every IdTagInfo from the central system updates the authorization cache."""
        if self.config.get_bool("AuthorizationCacheEnabled"):
            self.auth_sources.remember(id_tag, info)  # type: ignore[attr-defined]

    def transaction_confirmed(self, local_id: int, remote_id: int | None, info: IdTagInfo) -> None:
        """StartTransaction.conf: the central system's transactionId and verdict."""
        now = self.clock.time()
        self.remember_for_transaction(local_id, info)
        for c in self.connectors.values():
            tx = c.transaction
            if tx is None or tx.local_id != local_id:
                continue
            tx.remote_id = remote_id
            tx.id_tag_status = info.status
            if info.parent_id_tag:
                tx.parent_id_tag = info.parent_id_tag
            if info.status is AuthorizationStatus.ACCEPTED:
                return
            if self.config.get_bool("StopTransactionOnInvalidId"):
                self._stop(c, StopReason.DE_AUTHORIZED, None, now)
            else:
                budget = self.config.get_int("MaxEnergyOnInvalidId")
                used = c.measurement.energy_wh if c.measurement is not None else tx.meter_start_wh
                tx.energy_budget_wh = used + budget
                self._apply_limits(now)
            return

    def remember_for_transaction(self, local_id: int, info: IdTagInfo) -> None:
        for c in self.connectors.values():
            if c.transaction is not None and c.transaction.local_id == local_id:
                self.remember(c.transaction.id_tag, info)

    # -------------------------------------------------------- remote control

    def remote_start(self, id_tag: str, connector_id: int | None = None) -> bool:
        """RemoteStartTransaction: Accepted (True) when a connector can take the session."""
        if connector_id is not None and connector_id not in self.connectors:
            return False
        c = self._select_connector(connector_id, id_tag)
        if c is None or not self._can_start(c) or c.authorization is not None or c.awaiting_id_tag:
            return False
        if not self.reservations.may_try(c, id_tag):
            return False  # reserved for another idTag
        now = self.clock.time()
        if self.config.get_bool("AuthorizeRemoteTxRequests"):
            decision = decide(id_tag, self._auth_context(), self.auth_sources, c.id)
            self._apply_decision(c, id_tag, decision, "start", now)
            return True
        info = IdTagInfo(AuthorizationStatus.ACCEPTED)
        return self._authorize(c, id_tag, info, "remote", now)

    def remote_stop(self, remote_id: int) -> bool:
        for c in self.connectors.values():
            if c.transaction is not None and c.transaction.remote_id == remote_id:
                self._stop(c, StopReason.REMOTE, None, self.clock.time())
                return True
        return False

    def stop_transaction(self, connector_id: int, reason: StopReason = StopReason.LOCAL) -> bool:
        c = self.connectors.get(connector_id)
        if c is None or c.transaction is None:
            return False
        self._stop(c, reason, None, self.clock.time())
        return True

    def unlock(self, connector_id: int) -> str:
        """UnlockConnector: 'Unlocked', 'UnlockFailed' or 'NotSupported'."""
        c = self.connectors.get(connector_id)
        if c is None or c.hw.lock.fixed_cable:
            return "NotSupported"
        now = self.clock.time()
        if c.transaction is not None:
            self._stop(c, StopReason.UNLOCK_COMMAND, None, now, unlock=False)
        if not c.hw.lock.unlock():
            self._set_detected(c, LOCK_FAILURE, True, now)
            return "UnlockFailed"
        self._set_detected(c, LOCK_FAILURE, False, now)
        c.finishing = c.pilot.plugged
        return "Unlocked"

    def change_availability(self, connector_id: int, availability: Availability) -> str:
        """ChangeAvailability: 'Accepted', 'Scheduled' (after a transaction) or 'Rejected'."""
        if connector_id != 0 and connector_id not in self.connectors:
            return "Rejected"
        now = self.clock.time()
        targets = (
            list(self.connectors.values()) if connector_id == 0 else [self.connectors[connector_id]]
        )
        scheduled = False
        for c in targets:
            if c.transaction is not None and availability is Availability.INOPERATIVE:
                c.scheduled_availability = availability
                scheduled = True
                self.bus.publish(AvailabilityChanged(now, c.id, availability.value, True))
            else:
                self._set_availability(c, availability, now)
        if connector_id == 0:
            self.availability = availability
            self.bus.publish(AvailabilityChanged(now, 0, availability.value, scheduled))
        return "Scheduled" if scheduled else "Accepted"

    def _set_availability(self, c: Connector, availability: Availability, now: float) -> None:
        c.availability, c.scheduled_availability = availability, None
        if availability is Availability.INOPERATIVE:
            c.authorization = None
            c.awaiting_id_tag = None
        self.bus.publish(AvailabilityChanged(now, c.id, availability.value, False))

    def reset(self, kind: str) -> None:
        """Reset Soft/Hard: every transaction stopped with the matching reason, then a restart."""
        reason = StopReason.HARD_RESET if kind == "Hard" else StopReason.SOFT_RESET
        now = self.clock.time()
        for c in self.connectors.values():
            if c.transaction is not None:
                self._stop(c, reason, None, now)
        self.bus.publish(ResetRequested(now, kind))

    def set_online(self, online: bool) -> None:
        """The OCPP adapter says whether the central system can answer right now."""
        self.online = online
        if not online:
            # Answers to pending Authorize.req will not come: decide them offline.
            for token in list(self._pending.values()):
                self.authorization_result(token.id_tag, None)
