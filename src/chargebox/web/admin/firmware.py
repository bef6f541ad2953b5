"""Firmware page (admin): the installed version, the update history, and an upload that
installs through the same path as an OCPP UpdateFirmware.

The upload is the raw file as the request body (XHR with progress), its name in ``?name=``;
it answers JSON for the page's script.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from chargebox.ocpp16.firmware import FirmwareBusy, installed_version, update_history
from chargebox.store.users import SessionRecord
from chargebox.web.auth import audit_change

if TYPE_CHECKING:
    from chargebox.app import Runtime
    from chargebox.web.ui import WebUI

MAX_FIRMWARE_BYTES = 512 * 1024 * 1024
FIRMWARE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$")


def firmware_version(runtime: Runtime) -> str:
    """The installed firmware: the last upload or update, else the configured one."""
    boot = runtime.file.ocpp.boot
    return installed_version(runtime.state) or boot.firmware_version or "–"


class FirmwarePage:
    """Route handlers of `/firmware`; an upload is audited with its outcome."""

    def __init__(self, ui: WebUI) -> None:
        self.ui = ui
        self.runtime = ui.runtime

    def render(
        self, request: Request, session: SessionRecord, status_code: int = 200
    ) -> HTMLResponse:
        runtime = self.runtime
        return self.ui.render(
            request,
            "firmware.html",
            session,
            status_code,
            version=firmware_version(runtime),
            status=runtime.firmware.firmware_status,
            history=update_history(runtime.state),
            max_mb=MAX_FIRMWARE_BYTES // (1024 * 1024),
        )

    async def show(self, request: Request, session: SessionRecord) -> Response:
        return self.render(request, session)

    async def upload(self, request: Request, session: SessionRecord) -> Response:
        """The raw file is the body (XHR with progress); ``?name=`` is its file name."""
        runtime = self.runtime
        t = self.ui.translator(request)
        name = request.query_params.get("name", "")
        if not FIRMWARE_NAME.match(name) or name.endswith(".sha256"):
            return JSONResponse({"detail": f"name: {t('firmware.bad_name')}"}, 422)
        folder = runtime.data_dir / "firmware"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        part = folder / f".{name}.part"
        size = 0
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
            return JSONResponse({"detail": f"file: {t('firmware.too_large')}"}, 413)
        if size == 0:
            part.unlink(missing_ok=True)
            return JSONResponse({"detail": f"file: {t('firmware.empty')}"}, 422)
        part.replace(target)
        target.with_name(target.name + ".sha256").unlink(missing_ok=True)
        old = installed_version(runtime.state)
        try:
            problem = await runtime.firmware.install_upload(target)
        except FirmwareBusy as exc:
            return JSONResponse({"detail": t("firmware.busy", status=str(exc))}, 409)
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
                {"detail": t("firmware.refused", problem=problem), "installed": False},
                422,
            )
        return JSONResponse(
            {
                "installed": True,
                "version": target.stem,
                "size": size,
                "message": t("firmware.installed", version=target.stem),
            }
        )
