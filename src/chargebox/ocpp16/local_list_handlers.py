"""Local Auth List Management (OCPP 1.6 §3.5, §5.10, §5.15): SendLocalList, GetLocalListVersion.

Readings of the specification, where it leaves room:
- Version: GetLocalListVersion answers -1 while LocalAuthListEnabled is false ("not
  supported"), 0 while the list is empty (§5.10: "0 SHALL be used to indicate that the local
  authorization list is empty", also after a Full update with no entries), else the version
  of the last accepted update. The same number is the "current version" below.
- VersionMismatch: a Differential update must move the list forward, so one whose
  listVersion is not greater than the current version is refused with VersionMismatch and
  nothing changes. A Full update replaces the list whatever its version (that is how a
  central system recovers from a mismatch, §5.15).
- Failed (nothing changed): more entries in one message than SendLocalListMaxLength (a
  CALLERROR would tell a central system nothing it can act on; Failed tells it to resend,
  §5.15), a result longer than LocalAuthListMaxLength, or a Full update with an entry
  without idTagInfo (required for Full).
- NotSupported while LocalAuthListEnabled is false.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chargebox.core.config_keys import Configuration
from chargebox.ocpp16.handlers import ActionHandler
from chargebox.ocpp16.rpc import HandlerResult
from chargebox.store.auth import LocalListEntry, LocalListStore

if TYPE_CHECKING:
    from chargebox.ocpp16.client import OcppClient


class LocalListHandlers:
    """A `HandlerGroup`: the central system manages the Local Authorization List."""

    def __init__(self, config: Configuration, store: LocalListStore) -> None:
        self.config = config
        self.store = store
        self.client: OcppClient | None = None

    def table(self) -> dict[str, ActionHandler]:
        return {
            "GetLocalListVersion": self.get_local_list_version,
            "SendLocalList": self.send_local_list,
        }

    def current_version(self) -> int:
        if not self.config.get_bool("LocalAuthListEnabled"):
            return -1
        return self.store.version() if len(self.store) else 0

    def get_local_list_version(self, p: dict[str, Any]) -> HandlerResult:
        return HandlerResult({"listVersion": self.current_version()})

    def send_local_list(self, p: dict[str, Any]) -> HandlerResult:
        return HandlerResult({"status": self.apply(p)})

    def apply(self, p: dict[str, Any]) -> str:
        """The SendLocalList.conf status; the list changes only when it is Accepted."""
        if not self.config.get_bool("LocalAuthListEnabled"):
            return "NotSupported"
        version = int(p["listVersion"])
        full = p["updateType"] == "Full"
        items = p.get("localAuthorizationList") or []
        if len(items) > self.config.get_int("SendLocalListMaxLength"):
            return "Failed"
        entries = [_entry(item) for item in items]
        if full and any(e.status is None for e in entries):
            return "Failed"
        if not full and version <= self.current_version():
            return "VersionMismatch"
        if full:
            size = len({e.id_tag.casefold() for e in entries})
        else:
            tags = {e.id_tag.casefold() for e in self.store.all()}
            for e in entries:
                if e.status is None:
                    tags.discard(e.id_tag.casefold())
                else:
                    tags.add(e.id_tag.casefold())
            size = len(tags)
        if size > self.config.get_int("LocalAuthListMaxLength"):
            return "Failed"
        if full:
            self.store.replace(version, entries)
        else:
            self.store.update(version, entries)
        return "Accepted"


def _entry(item: dict[str, Any]) -> LocalListEntry:
    info = item.get("idTagInfo")
    if info is None:
        return LocalListEntry(item["idTag"], None)
    return LocalListEntry(
        item["idTag"], info["status"], info.get("expiryDate"), info.get("parentIdTag")
    )
