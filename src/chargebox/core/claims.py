"""From the claims posted on a connector to the current its car is offered.

`limits.arbitrate` does the arithmetic; this module knows where the claims come
from (hardware, cable, installation, operator, the posted ones, a share of the
station's) and puts the result on the hardware in a safe order: decreases before
increases across connectors, and on one connector pilot before contactor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from chargebox.core.connector import Connector
from chargebox.core.events import LimitChanged
from chargebox.core.limits import Claim, LimitSource, apply_order, arbitrate
from chargebox.core.status import is_faulted

if TYPE_CHECKING:
    from chargebox.core.station import Station


def _claim_book(st: Station, connector_id: int) -> dict[LimitSource, Claim]:
    """Connector 0's claims limit the whole station."""
    return st.station_claims if connector_id == 0 else st.connectors[connector_id].claims


def set_claim(st: Station, connector_id: int, claim: Claim) -> None:
    _claim_book(st, connector_id)[claim.source] = claim


def clear_claim(st: Station, connector_id: int, source: LimitSource) -> None:
    _claim_book(st, connector_id).pop(source, None)


def set_claims(
    st: Station,
    batch: Mapping[int, Iterable[Claim]],
    clear: Iterable[LimitSource],
    delegate_station_claims: bool | None,
) -> None:
    drop = tuple(clear)
    for cid, posted in batch.items():
        book = _claim_book(st, cid)
        for source in drop:
            book.pop(source, None)
        for claim in posted:
            book[claim.source] = claim
    if delegate_station_claims is not None:
        st.station_claims_delegated = delegate_station_claims
    apply_limits(st, st.clock.time())


def can_switch_phases(st: Station, connector_id: int) -> bool:
    c = st.connectors.get(connector_id)
    return c is not None and callable(getattr(c.hw.controller, "set_phases", None))


def set_phases(st: Station, connector_id: int, phases: int) -> bool:
    c = st.connectors.get(connector_id)
    switch = getattr(c.hw.controller, "set_phases", None) if c is not None else None
    if c is None or switch is None or phases not in (1, 3):
        return False
    output(st, c, 0.0)
    ok = bool(switch(phases))
    apply_limits(st, st.clock.time())
    return ok


def limit_without(st: Station, connector_id: int, sources: Iterable[LimitSource]) -> float:
    c = st.connectors[connector_id]
    skip = set(sources)
    claims = [k for k in _claims_for(st, c, _sharing(st)) if k.source not in skip]
    return arbitrate(claims, phases_used=_phases_used(c), min_current_a=0.0).unpaused_a


def _sharing(st: Station) -> int:
    """How many connectors share a station-wide claim: those with a transaction."""
    return max(1, sum(1 for c in st.connectors.values() if c.transaction is not None))


def _phases_used(c: Connector) -> range:
    return range(c.spec.phases) if c.spec.phases < 3 else range(3)


def _claims_for(st: Station, c: Connector, sharing: int) -> list[Claim]:
    s = st.settings
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
    for claim in () if st.station_claims_delegated else st.station_claims.values():
        claims.append(Claim(claim.source, tuple(a / sharing for a in claim.amps)))  # type: ignore[arg-type]
    return claims


def apply_limits(st: Station, now: float) -> None:
    """Re-arbitrate every connector and put the new offers out together."""
    sharing = _sharing(st)
    targets: dict[int, float] = {}
    for c in st.connectors.values():
        limit = arbitrate(
            _claims_for(st, c, sharing),
            phases_used=_phases_used(c),
            min_current_a=st.settings.min_current_a,
        )
        if (limit.current_a, limit.source) != (c.limit.current_a, c.limit.source):
            st.bus.publish(LimitChanged(now, c.id, limit.current_a, limit.source.value))
        c.limit = limit
        targets[c.id] = limit.current_a if may_draw(st, c) else 0.0
    old = {cid: c.offered_a for cid, c in st.connectors.items()}
    for cid in apply_order(old, targets):
        output(st, st.connectors[cid], targets[cid])


def may_draw(st: Station, c: Connector) -> bool:
    """A transaction with the car present, no fault, and energy budget left."""
    tx = c.transaction
    if tx is None or c.ev_left or not c.pilot.plugged:
        return False
    if is_faulted(st, c):
        return False
    if tx.energy_budget_wh is not None and c.measurement is not None:
        return c.measurement.energy_wh < tx.energy_budget_wh
    return True


def output(st: Station, c: Connector, amps: float) -> None:
    """Pilot before contactor: lower the current first, open last; close first, then offer."""
    close = amps > 0 and c.pilot.wants_energy
    if amps != c.offered_a:
        if c.offered_a <= 0 < amps:
            c.offered_since = st.clock.time()
        elif amps <= 0:
            c.offered_since = None
        c.hw.controller.set_pilot_current(amps)
        c.offered_a = amps
    if close != c.contactor_commanded:
        c.hw.controller.set_contactor(close)
        c.contactor_commanded = close
