"""Who may charge: the authorization decision as a pure function.

The order follows OCPP 1.6 §3.5 (local authorization list before the cache, the
central system's word when online, the offline rules otherwise) and the manuals'
stand-alone modes (free charging, the station's own RFID whitelist).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from chargebox.core.types import AuthorizationStatus, IdTagInfo


class AuthMode(StrEnum):
    """The manuals' "User needs to provide …" choice."""

    AUTO = "auto"  # free charging stand-alone, RFID required once a backend is configured
    FREE = "free"  # free charging / kiosk: every session uses the configured idTag
    RFID = "rfid"  # an RFID card (or remote start) is required


class Verdict(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    ASK = "ask"  # send Authorize.req and wait for the central system


class AuthSources(Protocol):
    """Local knowledge about idTags; the store implements it."""

    def local_list(self, id_tag: str) -> IdTagInfo | None: ...

    def cache(self, id_tag: str) -> IdTagInfo | None: ...

    def whitelist(self, id_tag: str, connector_id: int | None) -> IdTagInfo | None: ...


@dataclass(frozen=True, slots=True)
class AuthContext:
    backend: bool  # a central system is configured
    online: bool  # ... and connected and accepted
    now: float
    local_pre_authorize: bool = False
    local_authorize_offline: bool = True
    allow_offline_tx_for_unknown_id: bool = False
    authorization_cache_enabled: bool = True
    local_auth_list_enabled: bool = True


@dataclass(frozen=True, slots=True)
class AuthDecision:
    verdict: Verdict
    info: IdTagInfo | None = None
    source: str = ""


def effective_mode(mode: AuthMode, backend: bool) -> AuthMode:
    if mode is AuthMode.AUTO:
        return AuthMode.RFID if backend else AuthMode.FREE
    return mode


def is_valid(info: IdTagInfo, now: float) -> bool:
    return info.status is AuthorizationStatus.ACCEPTED and (
        info.expiry_date is None or info.expiry_date > now
    )


def effective_info(info: IdTagInfo, now: float) -> IdTagInfo:
    """An Accepted entry past its expiry date counts as Expired."""
    if info.status is AuthorizationStatus.ACCEPTED and not is_valid(info, now):
        return IdTagInfo(AuthorizationStatus.EXPIRED, info.expiry_date, info.parent_id_tag)
    return info


def decide(
    id_tag: str, ctx: AuthContext, sources: AuthSources, connector_id: int | None = None
) -> AuthDecision:
    if not ctx.backend:
        entry = sources.whitelist(id_tag, connector_id)
        if entry is None:
            return AuthDecision(Verdict.REJECT, IdTagInfo(AuthorizationStatus.INVALID), "whitelist")
        entry = effective_info(entry, ctx.now)
        verdict = Verdict.ACCEPT if is_valid(entry, ctx.now) else Verdict.REJECT
        return AuthDecision(verdict, entry, "whitelist")

    local: IdTagInfo | None = None
    source = ""
    if ctx.local_auth_list_enabled:
        local, source = sources.local_list(id_tag), "local_list"
    if local is None and ctx.authorization_cache_enabled:
        local, source = sources.cache(id_tag), "cache"

    if ctx.online:
        if ctx.local_pre_authorize and local is not None and is_valid(local, ctx.now):
            return AuthDecision(Verdict.ACCEPT, local, source)
        return AuthDecision(Verdict.ASK)

    if local is not None:
        local = effective_info(local, ctx.now)
        if is_valid(local, ctx.now):
            if ctx.local_authorize_offline:
                return AuthDecision(Verdict.ACCEPT, local, source)
            return AuthDecision(Verdict.REJECT, IdTagInfo(AuthorizationStatus.INVALID), "offline")
        return AuthDecision(Verdict.REJECT, local, source)
    if ctx.allow_offline_tx_for_unknown_id:
        return AuthDecision(
            Verdict.ACCEPT, IdTagInfo(AuthorizationStatus.ACCEPTED), "offline_unknown"
        )
    return AuthDecision(Verdict.REJECT, IdTagInfo(AuthorizationStatus.INVALID), "offline")


#: How the reader renders a card's UID as the idTag (seed-004 §4.3 "RFID Tag letter case").
TAG_CASES = ("as_read", "upper", "lower", "upper_reversed", "lower_reversed")


def normalize_tag(id_tag: str, case: str) -> str:
    """The idTag for a UID as read, in the station's letter case and byte order.

    The reversed orders swap the bytes of a hex UID (``0A0E9B83`` → ``839B0E0A``); a UID
    that is not whole hex bytes is only case-converted.
    """
    if case == "as_read" or case not in TAG_CASES:
        return id_tag
    tag = id_tag
    if case.endswith("_reversed"):
        hex_uid = len(tag) % 2 == 0 and all(ch in "0123456789abcdefABCDEF" for ch in tag)
        if hex_uid:
            tag = "".join(reversed([tag[i : i + 2] for i in range(0, len(tag), 2)]))
    return tag.upper() if case.startswith("upper") else tag.lower()


def same_owner(
    presented: str, started: str, presented_parent: str | None, started_parent: str | None
) -> bool:
    """May `presented` stop a transaction started by `started`? (OCPP 1.6 §3.5.1, parentIdTag)."""
    if presented.casefold() == started.casefold():
        return True
    return bool(presented_parent and started_parent and presented_parent == started_parent)
