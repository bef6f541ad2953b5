"""Typed domain events and the one in-process bus the adapters subscribe to.

The core publishes; adapters listen. Delivery is synchronous and in order, so an
adapter sees events in the order the core decided them (an OCPP adapter must send
StatusNotification(Preparing) before StartTransaction, for instance).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chargebox.core.types import ChargePointStatus, IdTagInfo, StopReason

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    timestamp: float


@dataclass(frozen=True, slots=True)
class StatusChanged(Event):
    """A status to report (already held for MinimumStatusDuration)."""

    connector_id: int
    status: ChargePointStatus
    error_code: str = "NoError"
    vendor_error_code: str | None = None
    info: str | None = None


@dataclass(frozen=True, slots=True)
class SampledValue:
    value: str
    measurand: str = "Energy.Active.Import.Register"
    unit: str | None = "Wh"
    phase: str | None = None
    context: str = "Sample.Periodic"
    location: str | None = None


@dataclass(frozen=True, slots=True)
class MeterSample(Event):
    connector_id: int
    transaction_local_id: int | None
    context: str
    values: tuple[SampledValue, ...]


@dataclass(frozen=True, slots=True)
class TransactionStarted(Event):
    connector_id: int
    local_id: int
    id_tag: str
    meter_start_wh: int
    reservation_id: int | None = None


@dataclass(frozen=True, slots=True)
class TransactionStopped(Event):
    connector_id: int
    local_id: int
    meter_stop_wh: int
    reason: StopReason
    id_tag: str | None = None
    transaction_data: tuple[MeterSample, ...] = ()
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class AuthorizationRequested(Event):
    """The core needs the central system's word on an idTag (Authorize.req)."""

    id_tag: str


@dataclass(frozen=True, slots=True)
class AuthorizationDecided(Event):
    """A presented idTag was accepted or refused (for LEDs, UI, logs)."""

    id_tag: str
    connector_id: int | None
    info: IdTagInfo
    source: str


@dataclass(frozen=True, slots=True)
class LimitChanged(Event):
    connector_id: int
    current_a: float
    source: str


@dataclass(frozen=True, slots=True)
class AvailabilityChanged(Event):
    """Persist it: an Inoperative connector stays so across restarts."""

    connector_id: int
    availability: str
    scheduled: bool = False


@dataclass(frozen=True, slots=True)
class ConfigurationChanged(Event):
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class ResetRequested(Event):
    kind: str  # "Soft" or "Hard"


@dataclass(frozen=True, slots=True)
class ErrorChanged(Event):
    connector_id: int
    code: str
    active: bool


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], None]


@dataclass
class EventBus:
    """Synchronous publish/subscribe; a failing subscriber never stops the others."""

    _subscribers: dict[type[Event], list[Handler]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _all: list[Handler] = field(default_factory=list)

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        self._subscribers[event_type].append(handler)

    def subscribe_all(self, handler: Callable[[Event], None]) -> None:
        self._all.append(handler)

    def publish(self, event: Event) -> None:
        for handler in (*self._subscribers.get(type(event), ()), *self._all):
            try:
                handler(event)
            except Exception:  # an adapter bug must not break the station
                log.exception("event handler failed for %s", type(event).__name__)
