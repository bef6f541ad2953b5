"""System page: versions, daemon restart (operator: daily operation), configuration export
(installer); reboot, factory reset and configuration import (admin). Every action is audited.

Restart, reboot and factory reset run just after the response is on its way (`later`), as
they end this process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from chargebox import __version__, system
from chargebox.store.users import SessionRecord
from chargebox.web.admin.firmware import firmware_version
from chargebox.web.auth import audit_change

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

CONFIRM_WORD = "RESET"


def later(action: Callable[[], Any]) -> None:
    """Run after the response is on its way (the restart ends this process)."""
    asyncio.get_running_loop().call_later(0.2, action)


class SystemPage:
    """Route handlers of `/system` and its actions."""

    def __init__(self, ui: WebUI) -> None:
        self.ui = ui
        self.runtime = ui.runtime

    def versions(self) -> dict[str, str]:
        return {
            "chargebox": __version__,
            "python": sys.version.split()[0],
            "schema": str(self.runtime.db.schema_version),
            "firmware": firmware_version(self.runtime),
        }

    def render(
        self,
        request: Request,
        session: SessionRecord,
        status_code: int = 200,
        error: str = "",  # why an action was refused, shown next to `field`
        field: str = "",
        message: str = "",  # the outcome of an action
    ) -> HTMLResponse:
        return self.ui.render(
            request,
            "system.html",
            session,
            status_code,
            versions=self.versions(),
            message=message,
            error=error,
            field=field,
            confirm_word=CONFIRM_WORD,
            simulated=getattr(getattr(self.runtime, "platform", None), "reboot", None) is None,
        )

    def _done(self, request: Request, session: SessionRecord, key: str, **values: Any) -> Response:
        """The page with the outcome of an action above it."""
        return self.render(request, session, message=self.ui.translator(request)(key, **values))

    async def show(self, request: Request, session: SessionRecord) -> Response:
        return self.render(request, session)

    async def restart(self, request: Request, session: SessionRecord) -> Response:
        runtime = self.runtime
        audit_change(request, "system.restart", "daemon")
        later(lambda: system.restart_daemon(runtime))
        return self._done(request, session, "system.restarting")

    async def reboot(self, request: Request, session: SessionRecord) -> Response:
        runtime = self.runtime
        audit_change(request, "system.reboot", "station")
        later(lambda: system.reboot(runtime))
        return self._done(request, session, "system.rebooting")

    async def factory_reset(self, request: Request, session: SessionRecord) -> Response:
        runtime = self.runtime
        form = await request.form()
        if str(form.get("confirm") or "").strip() != CONFIRM_WORD:
            text = self.ui.translator(request)("system.confirm_wrong", word=CONFIRM_WORD)
            return self.render(request, session, 400, error=text, field="confirm")
        audit_change(request, "system.factory_reset", "station", None, "requested")
        later(lambda: system.request_factory_reset(runtime))
        return self._done(request, session, "system.resetting")

    async def export(self, request: Request, session: SessionRecord) -> Response:
        runtime = self.runtime
        document = system.export_configuration(runtime)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        name = f"{runtime.identity}-configuration-{stamp}.json"
        return Response(
            json.dumps(document, indent=1, ensure_ascii=False) + "\n",
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def import_(self, request: Request, session: SessionRecord) -> Response:
        runtime = self.runtime
        t = self.ui.translator(request)
        form = await request.form()
        upload = form.get("file")
        raw = await upload.read() if isinstance(upload, UploadFile) else b""
        try:
            if not raw:
                raise system.ImportError_("file", t("system.no_file"))
            try:
                document = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise system.ImportError_("file", f"not JSON: {exc}") from None
            before = system.export_configuration(runtime)
            plan = system.import_configuration(runtime, document)
        except system.ImportError_ as exc:
            text = t("system.import_failed", problem=str(exc))
            return self.render(request, session, 400, error=text, field="file")
        audit_change(
            request,
            "system.import",
            getattr(upload, "filename", "") or "configuration",
            json.dumps({k: before[k] for k in ("ocpp_keys", "settings")}, sort_keys=True),
            plan.summary(),
        )
        return self._done(request, session, "system.imported", summary=plan.summary())
