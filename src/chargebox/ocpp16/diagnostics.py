"""The station's own logs and the diagnostics archive GetDiagnostics uploads.

Two bounded files in `<data-dir>/logs/`, each line starting with an ISO 8601 UTC time so a
time window can be cut out of them:
- `chargebox.log`: the station log (a rotating handler on the root logger);
- `ocpp-messages.log`: every OCPP frame in and out (`RpcSession`'s frame logger).
The archive is a zip of both (lines in the window only) and the configuration keys without
secrets: the AuthorizationKey never leaves the station, neither as a key nor inside a frame.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import time
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chargebox.core.clock import iso

log = logging.getLogger(__name__)

LOG_FILE = "chargebox.log"
FRAME_FILE = "ocpp-messages.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
SECRET_KEYS = frozenset({"AuthorizationKey"})
_URL_PASSWORD = re.compile(r"(://[^/:@\"\s]+:)[^/@\"\s]+@")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")


class UtcFormatter(logging.Formatter):
    """`2026-01-01T12:00:00.123Z LEVEL name: message`, so lines sort and filter by time."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S",
        )
        self.converter = _utc


def _utc(secs: float | None) -> time.struct_time:
    return time.gmtime(secs)


def log_dir(data_dir: Path) -> Path:
    path = data_dir / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def attach_file_log(data_dir: Path, level: int = logging.INFO) -> logging.Handler:
    """The station log also goes to a rotating file, for GetDiagnostics and the operator."""
    handler = logging.handlers.RotatingFileHandler(
        log_dir(data_dir) / LOG_FILE, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(UtcFormatter())
    handler.setLevel(level)
    logging.getLogger().addHandler(handler)
    return handler


class FrameLog:
    """Appends every OCPP frame to a bounded, rotating file (an `RpcSession` frame logger)."""

    def __init__(self, data_dir: Path) -> None:
        self.handler = logging.handlers.RotatingFileHandler(
            log_dir(data_dir) / FRAME_FILE,
            maxBytes=MAX_BYTES,
            backupCount=BACKUPS,
            encoding="utf-8",
        )
        self.handler.setFormatter(logging.Formatter("%(message)s"))

    def __call__(self, direction: str, text: str) -> None:
        """Never raises: a logging problem must not cost the OCPP connection."""
        try:
            line = f"{iso(time.time())} {direction} {redact_frame(text)}".replace("\n", " ")
            self.handler.emit(logging.makeLogRecord({"msg": line, "args": None}))
        except Exception:
            log.exception("OCPP frame not logged")

    def close(self) -> None:
        self.handler.close()


def redact_frame(text: str) -> str:
    """Secrets out: a secret key's ChangeConfiguration value, a password in a URL."""
    if "@" in text and "://" in text:
        text = _URL_PASSWORD.sub(r"\1***@", text)
    if not any(key in text for key in SECRET_KEYS):
        return text
    try:
        frame = json.loads(text)
        payload = frame[3] if frame[0] == 2 else {}
    except (ValueError, TypeError, LookupError):
        return "<a malformed frame naming a secret key, not logged>"
    key = payload.get("key") if isinstance(payload, dict) else None
    if isinstance(key, str) and key in SECRET_KEYS and "value" in payload:
        return json.dumps([*frame[:3], {**payload, "value": "***"}])
    return text  # GetConfiguration lists write-only keys without their value


def _stamp(line: str) -> float | None:
    match = _STAMP.match(line)
    if match is None:
        return None
    text = match.group(1).replace("Z", "+00:00")
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


def window(lines: Iterable[str], start: float | None, stop: float | None) -> Iterator[str]:
    """Lines stamped within [start, stop]; an unstamped line (a traceback) follows its entry."""
    keep = False
    for line in lines:
        stamp = _stamp(line)
        if stamp is not None:
            keep = (start is None or stamp >= start) and (stop is None or stamp <= stop)
        if keep:
            yield line


def _rotated(directory: Path, name: str) -> list[Path]:
    """The live file and its backups, oldest first."""
    backups = [directory / f"{name}.{n}" for n in range(BACKUPS, 0, -1)]
    return [p for p in [*backups, directory / name] if p.exists()]


def _read_window(files: list[Path], start: float | None, stop: float | None) -> str:
    """One window over the files in order: a traceback may continue into the next file."""

    def lines() -> Iterator[str]:
        for path in files:
            with path.open(encoding="utf-8", errors="replace") as f:
                yield from f

    return "".join(window(lines(), start, stop))


def safe_configuration(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """GetConfiguration entries without the secret keys."""
    return [dict(e) for e in entries if e.get("key") not in SECRET_KEYS]


def build_archive(
    dest: Path,
    *,
    logs: Path,
    configuration: Iterable[dict[str, Any]],
    start: float | None = None,
    stop: float | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write the diagnostics zip: logs in the window, configuration without secrets."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        **(info or {}),
        "created": iso(time.time()),
        "startTime": iso(start) if start is not None else None,
        "stopTime": iso(stop) if stop is not None else None,
    }
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(LOG_FILE, _read_window(_rotated(logs, LOG_FILE), start, stop))
        z.writestr(FRAME_FILE, _read_window(_rotated(logs, FRAME_FILE), start, stop))
        z.writestr(
            "configuration.json", json.dumps(safe_configuration(configuration), indent=1) + "\n"
        )
        z.writestr("info.json", json.dumps(meta, indent=1) + "\n")
    return dest
