"""Closing the transactions a crash or power loss left open.

It needs only the journal and the bus, not a running station: at boot nothing
is known about the hardware yet, only what the journal saved before the cut.
"""

from __future__ import annotations

from chargebox.core.clock import parse_iso
from chargebox.core.events import EventBus, TransactionStopped
from chargebox.core.ports import TransactionJournal
from chargebox.core.types import StopReason


def close_interrupted(journal: TransactionJournal, bus: EventBus) -> None:
    """Stop each open transaction with reason PowerLoss at the last meter reading saved."""
    for rec in journal.open_transactions():
        meter = rec.last_meter_wh if rec.last_meter_wh is not None else rec.meter_start_wh
        when = rec.last_meter_time or rec.start_time
        journal.stop(rec.local_id, meter, when, StopReason.POWER_LOSS.value)
        bus.publish(
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
