"""Pages System, Firmware, Logs, Charging history, Users and the audit log of the web
interface, one module each; every change goes through ``audit_change``.

``install_admin_pages(ui, app)`` adds the rows of `_routes`, each behind its role: history
(operator); system view and daemon restart (operator, as "restart" is daily operation),
configuration export (installer); reboot, factory reset, configuration import, firmware,
users and the audit log (admin); logs (installer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from chargebox.web.admin.firmware import FirmwarePage
from chargebox.web.admin.history import HistoryPage
from chargebox.web.admin.logs import LogPages, parse_frame_line, read_frames
from chargebox.web.admin.system import SystemPage
from chargebox.web.admin.users import UserPages
from chargebox.web.routes import Route, add_routes

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

__all__ = ["install_admin_pages", "parse_frame_line", "read_frames"]


def _routes(ui: WebUI) -> list[Route]:
    system, firmware, logs = SystemPage(ui), FirmwarePage(ui), LogPages(ui)
    history, users = HistoryPage(ui), UserPages(ui)
    return [
        Route("GET", "/system", "operator", system.show),
        Route("POST", "/system/restart", "operator", system.restart),
        Route("POST", "/system/reboot", "admin", system.reboot),
        Route("POST", "/system/factory-reset", "admin", system.factory_reset),
        Route("GET", "/system/export", "installer", system.export),
        Route("POST", "/system/import", "admin", system.import_),
        Route("GET", "/firmware", "admin", firmware.show),
        Route("POST", "/firmware/upload", "admin", firmware.upload),
        Route("GET", "/logs", "installer", logs.show),
        Route("GET", "/logs/frames", "installer", logs.frames),
        Route("GET", "/logs/system", "installer", logs.syslog),
        Route("GET", "/logs/diagnostics.zip", "installer", logs.archive),
        Route("GET", "/history", "operator", history.show),
        Route("GET", "/history.csv", "operator", history.export),
        Route("GET", "/users", "admin", users.show),
        Route("POST", "/users", "admin", users.create),
        Route("POST", "/users/{user_id}/role", "admin", users.set_role),
        Route("POST", "/users/{user_id}/password", "admin", users.set_password),
        Route("POST", "/users/{user_id}/delete", "admin", users.delete),
        Route("GET", "/audit", "admin", users.audit_log),
    ]


def install_admin_pages(ui: WebUI, app: FastAPI) -> None:
    """Add every route of these pages to `app`, each behind its role."""
    add_routes(ui, app, _routes(ui))
