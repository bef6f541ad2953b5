"""System operations of the web interface: restart, reboot, factory reset, configuration file.

- **Restart** (the daemon): running transactions are stopped with reason ``Reboot`` (the
  process really ends, so a session would not survive it anyway), then the same in-place
  restart as an OCPP Reset (``ResetRequested`` → ``Runtime._restart`` → ``restart_process``).
- **Reboot** (the machine): through the platform adapter; on the simulated default there is
  no machine to reboot, so it is the daemon restart above.
- **Factory reset**: a marker file is written and the daemon restarts; the next start, before
  the database is opened, deletes everything in the data directory except ``tls/`` (the HTTPS
  certificate, so browsers that trust it keep trusting it). The database (settings, users,
  whitelist, history, queued messages), the logs, firmware images and the API token are gone;
  the first start after it prints a new one-time setup link.
- **Configuration file**: a JSON document of the runtime settings (OCPP key overrides, the
  settings the pages store, the whitelist), without secrets. An import is validated
  completely before anything is written; on the first error nothing changes and the error
  names the field (``ocpp_keys.HeartbeatInterval: …``).
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargebox import __version__
from chargebox.core.events import ResetRequested
from chargebox.core.types import StopReason
from chargebox.store.whitelist import WhitelistEntry

if TYPE_CHECKING:
    from chargebox.app import Runtime

log = logging.getLogger(__name__)

__all__ = [
    "FACTORY_RESET_MARKER",
    "FORMAT",
    "ImportError_",
    "apply_pending_factory_reset",
    "export_configuration",
    "import_configuration",
    "request_factory_reset",
    "restart_daemon",
    "reboot",
]

FORMAT = "chargebox-configuration"
FORMAT_VERSION = 1
FACTORY_RESET_MARKER = "factory-reset.pending"
KEEP_ON_FACTORY_RESET = frozenset({"tls"})
# StateStore namespaces that are the station's running state, not its configuration.
VOLATILE_NAMESPACES = frozenset({"availability", "firmware", "web", "system"})
_SECRET = re.compile(
    r"password|passwd|secret|token|credential|authorization_?key|psk|(^|[_.])(pin|puk)($|[_.])",
    re.IGNORECASE,
)
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_AUTHORIZATION = frozenset({"Accepted", "Blocked", "Expired", "Invalid"})


def is_secret(name: str) -> bool:
    return bool(_SECRET.search(name))


# ----------------------------------------------------------------------------- restart


def restart_daemon(runtime: Runtime) -> None:
    """Stop running transactions (reason Reboot), then restart the process in place."""
    station = runtime.station
    now = station.clock.time()
    for cid, connector in station.connectors.items():
        if connector.transaction is not None:
            station.stop_transaction(cid, StopReason.REBOOT)
    station.tick()
    log.warning("restart requested from the web interface")
    runtime.bus.publish(ResetRequested(now, "Soft"))


def reboot(runtime: Runtime) -> str:
    """Reboot the machine through the platform adapter; simulated: restart the daemon.

    A platform adapter with a ``reboot()`` method (a real board) reboots the machine after
    the transactions are stopped; the simulated default (``NoopPlatform``) has none, so the
    daemon restarts in place. Returns ``"reboot"`` or ``"restart"``.
    """
    platform_reboot = getattr(getattr(runtime, "platform", None), "reboot", None)
    if callable(platform_reboot):
        station = runtime.station
        for cid, connector in station.connectors.items():
            if connector.transaction is not None:
                station.stop_transaction(cid, StopReason.REBOOT)
        station.tick()
        log.warning("reboot requested: rebooting through the platform adapter")
        platform_reboot()
        return "reboot"
    log.warning("reboot requested: simulated platform, restarting the daemon instead")
    restart_daemon(runtime)
    return "restart"


def request_factory_reset(runtime: Runtime) -> None:
    """Mark the data directory for wiping at the next start, then restart."""
    (runtime.data_dir / FACTORY_RESET_MARKER).write_text(f"requested {time.time():.0f}\n")
    log.warning("factory reset requested: the data directory is wiped at the restart")
    restart_daemon(runtime)


def apply_pending_factory_reset(data_dir: Path) -> bool:
    """At start, before the database opens: wipe the data directory if a reset is pending."""
    marker = data_dir / FACTORY_RESET_MARKER
    if not marker.exists():
        return False
    for entry in data_dir.iterdir():
        if entry.name in KEEP_ON_FACTORY_RESET or entry == marker:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    marker.unlink()
    log.warning("factory reset: %s wiped (kept: %s)", data_dir, ", ".join(KEEP_ON_FACTORY_RESET))
    return True


# ------------------------------------------------------------------- configuration file


def _namespaces(runtime: Runtime) -> list[str]:
    rows = runtime.db.query("SELECT DISTINCT namespace FROM state ORDER BY namespace")
    return [str(r["namespace"]) for r in rows]


def export_configuration(runtime: Runtime) -> dict[str, Any]:
    """The station's runtime configuration as one JSON-ready document, without secrets."""
    config = runtime.config
    keys: dict[str, str] = {}
    for name, value in runtime.settings_store.get_all().items():
        try:
            key = config.key(name)
        except KeyError:
            continue
        if key.secret or key.access.value == "W" or is_secret(key.name):
            continue
        keys[key.name] = value
    settings: dict[str, dict[str, Any]] = {}
    for ns in _namespaces(runtime):
        if ns in VOLATILE_NAMESPACES:
            continue
        values = {k: v for k, v in runtime.state.items(ns).items() if not is_secret(k)}
        if values:
            settings[ns] = values
    whitelist = [
        {
            "uid": e.uid,
            "gid": e.gid,
            "expiry": e.expiry,
            "authorization": e.authorization,
            "connector_id": e.connector_id,
            "deleted": e.deleted,
        }
        for e in runtime.whitelist.all(include_deleted=True)
    ]
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "chargebox_version": __version__,
        "identity": runtime.identity,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "ocpp_keys": keys,
        "settings": settings,
        "whitelist": whitelist,
    }


class ImportError_(ValueError):  # noqa: N801 - not the builtin ImportError
    """An import refused; the message starts with the field: ``whitelist[3].uid: …``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass
class ImportPlan:
    ocpp_keys: dict[str, str]
    settings: dict[str, dict[str, Any]]
    whitelist: list[WhitelistEntry] | None

    def summary(self) -> str:
        wl = "unchanged" if self.whitelist is None else str(len(self.whitelist))
        count = sum(len(v) for v in self.settings.values())
        return f"{len(self.ocpp_keys)} OCPP keys, {count} settings, whitelist {wl}"


def _check_setting(ns: str, key: str, value: Any) -> None:
    field = f"settings.{ns}.{key}"
    url_ok = isinstance(value, str) and (not value or value.startswith(("ws://", "wss://")))
    if ns == "backend" and key == "csms_url" and not url_ok:
        raise ImportError_(field, "must be empty or start with ws:// or wss://")


def _check_date(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ImportError_(field, "must be a date (YYYY-MM-DD) or null")
    from datetime import datetime

    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ImportError_(field, f"not a date: {value!r}") from None
    return value


def validate_import(runtime: Runtime, document: Any) -> ImportPlan:
    """Check every field of an imported document; raise ImportError_ naming the first bad one."""
    if not isinstance(document, dict):
        raise ImportError_("document", "must be a JSON object")
    if document.get("format") != FORMAT:
        raise ImportError_("format", f"must be {FORMAT!r}")
    if document.get("version") != FORMAT_VERSION:
        raise ImportError_("version", f"must be {FORMAT_VERSION}")
    known = {"format", "version", "chargebox_version", "identity", "exported_at"}
    known |= {"ocpp_keys", "settings", "whitelist"}
    for name in document:
        if name not in known:
            raise ImportError_(str(name), "unknown field")
    config = runtime.config
    keys_in = document.get("ocpp_keys", {})
    if not isinstance(keys_in, dict):
        raise ImportError_("ocpp_keys", "must be an object of key: value")
    keys: dict[str, str] = {}
    for name, value in keys_in.items():
        field = f"ocpp_keys.{name}"
        try:
            key = config.key(name)
        except KeyError:
            raise ImportError_(field, "unknown configuration key") from None
        if key.secret or key.access.value == "W" or is_secret(key.name):
            raise ImportError_(field, "secrets are not imported: set it on its page")
        if key.readonly:
            raise ImportError_(field, "read-only key")
        if not isinstance(value, str | int | float | bool):
            raise ImportError_(field, "must be a string")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        try:
            canonical = config.normalize(key.name, text)
        except Exception as exc:  # ConfigValueError names the problem
            raise ImportError_(field, str(getattr(exc, "problem", exc))) from None
        if key.only_increase and int(canonical) < int(config.get(key.name)):
            raise ImportError_(field, "may only increase")
        keys[key.name] = canonical
    settings_in = document.get("settings", {})
    if not isinstance(settings_in, dict):
        raise ImportError_("settings", "must be an object of namespace: {key: value}")
    settings: dict[str, dict[str, Any]] = {}
    for ns, values in settings_in.items():
        if not _NAME.match(str(ns)) or ns in VOLATILE_NAMESPACES:
            raise ImportError_(f"settings.{ns}", "not a configuration namespace")
        if not isinstance(values, dict):
            raise ImportError_(f"settings.{ns}", "must be an object")
        for key_name, value in values.items():
            field = f"settings.{ns}.{key_name}"
            if not _NAME.match(str(key_name)):
                raise ImportError_(field, "bad name")
            if is_secret(str(key_name)):
                raise ImportError_(field, "secrets are not imported: set it on its page")
            _check_setting(ns, key_name, value)
        settings[ns] = dict(values)
    whitelist: list[WhitelistEntry] | None = None
    if "whitelist" in document:
        rows = document["whitelist"]
        if not isinstance(rows, list):
            raise ImportError_("whitelist", "must be a list")
        if len(rows) > 1000:
            raise ImportError_("whitelist", "at most 1000 entries")
        whitelist = []
        seen: set[str] = set()
        for n, row in enumerate(rows):
            field = f"whitelist[{n}]"
            if not isinstance(row, dict):
                raise ImportError_(field, "must be an object")
            uid = row.get("uid")
            if not isinstance(uid, str) or not 1 <= len(uid) <= 20 or not uid.isprintable():
                raise ImportError_(f"{field}.uid", "1 to 20 printable characters")
            if uid.casefold() in seen:
                raise ImportError_(f"{field}.uid", f"{uid} appears twice")
            seen.add(uid.casefold())
            auth = row.get("authorization", "Accepted")
            if auth not in _AUTHORIZATION:
                raise ImportError_(f"{field}.authorization", f"one of {sorted(_AUTHORIZATION)}")
            gid = row.get("gid")
            if gid is not None and (not isinstance(gid, str) or len(gid) > 20):
                raise ImportError_(f"{field}.gid", "at most 20 characters or null")
            connector = row.get("connector_id")
            if connector is not None and (
                not isinstance(connector, int) or connector not in runtime.station.connectors
            ):
                raise ImportError_(f"{field}.connector_id", "an existing connector or null")
            deleted = row.get("deleted", False)
            if not isinstance(deleted, bool):
                raise ImportError_(f"{field}.deleted", "true or false")
            expiry = _check_date(row.get("expiry"), f"{field}.expiry")
            whitelist.append(WhitelistEntry(uid, auth, gid or None, expiry, connector, deleted))
    return ImportPlan(keys, settings, whitelist)


def import_configuration(runtime: Runtime, document: Any) -> ImportPlan:
    """Validate everything, then apply; on a validation error nothing has changed."""
    plan = validate_import(runtime, document)
    for name, value in plan.ocpp_keys.items():
        runtime.config.set_internal(name, value)  # validated above; persisted by on_change
    for ns, values in plan.settings.items():
        for key_name, value in values.items():
            runtime.state.set(ns, key_name, value)
    if plan.whitelist is not None:
        runtime.whitelist.replace_all(plan.whitelist)
    return plan
