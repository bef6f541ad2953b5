"""Logs page (installer): the OCPP frames filtered by action and direction, the system log,
and the diagnostics archive to download; the fragments are refreshed by htmx.

Both logs are read from the end of their rotated files (`tail_lines`), never whole.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from chargebox.ocpp16 import diagnostics
from chargebox.store.users import SessionRecord
from chargebox.web.admin.firmware import firmware_version

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

FRAME_ROWS = 200
LOG_ROWS = 300
TAIL_BYTES = 400_000


def tail_lines(paths: list[Path], limit_bytes: int = TAIL_BYTES) -> list[str]:
    """The last lines of the (rotated) files, oldest first, at most ``limit_bytes`` read."""
    chunks: list[str] = []
    budget = limit_bytes
    for path in reversed(paths):  # newest file first
        if budget <= 0 or not path.exists():
            continue
        size = path.stat().st_size
        with path.open("rb") as f:
            start = max(0, size - budget)
            f.seek(start)
            data = f.read()
        budget -= len(data)
        text = data.decode("utf-8", errors="replace")
        if start > 0:
            text = text.split("\n", 1)[1] if "\n" in text else ""
        chunks.insert(0, text)
    return [line for line in "".join(chunks).splitlines() if line.strip()]


def rotated(directory: Path, name: str) -> list[Path]:
    backups = [directory / f"{name}.{n}" for n in range(diagnostics.BACKUPS, 0, -1)]
    return [p for p in [*backups, directory / name] if p.exists()]


def parse_frame_line(line: str) -> dict[str, Any] | None:
    """``<iso> <in|out> <frame>`` → time, direction, type, id, action (None if not a frame)."""
    parts = line.split(" ", 2)
    if len(parts) < 3 or parts[1] not in ("in", "out"):
        return None
    at, direction, text = parts
    kind, message_id, action = "?", "", ""
    try:
        frame = json.loads(text)
        kind = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}.get(frame[0], "?")
        message_id = str(frame[1])
        if frame[0] == 2:
            action = str(frame[2])
    except (ValueError, TypeError, LookupError):
        pass
    return {
        "at": at,
        "direction": direction,
        "kind": kind,
        "id": message_id,
        "action": action,
        "text": text,
    }


def read_frames(
    log_dir: Path, action: str = "", direction: str = "", limit: int = FRAME_ROWS
) -> tuple[list[dict[str, Any]], list[str]]:
    """The newest frames matching the filter (newest first) and every action seen."""
    calls: dict[str, str] = {}
    frames: list[dict[str, Any]] = []
    for line in tail_lines(rotated(log_dir, diagnostics.FRAME_FILE)):
        f = parse_frame_line(line)
        if f is None:
            continue
        if f["kind"] == "CALL":
            calls[f["id"]] = f["action"]
        else:
            f["action"] = calls.get(f["id"], "")
        frames.append(f)
    actions = sorted({f["action"] for f in frames if f["action"]})
    wanted = action.casefold()
    matching = [
        f
        for f in frames
        if (not wanted or f["action"].casefold() == wanted)
        and (not direction or f["direction"] == direction)
    ]
    return matching[::-1][:limit], actions


class LogPages:
    """Route handlers of `/logs`, its two fragments and the diagnostics download."""

    def __init__(self, ui: WebUI) -> None:
        self.ui = ui
        self.runtime = ui.runtime

    def logs_dir(self) -> Path:
        return diagnostics.log_dir(self.runtime.data_dir)

    def frames_context(self, request: Request) -> dict[str, Any]:
        action = request.query_params.get("action", "")[:60]
        direction = request.query_params.get("direction", "")
        if direction not in ("", "in", "out"):
            direction = ""
        frames, actions = read_frames(self.logs_dir(), action, direction)
        return {
            "frames": frames,
            "actions": actions,
            "action": action,
            "direction": direction,
            "frame_log_exists": (self.logs_dir() / diagnostics.FRAME_FILE).exists(),
            "query": f"action={action}&direction={direction}",
        }

    def system_log(self) -> list[str]:
        lines = tail_lines(rotated(self.logs_dir(), diagnostics.LOG_FILE), 200_000)
        return lines[-LOG_ROWS:][::-1]

    async def show(self, request: Request, session: SessionRecord) -> Response:
        return self.ui.render(
            request,
            "logs.html",
            session,
            log_lines=self.system_log(),
            **self.frames_context(request),
        )

    async def frames(self, request: Request, session: SessionRecord) -> Response:
        return self.ui.render(request, "_frames.html", session, **self.frames_context(request))

    async def syslog(self, request: Request, session: SessionRecord) -> Response:
        return self.ui.render(request, "_syslog.html", session, log_lines=self.system_log())

    async def archive(self, request: Request, session: SessionRecord) -> Response:
        runtime = self.runtime
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{runtime.identity}-diagnostics-{stamp}.zip"
        folder = Path(tempfile.mkdtemp(prefix="chargebox-diag-"))
        path = folder / name
        configuration = [kv.to_ocpp() for kv in runtime.config.get_configuration()[0]]
        await asyncio.to_thread(
            diagnostics.build_archive,
            path,
            logs=self.logs_dir(),
            configuration=configuration,
            info={"identity": runtime.identity, "firmwareVersion": firmware_version(runtime)},
        )

        def cleanup() -> None:
            path.unlink(missing_ok=True)
            folder.rmdir()

        return FileResponse(
            path, media_type="application/zip", filename=name, background=BackgroundTask(cleanup)
        )
