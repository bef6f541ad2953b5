"""The station: connectors, sessions and limits, driven by commands and `tick()`.

Adapters change the station only through the public methods here and learn what
happened from events on the bus. `tick()` polls the hardware ports, applies
timeouts, re-arbitrates limits and reports statuses; the app calls it a few
times a second, tests call it after moving a manual clock.

`Station` holds the state and is the one entry point; the work is done by
sibling modules, each with one job, that take the station as their first
argument (and may use its underscored state, which is theirs as well):

- `recovery`: transactions a power loss left open, closed at boot
- `polling`: what the tick reads from the hardware; plug, unplug, fault inputs
- `sessions`: authorization, transaction start and stop, detected faults
- `tokens`: idTags at the reader and the central system's verdicts
- `control`: remote start/stop, unlock, availability, reset
- `claims`: limit claims, arbitration, and the offer put on pilot and contactor
- `meter_schedule`: when meter values are sampled, sent and saved
- `status`: errors and statuses, and when a status change is reported
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chargebox.core import claims, control, polling, recovery, sessions, status, tokens
from chargebox.core.auth import AuthDecision, AuthMode, AuthSources
from chargebox.core.clock import Clock
from chargebox.core.config_keys import Configuration
from chargebox.core.connector import Connector, ConnectorHardware, ConnectorSpec, StatusReporter
from chargebox.core.errors import ErrorDef, load_catalogue
from chargebox.core.events import EventBus, StatusChanged
from chargebox.core.limits import Claim, LimitSource
from chargebox.core.meter_schedule import MeterSchedule, trigger
from chargebox.core.ports import TransactionJournal
from chargebox.core.reservations import Reservation, Reservations
from chargebox.core.types import Availability, ChargePointStatus, IdTagInfo, StopReason


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
        self._pending: dict[str, tokens.PendingToken] = {}  # idTags waiting for Authorize.conf
        self._last_id_tag: dict[int, str] = {}  # who charged last: may release a locked cable
        self._meter_schedule = MeterSchedule()
        self.reservations = Reservations(self, reservations)  # restored from the store

    # ------------------------------------------------------------ boot, tick

    def boot(self) -> None:
        """Finish what a crash left open, then take a first look at the hardware.

        A transaction still open in the journal was cut off by a power loss or a
        kill: it is stopped with reason PowerLoss at the last meter reading known.
        """
        recovery.close_interrupted(self.journal, self.bus)
        self.tick()

    def tick(self) -> None:
        now = self.clock.time()
        for c in self.connectors.values():
            polling.poll(self, c, now)
        polling.expire_authorizations(self, now)
        self.reservations.tick(now)
        claims.apply_limits(self, now)
        self._meter_schedule.tick(self, now)
        status.report(self, now)

    # ---------------------------------------------------------------- limits

    def set_claim(self, connector_id: int, claim: Claim) -> None:
        """Post or replace a limit claim; connector 0 limits the whole station."""
        claims.set_claim(self, connector_id, claim)

    def clear_claim(self, connector_id: int, source: LimitSource) -> None:
        claims.clear_claim(self, connector_id, source)

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
        claims.set_claims(self, batch, clear, delegate_station_claims)

    def can_switch_phases(self, connector_id: int) -> bool:
        """The connector's hardware can switch between 1 and 3 phases (optional port)."""
        return claims.can_switch_phases(self, connector_id)

    def set_phases(self, connector_id: int, phases: int) -> bool:
        """Switch a connector to 1 or 3 phases where the hardware can.

        The offer drops to 0 and the contactor opens before the switch; the next limit
        arbitration offers current again on the new phases.
        """
        return claims.set_phases(self, connector_id, phases)

    def may_draw(self, connector_id: int) -> bool:
        """A session on this connector may draw current now (for the energy manager)."""
        return claims.may_draw(self, self.connectors[connector_id])

    def limit_without(self, connector_id: int, sources: Iterable[LimitSource]) -> float:
        """The connector's limit over every claim except those of `sources` (amps)."""
        return claims.limit_without(self, connector_id, sources)

    # ------------------------------------------------------- meter, status

    def trigger_meter_values(self, connector_id: int) -> bool:
        """TriggerMessage(MeterValues): a sample now, outside the schedule."""
        return trigger(self, connector_id)

    def set_station_faults(self, codes: Iterable[str]) -> None:
        polling.set_station_faults(self, codes)

    def status_of(self, connector_id: int) -> tuple[ChargePointStatus, ErrorDef | None]:
        return status.status_of(self, connector_id)

    def current_statuses(self) -> list[StatusChanged]:
        """Every connector's status as of now, connector 0 first (after a (re)connect)."""
        now = self.clock.time()
        return [status.status_event(self, cid, now) for cid in (0, *self.connectors)]

    def _can_start(self, c: Connector) -> bool:
        """A new session may begin on `c` (reservations ask this too)."""
        return sessions.can_start(self, c)

    # -------------------------------------------------------------- tokens

    def present_token(self, id_tag: str, connector_id: int | None = None) -> AuthDecision | None:
        """An RFID card at the reader: stops its own session, or starts one."""
        return tokens.present_token(self, id_tag, connector_id)

    def authorization_result(self, id_tag: str, info: IdTagInfo | None) -> None:
        """The central system's answer to Authorize.req, or None when none came."""
        tokens.authorization_result(self, id_tag, info)

    def remember(self, id_tag: str, info: IdTagInfo) -> None:
        """Every IdTagInfo from the central system updates the authorization cache."""
        tokens.remember(self, id_tag, info)

    def transaction_confirmed(self, local_id: int, remote_id: int | None, info: IdTagInfo) -> None:
        """StartTransaction.conf: the central system's transactionId and verdict."""
        tokens.transaction_confirmed(self, local_id, remote_id, info)

    def remember_for_transaction(self, local_id: int, info: IdTagInfo) -> None:
        tokens.remember_for_transaction(self, local_id, info)

    def set_online(self, online: bool) -> None:
        """The OCPP adapter says whether the central system can answer right now."""
        self.online = online
        if not online:
            tokens.decide_pending_offline(self)

    # -------------------------------------------------------- remote control

    def remote_start(self, id_tag: str, connector_id: int | None = None) -> bool:
        """RemoteStartTransaction: Accepted (True) when a connector can take the session."""
        return control.remote_start(self, id_tag, connector_id)

    def remote_stop(self, remote_id: int) -> bool:
        return control.remote_stop(self, remote_id)

    def stop_transaction(self, connector_id: int, reason: StopReason = StopReason.LOCAL) -> bool:
        return control.stop_transaction(self, connector_id, reason)

    def unlock(self, connector_id: int) -> str:
        """UnlockConnector: 'Unlocked', 'UnlockFailed' or 'NotSupported'."""
        return control.unlock(self, connector_id)

    def change_availability(self, connector_id: int, availability: Availability) -> str:
        """ChangeAvailability: 'Accepted', 'Scheduled' (after a transaction) or 'Rejected'."""
        return control.change_availability(self, connector_id, availability)

    def reset(self, kind: str) -> None:
        """Reset Soft/Hard: every transaction stopped with the matching reason, then a restart."""
        control.reset(self, kind)
