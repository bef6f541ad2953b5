"""The store as the core's `AuthSources`: local list, cache and whitelist lookups."""

from __future__ import annotations

from chargebox.core.clock import iso, parse_iso
from chargebox.core.types import AuthorizationStatus, IdTagInfo
from chargebox.store.auth import AuthCacheStore, LocalListStore
from chargebox.store.whitelist import WhitelistStore


def _info(status: str, expiry: str | None, parent: str | None) -> IdTagInfo:
    return IdTagInfo(AuthorizationStatus(status), parse_iso(expiry) if expiry else None, parent)


class StoreAuthSources:
    def __init__(
        self, cache: AuthCacheStore, local_list: LocalListStore, whitelist: WhitelistStore
    ) -> None:
        self.cache_store = cache
        self.local_list_store = local_list
        self.whitelist_store = whitelist

    def local_list(self, id_tag: str) -> IdTagInfo | None:
        entry = self.local_list_store.get(id_tag)
        if entry is None or entry.status is None:
            return None
        return _info(entry.status, entry.expiry_date, entry.parent_id_tag)

    def cache(self, id_tag: str) -> IdTagInfo | None:
        entry = self.cache_store.get(id_tag)
        return (
            None if entry is None else _info(entry.status, entry.expiry_date, entry.parent_id_tag)
        )

    def whitelist(self, id_tag: str, connector_id: int | None) -> IdTagInfo | None:
        entry = self.whitelist_store.get(id_tag)
        if entry is None:
            return None
        restricted = entry.connector_id is not None and connector_id is not None
        if restricted and entry.connector_id != connector_id:
            return IdTagInfo(AuthorizationStatus.INVALID)
        status = "Accepted" if entry.authorization == "Accepted" else "Blocked"
        return _info(status, entry.expiry, entry.gid)

    def remember(self, id_tag: str, info: IdTagInfo) -> None:
        expiry = iso(info.expiry_date) if info.expiry_date is not None else None
        self.cache_store.put(id_tag, info.status.value, expiry, info.parent_id_tag)

    def clear_cache(self) -> None:
        self.cache_store.clear()
