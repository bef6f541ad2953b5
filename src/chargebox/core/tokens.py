"""IdTags: a card at the reader, and the central system's verdicts on idTags.

A token either ends its owner's session, releases its owner's cable, cancels
its own waiting authorization, or asks `auth.decide` whether it may start (or
stop) on a connector. A decision that needs the central system waits in
`Station._pending` until `authorization_result` brings the answer, or going
offline decides it locally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chargebox.core.auth import AuthDecision, Verdict, decide, is_valid, normalize_tag, same_owner
from chargebox.core.claims import apply_limits
from chargebox.core.connector import Connector
from chargebox.core.events import AuthorizationDecided, AuthorizationRequested
from chargebox.core.sessions import auth_context, authorize, can_start, stop
from chargebox.core.types import AuthorizationStatus, IdTagInfo, StopReason

if TYPE_CHECKING:
    from chargebox.core.station import Station

_OWNER = AuthDecision(Verdict.ACCEPT, IdTagInfo(AuthorizationStatus.ACCEPTED), "owner")


@dataclass(frozen=True, slots=True)
class PendingToken:
    id_tag: str
    connector_id: int
    purpose: str  # "start" or "stop"


def present_token(st: Station, id_tag: str, connector_id: int | None) -> AuthDecision | None:
    id_tag = normalize_tag(id_tag, st.settings.tag_case)
    now = st.clock.time()
    for c in st.connectors.values():
        tx = c.transaction
        if (
            tx is not None
            and connector_id in (None, c.id)
            and same_owner(id_tag, tx.id_tag, None, None)
        ):
            stop(st, c, StopReason.LOCAL, id_tag, now)
            return _OWNER
        if (
            c.transaction is None
            and c.finishing
            and c.hw.lock.is_locked()
            and connector_id in (None, c.id)
            and st._last_id_tag.get(c.id, "").casefold() == id_tag.casefold()
        ):
            c.hw.lock.unlock()  # the owner releases a cable left locked
            c.finishing = c.pilot.plugged
            return _OWNER
    for c in st.connectors.values():
        auth = c.authorization
        if (
            auth is not None
            and connector_id in (None, c.id)
            and (auth.id_tag.casefold() == id_tag.casefold())
        ):
            c.authorization = None  # the same card again cancels a waiting session
            return None
    target = select_connector(st, connector_id, id_tag)
    if target is None:
        return None
    purpose = "stop" if target.transaction is not None else "start"
    decision = decide(id_tag, auth_context(st), st.auth_sources, target.id)
    apply_decision(st, target, id_tag, decision, purpose, now)
    return decision


def select_connector(
    st: Station, connector_id: int | None, id_tag: str | None = None
) -> Connector | None:
    """The connector a token without one means: a plugged car waiting, else a free one."""
    if connector_id is not None:
        return st.connectors.get(connector_id)
    free = st.reservations.order([c for c in st.connectors.values() if can_start(st, c)], id_tag)
    for c in free:
        if c.pilot.plugged and c.authorization is None and c.awaiting_id_tag is None:
            return c
    for c in free:
        if not c.busy:
            return c
    running = [c for c in st.connectors.values() if c.transaction is not None]
    return running[0] if len(running) == 1 else None


def apply_decision(
    st: Station, c: Connector, id_tag: str, decision: AuthDecision, purpose: str, now: float
) -> None:
    if decision.verdict is Verdict.ASK:
        st._pending[id_tag.casefold()] = PendingToken(id_tag, c.id, purpose)
        if purpose == "start":
            c.awaiting_id_tag = id_tag
        st.bus.publish(AuthorizationRequested(now, id_tag))
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
            stop(st, c, StopReason.LOCAL, id_tag, now)
        else:
            st.bus.publish(AuthorizationDecided(now, id_tag, c.id, info, decision.source))
        return
    if c.awaiting_id_tag is not None and c.awaiting_id_tag.casefold() == id_tag.casefold():
        c.awaiting_id_tag = None
    if accepted and can_start(st, c):
        authorize(st, c, id_tag, info, decision.source, now)
    else:
        st.bus.publish(AuthorizationDecided(now, id_tag, c.id, info, decision.source))


def authorization_result(st: Station, id_tag: str, info: IdTagInfo | None) -> None:
    now = st.clock.time()
    if info is not None:
        remember(st, id_tag, info)
    pending = st._pending.pop(id_tag.casefold(), None)
    if pending is None:
        return
    c = st.connectors[pending.connector_id]
    if info is None:
        decision = decide(id_tag, auth_context(st, online=False), st.auth_sources, c.id)
    else:
        verdict = Verdict.ACCEPT if is_valid(info, now) else Verdict.REJECT
        decision = AuthDecision(verdict, info, "backend")
    apply_decision(st, c, id_tag, decision, pending.purpose, now)


def decide_pending_offline(st: Station) -> None:
    """Answers to pending Authorize.req will not come: decide them offline."""
    for token in list(st._pending.values()):
        authorization_result(st, token.id_tag, None)


def remember(st: Station, id_tag: str, info: IdTagInfo) -> None:
    if st.config.get_bool("AuthorizationCacheEnabled"):
        st.auth_sources.remember(id_tag, info)  # type: ignore[attr-defined]


def transaction_confirmed(
    st: Station, local_id: int, remote_id: int | None, info: IdTagInfo
) -> None:
    """Record the backend's transactionId; an idTag it rejects stops or caps the session."""
    now = st.clock.time()
    remember_for_transaction(st, local_id, info)
    for c in st.connectors.values():
        tx = c.transaction
        if tx is None or tx.local_id != local_id:
            continue
        tx.remote_id = remote_id
        tx.id_tag_status = info.status
        if info.parent_id_tag:
            tx.parent_id_tag = info.parent_id_tag
        if info.status is AuthorizationStatus.ACCEPTED:
            return
        if st.config.get_bool("StopTransactionOnInvalidId"):
            stop(st, c, StopReason.DE_AUTHORIZED, None, now)
        else:
            budget = st.config.get_int("MaxEnergyOnInvalidId")
            used = c.measurement.energy_wh if c.measurement is not None else tx.meter_start_wh
            tx.energy_budget_wh = used + budget
            apply_limits(st, now)
        return


def remember_for_transaction(st: Station, local_id: int, info: IdTagInfo) -> None:
    for c in st.connectors.values():
        if c.transaction is not None and c.transaction.local_id == local_id:
            remember(st, c.transaction.id_tag, info)
