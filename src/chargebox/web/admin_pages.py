"""Pages System, Firmware, Logs, Charging history and Users of the web interface.

``install_admin_pages(ui, app)`` adds their routes; every change goes through
``audit_change``. Roles: history (operator); system view and daemon restart (operator, as
"restart" is daily operation), configuration export (installer); reboot, factory reset,
configuration import, firmware and users (admin); logs (installer).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from chargebox import __version__, system
from chargebox.ocpp16 import diagnostics
from chargebox.ocpp16.firmware import FirmwareBusy, installed_version, update_history
from chargebox.store.db import StoreError
from chargebox.store.transactions import TransactionRecord
from chargebox.store.users import ROLES, SessionRecord
from chargebox.web.auth import MIN_PASSWORD_LENGTH, USERNAME, audit_change

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

__all__ = ["install_admin_pages", "parse_frame_line", "read_frames"]

HISTORY_PAGE = 50
FRAME_ROWS = 200
LOG_ROWS = 300
TAIL_BYTES = 400_000
MAX_FIRMWARE_BYTES = 512 * 1024 * 1024
FIRMWARE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$")
CONFIRM_WORD = "RESET"


# ------------------------------------------------------------------------------ helpers


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


def _parse_day(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def _csv_rows(records: list[TransactionRecord]) -> Iterator[list[Any]]:
    for r in records:
        yield [
            r.local_id,
            r.remote_id if r.remote_id is not None else "",
            r.connector_id,
            r.id_tag,
            r.start_time,
            r.stop_time or "",
            r.duration_s if r.duration_s is not None else "",
            r.meter_start_wh,
            r.meter_stop_wh if r.meter_stop_wh is not None else "",
            r.energy_wh,
            f"{r.energy_wh / 1000:.3f}",
            r.stop_reason or "",
        ]


CSV_HEADER = [
    "local_id",
    "transaction_id",
    "connector_id",
    "id_tag",
    "start_time",
    "stop_time",
    "duration_s",
    "meter_start_wh",
    "meter_stop_wh",
    "energy_wh",
    "energy_kwh",
    "stop_reason",
]


# --------------------------------------------------------------------------- the pages


def install_admin_pages(ui: WebUI, app: FastAPI) -> None:  # noqa: C901 - one route table
    runtime = ui.runtime
    auth = ui.auth
    operator = Depends(auth.require("operator"))
    installer = Depends(auth.require("installer"))
    admin = Depends(auth.require("admin"))

    def t(request: Request, key: str, **values: Any) -> str:
        return ui.i18n.get(ui.lang(request), key, **values)

    # ------------------------------------------------------------------- system

    def versions() -> dict[str, str]:
        boot = runtime.file.ocpp.boot
        return {
            "chargebox": __version__,
            "python": sys.version.split()[0],
            "schema": str(runtime.db.schema_version),
            "firmware": installed_version(runtime.state) or boot.firmware_version or "–",
        }

    def system_page(
        request: Request,
        session: SessionRecord,
        status_code: int = 200,
        message: str = "",
        error: str = "",
        field: str = "",
    ) -> HTMLResponse:
        return ui.render(
            request,
            "system.html",
            session,
            status_code,
            versions=versions(),
            message=message,
            error=error,
            field=field,
            confirm_word=CONFIRM_WORD,
            simulated=getattr(getattr(runtime, "platform", None), "reboot", None) is None,
        )

    def later(action: Any) -> None:
        """Run after the response is on its way (the restart ends this process)."""
        asyncio.get_running_loop().call_later(0.2, action)

    @app.get("/system", include_in_schema=False)
    async def system_view(request: Request, session: SessionRecord = operator) -> HTMLResponse:
        return system_page(request, session)

    @app.post("/system/restart", include_in_schema=False)
    async def system_restart(request: Request, session: SessionRecord = operator) -> Response:
        audit_change(request, "system.restart", "daemon")
        later(lambda: system.restart_daemon(runtime))
        return system_page(request, session, message=t(request, "system.restarting"))

    @app.post("/system/reboot", include_in_schema=False)
    async def system_reboot(request: Request, session: SessionRecord = admin) -> Response:
        audit_change(request, "system.reboot", "station")
        later(lambda: system.reboot(runtime))
        return system_page(request, session, message=t(request, "system.rebooting"))

    @app.post("/system/factory-reset", include_in_schema=False)
    async def system_factory_reset(request: Request, session: SessionRecord = admin) -> Response:
        form = await request.form()
        if str(form.get("confirm") or "").strip() != CONFIRM_WORD:
            return system_page(
                request,
                session,
                400,
                error=t(request, "system.confirm_wrong", word=CONFIRM_WORD),
                field="confirm",
            )
        audit_change(request, "system.factory_reset", "station", None, "requested")
        later(lambda: system.request_factory_reset(runtime))
        return system_page(request, session, message=t(request, "system.resetting"))

    @app.get("/system/export", include_in_schema=False)
    async def system_export(request: Request, session: SessionRecord = installer) -> Response:
        document = system.export_configuration(runtime)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        name = f"{runtime.identity}-configuration-{stamp}.json"
        return Response(
            json.dumps(document, indent=1, ensure_ascii=False) + "\n",
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.post("/system/import", include_in_schema=False)
    async def system_import(request: Request, session: SessionRecord = admin) -> Response:
        form = await request.form()
        upload = form.get("file")
        raw = await upload.read() if isinstance(upload, UploadFile) else b""
        try:
            if not raw:
                raise system.ImportError_("file", t(request, "system.no_file"))
            try:
                document = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise system.ImportError_("file", f"not JSON: {exc}") from None
            before = system.export_configuration(runtime)
            plan = system.import_configuration(runtime, document)
        except system.ImportError_ as exc:
            return system_page(
                request,
                session,
                400,
                error=t(request, "system.import_failed", problem=str(exc)),
                field="file",
            )
        audit_change(
            request,
            "system.import",
            getattr(upload, "filename", "") or "configuration",
            json.dumps({k: before[k] for k in ("ocpp_keys", "settings")}, sort_keys=True),
            plan.summary(),
        )
        return system_page(
            request, session, message=t(request, "system.imported", summary=plan.summary())
        )

    # ----------------------------------------------------------------- firmware

    def firmware_page(
        request: Request, session: SessionRecord, status_code: int = 200
    ) -> HTMLResponse:
        return ui.render(
            request,
            "firmware.html",
            session,
            status_code,
            version=versions()["firmware"],
            status=runtime.firmware.firmware_status,
            history=update_history(runtime.state),
            max_mb=MAX_FIRMWARE_BYTES // (1024 * 1024),
        )

    @app.get("/firmware", include_in_schema=False)
    async def firmware_view(request: Request, session: SessionRecord = admin) -> HTMLResponse:
        return firmware_page(request, session)

    @app.post("/firmware/upload", include_in_schema=False)
    async def firmware_upload(request: Request, session: SessionRecord = admin) -> Response:
        """The raw file is the body (XHR with progress); ``?name=`` is its file name."""
        name = request.query_params.get("name", "")
        if not FIRMWARE_NAME.match(name) or name.endswith(".sha256"):
            return JSONResponse({"detail": f"name: {t(request, 'firmware.bad_name')}"}, 422)
        folder = runtime.data_dir / "firmware"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        part = folder / f".{name}.part"
        size = 0
        import hashlib

        digest = hashlib.sha256()
        try:
            with part.open("wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > MAX_FIRMWARE_BYTES:
                        raise ValueError("too large")
                    digest.update(chunk)
                    out.write(chunk)
        except ValueError:
            part.unlink(missing_ok=True)
            return JSONResponse({"detail": f"file: {t(request, 'firmware.too_large')}"}, 413)
        if size == 0:
            part.unlink(missing_ok=True)
            return JSONResponse({"detail": f"file: {t(request, 'firmware.empty')}"}, 422)
        part.replace(target)
        target.with_name(target.name + ".sha256").unlink(missing_ok=True)
        old = installed_version(runtime.state)
        try:
            problem = await runtime.firmware.install_upload(target)
        except FirmwareBusy as exc:
            return JSONResponse({"detail": t(request, "firmware.busy", status=str(exc))}, 409)
        audit_change(
            request,
            "firmware.upload",
            name,
            old,
            f"{target.stem} ({size} bytes, sha256 {digest.hexdigest()[:16]}…): "
            + ("Installed" if problem is None else f"InstallationFailed: {problem}"),
        )
        if problem is not None:
            return JSONResponse(
                {"detail": t(request, "firmware.refused", problem=problem), "installed": False},
                422,
            )
        return JSONResponse(
            {
                "installed": True,
                "version": target.stem,
                "size": size,
                "message": t(request, "firmware.installed", version=target.stem),
            }
        )

    # --------------------------------------------------------------------- logs

    def logs_dir() -> Path:
        return diagnostics.log_dir(runtime.data_dir)

    def frames_context(request: Request) -> dict[str, Any]:
        action = request.query_params.get("action", "")[:60]
        direction = request.query_params.get("direction", "")
        if direction not in ("", "in", "out"):
            direction = ""
        frames, actions = read_frames(logs_dir(), action, direction)
        return {
            "frames": frames,
            "actions": actions,
            "action": action,
            "direction": direction,
            "frame_log_exists": (logs_dir() / diagnostics.FRAME_FILE).exists(),
            "query": f"action={action}&direction={direction}",
        }

    def system_log() -> list[str]:
        lines = tail_lines(rotated(logs_dir(), diagnostics.LOG_FILE), 200_000)
        return lines[-LOG_ROWS:][::-1]

    @app.get("/logs", include_in_schema=False)
    async def logs_view(request: Request, session: SessionRecord = installer) -> HTMLResponse:
        return ui.render(
            request, "logs.html", session, log_lines=system_log(), **frames_context(request)
        )

    @app.get("/logs/frames", include_in_schema=False)
    async def logs_frames(request: Request, session: SessionRecord = installer) -> HTMLResponse:
        return ui.render(request, "_frames.html", session, **frames_context(request))

    @app.get("/logs/system", include_in_schema=False)
    async def logs_system(request: Request, session: SessionRecord = installer) -> HTMLResponse:
        return ui.render(request, "_syslog.html", session, log_lines=system_log())

    @app.get("/logs/diagnostics.zip", include_in_schema=False)
    async def logs_diagnostics(request: Request, session: SessionRecord = installer) -> Response:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{runtime.identity}-diagnostics-{stamp}.zip"
        folder = Path(tempfile.mkdtemp(prefix="chargebox-diag-"))
        path = folder / name
        configuration = [kv.to_ocpp() for kv in runtime.config.get_configuration()[0]]
        await asyncio.to_thread(
            diagnostics.build_archive,
            path,
            logs=logs_dir(),
            configuration=configuration,
            info={"identity": runtime.identity, "firmwareVersion": versions()["firmware"]},
        )

        def cleanup() -> None:
            path.unlink(missing_ok=True)
            folder.rmdir()

        return FileResponse(
            path, media_type="application/zip", filename=name, background=BackgroundTask(cleanup)
        )

    # ------------------------------------------------------------------ history

    def history_filters(request: Request) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        q = request.query_params
        values = {k: q.get(k, "").strip() for k in ("from", "to", "connector", "tag")}
        errors: dict[str, str] = {}
        filters: dict[str, Any] = {}
        try:
            since = _parse_day(values["from"])
            if since is not None:
                filters["since"] = f"{since.isoformat()}T00:00:00Z"
        except ValueError:
            errors["from"] = t(request, "history.bad_date")
        try:
            until = _parse_day(values["to"])
            if until is not None:  # inclusive day: before the next midnight
                filters["until"] = f"{(until + timedelta(days=1)).isoformat()}T00:00:00Z"
        except ValueError:
            errors["to"] = t(request, "history.bad_date")
        if values["connector"]:
            if values["connector"].isdigit() and int(values["connector"]) in (
                runtime.station.connectors
            ):
                filters["connector_id"] = int(values["connector"])
            else:
                errors["connector"] = t(request, "history.bad_connector")
        if values["tag"]:
            if len(values["tag"]) > 20:
                errors["tag"] = t(request, "history.bad_tag")
            else:
                filters["id_tag"] = values["tag"]
        return filters, values, errors

    @app.get("/history", include_in_schema=False)
    async def history_view(request: Request, session: SessionRecord = operator) -> HTMLResponse:
        filters, values, errors = history_filters(request)
        if errors:
            filters = {}
        total = runtime.transactions.count(**filters)
        pages = max(1, (total + HISTORY_PAGE - 1) // HISTORY_PAGE)
        raw_page = request.query_params.get("page", "1")
        page = min(pages, max(1, int(raw_page))) if raw_page.isdigit() else 1
        records = runtime.transactions.history(
            limit=HISTORY_PAGE, offset=(page - 1) * HISTORY_PAGE, **filters
        )
        query = "&".join(f"{k}={v}" for k, v in values.items() if v)
        return ui.render(
            request,
            "history.html",
            session,
            400 if errors else 200,
            records=records,
            values=values,
            errors=errors,
            total=total,
            page=page,
            pages=pages,
            query=query,
            connectors=list(runtime.station.connectors),
            total_kwh=None,
        )

    @app.get("/history.csv", include_in_schema=False)
    async def history_csv(request: Request, session: SessionRecord = operator) -> Response:
        filters, _values, errors = history_filters(request)
        if errors:
            return JSONResponse({"detail": "; ".join(f"{k}: {v}" for k, v in errors.items())}, 422)

        def rows() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(CSV_HEADER)
            offset = 0
            while True:
                batch = runtime.transactions.history(limit=500, offset=offset, **filters)
                for row in _csv_rows(batch):
                    writer.writerow(row)
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                if len(batch) < 500:
                    return
                offset += 500

        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        name = f"{runtime.identity}-history-{stamp}.csv"
        return StreamingResponse(
            rows(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # -------------------------------------------------------------------- users

    def users_page(
        request: Request,
        session: SessionRecord,
        status_code: int = 200,
        message: str = "",
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> HTMLResponse:
        return ui.render(
            request,
            "users.html",
            session,
            status_code,
            users=auth.users.all(),
            roles=ROLES,
            message=message,
            errors=errors or {},
            values=values or {"username": "", "role": "operator"},
            min_length=MIN_PASSWORD_LENGTH,
        )

    def admins() -> int:
        return sum(1 for u in auth.users.all() if u.role == "admin")

    @app.get("/users", include_in_schema=False)
    async def users_view(request: Request, session: SessionRecord = admin) -> HTMLResponse:
        return users_page(request, session)

    @app.post("/users", include_in_schema=False)
    async def users_create(request: Request, session: SessionRecord = admin) -> Response:
        form = await request.form()
        username = str(form.get("username") or "").strip()
        role = str(form.get("role") or "")
        password = str(form.get("password") or "")
        errors: dict[str, str] = {}
        if not USERNAME.match(username):
            errors["username"] = t(request, "auth.username_invalid")
        elif auth.users.get(username) is not None:
            errors["username"] = t(request, "users.exists")
        if role not in ROLES:
            errors["role"] = t(request, "users.bad_role")
        problem = auth.password_problem(password, str(form.get("confirm") or ""))
        if problem:
            errors["confirm" if problem == "auth.password_mismatch" else "password"] = t(
                request, problem, min=MIN_PASSWORD_LENGTH
            )
        values = {"username": username, "role": role}
        if errors:
            return users_page(request, session, 400, errors=errors, values=values)
        try:
            auth.users.create(username, await auth.hash_password(password), role)
        except StoreError as exc:
            return users_page(request, session, 400, errors={"username": str(exc)}, values=values)
        audit_change(request, "user.create", username, None, f"role={role}")
        return users_page(request, session, message=t(request, "users.created", user=username))

    def target_user(request: Request, user_id: int) -> Any:
        user = auth.users.by_id(user_id)
        if user is None:
            from chargebox.web.auth import PageError

            raise PageError(404, "error.not_found")
        return user

    @app.post("/users/{user_id}/role", include_in_schema=False)
    async def users_role(
        request: Request, user_id: int, session: SessionRecord = admin
    ) -> Response:
        user = target_user(request, user_id)
        role = str((await request.form()).get("role") or "")
        if role not in ROLES:
            return users_page(request, session, 400, errors={"row": t(request, "users.bad_role")})
        if user.role == "admin" and role != "admin" and admins() <= 1:
            return users_page(request, session, 400, errors={"row": t(request, "users.last_admin")})
        if role != user.role:
            auth.users.set_role(user.id, role)
            audit_change(request, "user.role", user.username, user.role, role)
        return users_page(
            request, session, message=t(request, "users.role_changed", user=user.username)
        )

    @app.post("/users/{user_id}/password", include_in_schema=False)
    async def users_password(
        request: Request, user_id: int, session: SessionRecord = admin
    ) -> Response:
        user = target_user(request, user_id)
        form = await request.form()
        password = str(form.get("password") or "")
        problem = auth.password_problem(password, str(form.get("confirm") or ""))
        if problem:
            text = t(request, problem, min=MIN_PASSWORD_LENGTH)
            return users_page(request, session, 400, errors={"row": f"{user.username}: {text}"})
        auth.users.set_password(user.id, await auth.hash_password(password))
        if user.id != session.user.id:
            auth.sessions.delete_for_user(user.id)  # logged out everywhere
        audit_change(request, "user.password", user.username, "old", "new", secret=True)
        return users_page(
            request, session, message=t(request, "users.password_set", user=user.username)
        )

    @app.post("/users/{user_id}/delete", include_in_schema=False)
    async def users_delete(
        request: Request, user_id: int, session: SessionRecord = admin
    ) -> Response:
        user = target_user(request, user_id)
        if user.role == "admin" and admins() <= 1:
            return users_page(request, session, 400, errors={"row": t(request, "users.last_admin")})
        if user.id == session.user.id:
            return users_page(request, session, 400, errors={"row": t(request, "users.not_self")})
        auth.users.delete(user.id)
        audit_change(request, "user.delete", user.username, f"role={user.role}", None)
        return users_page(request, session, message=t(request, "users.deleted", user=user.username))
