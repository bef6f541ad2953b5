"""When meter values are sampled, sent and saved.

`metering` says what a sample holds; this module says when one is due:
periodic samples during a transaction (MeterValueSampleInterval), clock-aligned
ones on every connector (ClockAlignedDataInterval), triggered ones, and the
journal's meter reading that a power loss falls back on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargebox.core import metering
from chargebox.core.clock import iso
from chargebox.core.connector import Connector, Transaction
from chargebox.core.events import MeterSample

if TYPE_CHECKING:
    from chargebox.core.station import Station


class MeterSchedule:
    """The clock-aligned schedule; a transaction's own schedule lives on the transaction."""

    def __init__(self) -> None:
        self._next_aligned: float | None = None
        self._aligned_interval = 0

    def tick(self, st: Station, now: float) -> None:
        interval = st.config.get_int("MeterValueSampleInterval")
        for c in st.connectors.values():
            tx = c.transaction
            if tx is None or c.measurement is None:
                continue
            if interval > 0:
                if tx.next_sample_at is None:
                    tx.next_sample_at = now + interval
                elif now >= tx.next_sample_at:
                    sample(
                        st,
                        c,
                        "Sample.Periodic",
                        "MeterValuesSampledData",
                        "StopTxnSampledData",
                        now,
                    )
                    while tx.next_sample_at <= now:
                        tx.next_sample_at += interval
            else:
                tx.next_sample_at = None
            if now >= tx.next_persist_at:
                _persist(st, c, now)
        self._aligned(st, now)

    def _aligned(self, st: Station, now: float) -> None:
        aligned = st.config.get_int("ClockAlignedDataInterval")
        if aligned <= 0:
            self._next_aligned = None
        elif self._next_aligned is None or aligned != self._aligned_interval:
            self._next_aligned = metering.next_aligned(now, aligned)
        elif now >= self._next_aligned:
            boundary = self._next_aligned  # an aligned value is stamped with its boundary
            for c in st.connectors.values():
                if c.measurement is not None:
                    sample(
                        st,
                        c,
                        "Sample.Clock",
                        "MeterValuesAlignedData",
                        "StopTxnAlignedData",
                        boundary,
                    )
            self._next_aligned = metering.next_aligned(now, aligned)
        self._aligned_interval = aligned


def sample(
    st: Station, c: Connector, context: str, key: str, stop_key: str | None, now: float
) -> None:
    """Publish the `key` measurands; during a transaction keep the `stop_key` ones for its stop."""
    assert c.measurement is not None
    tx = c.transaction
    local_id = tx.local_id if tx is not None else None
    values = metering.sample(c.measurement, st.config.get_csl(key), context)
    if tx is not None:
        # Journal first: a kill between the two writes must never leave a sent reading
        # above the one a power-loss stop falls back on.
        _persist(st, c, now)
    if values:
        st.bus.publish(MeterSample(now, c.id, local_id, context, values))
    if tx is not None and stop_key is not None:
        keep_for_stop(st, c, tx, stop_key, context, now)


def keep_for_stop(
    st: Station, c: Connector, tx: Transaction, stop_key: str, context: str, now: float
) -> None:
    """Add the `stop_key` measurands to the transaction's data for its StopTransaction."""
    if c.measurement is None:
        return
    data = metering.sample(c.measurement, st.config.get_csl(stop_key), context)
    if data:
        tx.data.append(MeterSample(now, c.id, tx.local_id, context, data))


def _persist(st: Station, c: Connector, now: float) -> None:
    tx = c.transaction
    if tx is not None and c.measurement is not None:
        st.journal.update_meter(tx.local_id, round(c.measurement.energy_wh), iso(now))
        tx.next_persist_at = now + st.settings.persist_meter_every_s


def trigger(st: Station, connector_id: int) -> bool:
    """A sample now, outside the schedule (connector 0: every connector)."""
    if connector_id == 0:
        targets = list(st.connectors.values())
    elif connector_id in st.connectors:
        targets = [st.connectors[connector_id]]
    else:
        targets = []
    now = st.clock.time()
    for c in targets:
        if c.measurement is not None:
            sample(st, c, "Trigger", "MeterValuesSampledData", None, now)
    return bool(targets)
