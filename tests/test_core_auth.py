"""The authorization decision (OCPP 1.6 §3.5) and the stand-alone modes, as a table."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from chargebox.core.auth import (
    AuthContext,
    AuthDecision,
    AuthMode,
    Verdict,
    decide,
    effective_info,
    effective_mode,
    is_valid,
    same_owner,
)
from chargebox.core.types import AuthorizationStatus, IdTagInfo

NOW = 1_767_225_600.0
A = AuthorizationStatus
ACCEPTED = IdTagInfo(A.ACCEPTED)
ACCEPTED_FUTURE = IdTagInfo(A.ACCEPTED, expiry_date=NOW + 3600)
ACCEPTED_PAST = IdTagInfo(A.ACCEPTED, expiry_date=NOW - 1)
ACCEPTED_NOW = IdTagInfo(A.ACCEPTED, expiry_date=NOW)  # expiry reached = expired
BLOCKED = IdTagInfo(A.BLOCKED)
EXPIRED = IdTagInfo(A.EXPIRED)
INVALID = IdTagInfo(A.INVALID)


@dataclass
class Sources:
    local: dict[str, IdTagInfo] = field(default_factory=dict)
    cached: dict[str, IdTagInfo] = field(default_factory=dict)
    white: dict[str, IdTagInfo] = field(default_factory=dict)
    asked: list[tuple[str, int | None]] = field(default_factory=list)

    def local_list(self, id_tag: str) -> IdTagInfo | None:
        return self.local.get(id_tag)

    def cache(self, id_tag: str) -> IdTagInfo | None:
        return self.cached.get(id_tag)

    def whitelist(self, id_tag: str, connector_id: int | None) -> IdTagInfo | None:
        self.asked.append((id_tag, connector_id))
        return self.white.get(id_tag)


STANDALONE = AuthContext(backend=False, online=False, now=NOW)
ONLINE = AuthContext(backend=True, online=True, now=NOW)
OFFLINE = AuthContext(backend=True, online=False, now=NOW)


@pytest.mark.parametrize(
    ("entry", "verdict", "status"),
    [
        (ACCEPTED, Verdict.ACCEPT, A.ACCEPTED),
        (ACCEPTED_FUTURE, Verdict.ACCEPT, A.ACCEPTED),
        (BLOCKED, Verdict.REJECT, A.BLOCKED),
        (ACCEPTED_PAST, Verdict.REJECT, A.EXPIRED),
        (ACCEPTED_NOW, Verdict.REJECT, A.EXPIRED),
        (EXPIRED, Verdict.REJECT, A.EXPIRED),
        (None, Verdict.REJECT, A.INVALID),
    ],
)
def test_standalone_whitelist(entry: IdTagInfo | None, verdict: Verdict, status: A) -> None:
    sources = Sources(white={} if entry is None else {"CARD": entry})
    # local list and cache are ignored without a backend
    sources.local["CARD"] = ACCEPTED
    sources.cached["CARD"] = ACCEPTED
    decision = decide("CARD", STANDALONE, sources, connector_id=2)
    assert decision.verdict is verdict
    assert decision.info is not None and decision.info.status is status
    assert decision.source == "whitelist"
    assert sources.asked == [("CARD", 2)]


# (local list, cache, context changes, expected verdict, expected status or None, source)
CASES = [
    # online: the central system is asked unless LocalPreAuthorize finds a valid entry
    ("online unknown", None, None, ONLINE, Verdict.ASK, None, ""),
    ("online list hit, no pre-authorize", ACCEPTED, None, ONLINE, Verdict.ASK, None, ""),
    ("online cache hit, no pre-authorize", None, ACCEPTED, ONLINE, Verdict.ASK, None, ""),
    (
        "online list hit, pre-authorize",
        ACCEPTED,
        None,
        replace(ONLINE, local_pre_authorize=True),
        Verdict.ACCEPT,
        A.ACCEPTED,
        "local_list",
    ),
    (
        "online cache hit, pre-authorize",
        None,
        ACCEPTED_FUTURE,
        replace(ONLINE, local_pre_authorize=True),
        Verdict.ACCEPT,
        A.ACCEPTED,
        "cache",
    ),
    (
        "online blocked in list, pre-authorize",
        BLOCKED,
        None,
        replace(ONLINE, local_pre_authorize=True),
        Verdict.ASK,
        None,
        "",
    ),
    (
        "online expired in cache, pre-authorize",
        None,
        ACCEPTED_PAST,
        replace(ONLINE, local_pre_authorize=True),
        Verdict.ASK,
        None,
        "",
    ),
    (
        "online unknown, pre-authorize",
        None,
        None,
        replace(ONLINE, local_pre_authorize=True),
        Verdict.ASK,
        None,
        "",
    ),
    (
        "online cache disabled, pre-authorize",
        None,
        ACCEPTED,
        replace(ONLINE, local_pre_authorize=True, authorization_cache_enabled=False),
        Verdict.ASK,
        None,
        "",
    ),
    (
        "online list disabled, pre-authorize",
        ACCEPTED,
        None,
        replace(ONLINE, local_pre_authorize=True, local_auth_list_enabled=False),
        Verdict.ASK,
        None,
        "",
    ),
    # offline: local knowledge when LocalAuthorizeOffline, unknown ids per AllowOfflineTx...
    ("offline list hit", ACCEPTED, None, OFFLINE, Verdict.ACCEPT, A.ACCEPTED, "local_list"),
    ("offline cache hit", None, ACCEPTED, OFFLINE, Verdict.ACCEPT, A.ACCEPTED, "cache"),
    (
        "offline list hit, LocalAuthorizeOffline false",
        ACCEPTED,
        None,
        replace(OFFLINE, local_authorize_offline=False),
        Verdict.REJECT,
        A.INVALID,
        "offline",
    ),
    (
        "offline cache hit, LocalAuthorizeOffline false",
        None,
        ACCEPTED,
        replace(OFFLINE, local_authorize_offline=False),
        Verdict.REJECT,
        A.INVALID,
        "offline",
    ),
    ("offline blocked in list", BLOCKED, None, OFFLINE, Verdict.REJECT, A.BLOCKED, "local_list"),
    (
        "offline expired accepted in cache",
        None,
        ACCEPTED_PAST,
        OFFLINE,
        Verdict.REJECT,
        A.EXPIRED,
        "cache",
    ),
    ("offline invalid in cache", None, INVALID, OFFLINE, Verdict.REJECT, A.INVALID, "cache"),
    ("offline unknown", None, None, OFFLINE, Verdict.REJECT, A.INVALID, "offline"),
    (
        "offline unknown, AllowOfflineTxForUnknownId",
        None,
        None,
        replace(OFFLINE, allow_offline_tx_for_unknown_id=True),
        Verdict.ACCEPT,
        A.ACCEPTED,
        "offline_unknown",
    ),
    # a known but refused id is not "unknown": AllowOfflineTxForUnknownId does not help
    (
        "offline blocked, AllowOfflineTxForUnknownId",
        BLOCKED,
        None,
        replace(OFFLINE, allow_offline_tx_for_unknown_id=True),
        Verdict.REJECT,
        A.BLOCKED,
        "local_list",
    ),
    (
        "offline expired in list, AllowOfflineTxForUnknownId",
        ACCEPTED_PAST,
        None,
        replace(OFFLINE, allow_offline_tx_for_unknown_id=True),
        Verdict.REJECT,
        A.EXPIRED,
        "local_list",
    ),
    # list precedence over cache
    (
        "list blocked beats cache accepted",
        BLOCKED,
        ACCEPTED,
        OFFLINE,
        Verdict.REJECT,
        A.BLOCKED,
        "local_list",
    ),
    (
        "list accepted beats cache blocked",
        ACCEPTED,
        BLOCKED,
        OFFLINE,
        Verdict.ACCEPT,
        A.ACCEPTED,
        "local_list",
    ),
    (
        "list disabled: cache decides",
        BLOCKED,
        ACCEPTED,
        replace(OFFLINE, local_auth_list_enabled=False),
        Verdict.ACCEPT,
        A.ACCEPTED,
        "cache",
    ),
    (
        "both disabled: unknown",
        ACCEPTED,
        ACCEPTED,
        replace(OFFLINE, local_auth_list_enabled=False, authorization_cache_enabled=False),
        Verdict.REJECT,
        A.INVALID,
        "offline",
    ),
]


@pytest.mark.parametrize(
    ("local", "cached", "ctx", "verdict", "status", "source"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide_with_backend(
    local: IdTagInfo | None,
    cached: IdTagInfo | None,
    ctx: AuthContext,
    verdict: Verdict,
    status: A | None,
    source: str,
) -> None:
    sources = Sources(
        local={} if local is None else {"TAG": local},
        cached={} if cached is None else {"TAG": cached},
        white={"TAG": ACCEPTED},  # never consulted with a backend
    )
    decision = decide("TAG", ctx, sources, connector_id=1)
    assert decision.verdict is verdict
    assert decision.source == source
    if status is None:
        assert decision == AuthDecision(Verdict.ASK)
    else:
        assert decision.info is not None and decision.info.status is status
    assert sources.asked == []


def test_offline_accept_keeps_parent_and_expiry_of_the_entry() -> None:
    entry = IdTagInfo(A.ACCEPTED, NOW + 60, "PARENT")
    decision = decide("TAG", OFFLINE, Sources(local={"TAG": entry}))
    assert decision.info == entry


def test_effective_info_and_is_valid() -> None:
    assert effective_info(ACCEPTED_PAST, NOW) == IdTagInfo(A.EXPIRED, NOW - 1)
    assert effective_info(ACCEPTED_FUTURE, NOW) is ACCEPTED_FUTURE
    assert effective_info(BLOCKED, NOW) is BLOCKED
    assert is_valid(ACCEPTED_FUTURE, NOW) and not is_valid(ACCEPTED_PAST, NOW)
    assert not is_valid(IdTagInfo(A.CONCURRENT_TX), NOW)
    parented = IdTagInfo(A.ACCEPTED, NOW - 5, "GROUP")
    assert effective_info(parented, NOW).parent_id_tag == "GROUP"


@pytest.mark.parametrize(
    ("presented", "started", "p_parent", "s_parent", "same"),
    [
        ("ABC", "ABC", None, None, True),
        ("abc", "ABC", None, None, True),  # idTag is CiString20: case-insensitive
        ("XYZ", "ABC", None, None, False),
        ("XYZ", "ABC", "FLEET", "FLEET", True),
        ("XYZ", "ABC", "FLEET", "OTHER", False),
        ("XYZ", "ABC", "FLEET", None, False),
        ("XYZ", "ABC", None, "FLEET", False),
        ("XYZ", "ABC", "", "", False),
    ],
)
def test_same_owner(
    presented: str, started: str, p_parent: str | None, s_parent: str | None, same: bool
) -> None:
    assert same_owner(presented, started, p_parent, s_parent) is same


@pytest.mark.parametrize(
    ("mode", "backend", "expected"),
    [
        (AuthMode.AUTO, False, AuthMode.FREE),
        (AuthMode.AUTO, True, AuthMode.RFID),
        (AuthMode.FREE, True, AuthMode.FREE),
        (AuthMode.FREE, False, AuthMode.FREE),
        (AuthMode.RFID, False, AuthMode.RFID),
        (AuthMode.RFID, True, AuthMode.RFID),
    ],
)
def test_effective_mode(mode: AuthMode, backend: bool, expected: AuthMode) -> None:
    assert effective_mode(mode, backend) is expected
