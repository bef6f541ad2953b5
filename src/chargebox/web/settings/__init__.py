"""Settings pages of the web interface: backend, OCPP keys, authorization, whitelists,
installation and load management, network, date and time.

Every settings page has Reload (a fresh GET: unsaved edits are dropped, the station's values
shown) and Save (a form POST with the session's CSRF token). Save validates on the server; a
bad value is shown next to its field and nothing of the form is applied. Each applied change
goes into the audit log (`audit_change`, secrets masked). A field that only takes effect
after a restart carries the restart mark, and after saving one the page offers the restart.

Those pages are the rows of `FORMS`, one `SettingsForm` each (its module says where the
page's values live); the whitelists page and the few other routes are the rows of `_routes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import Response

from chargebox.store.users import SessionRecord
from chargebox.web.api import station_status
from chargebox.web.auth import audit_change
from chargebox.web.routes import Route, add_routes
from chargebox.web.settings.authorization import AuthorizationForm
from chargebox.web.settings.backend import BackendForm
from chargebox.web.settings.clock import ClockForm
from chargebox.web.settings.forms import Outcome, SettingsForm, read_form, translator
from chargebox.web.settings.installation import InstallationForm
from chargebox.web.settings.network import NetworkForm
from chargebox.web.settings.ocpp_keys import OcppKeysForm
from chargebox.web.settings.whitelists import Whitelists

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

__all__ = ["FORMS", "install_settings_pages"]


@dataclass(frozen=True)
class FormPage:
    """A page of `settings_form.html`: GET shows `form.view`, POST runs `form.save`."""

    path: str
    title: str  # catalogue key of the heading
    form: type[SettingsForm]
    role: str = "installer"


FORMS: tuple[FormPage, ...] = (
    FormPage("/settings/backend", "backend.title", BackendForm),
    FormPage("/settings/ocpp-keys", "ocpp_keys.title", OcppKeysForm),
    FormPage("/settings/authorization", "authz.title", AuthorizationForm),
    FormPage("/settings/installation", "installation.title", InstallationForm),
    FormPage("/settings/network", "network.title", NetworkForm),
    FormPage("/settings/time", "datetime.title", ClockForm),
)


def _form_routes(ui: WebUI, page: FormPage) -> list[Route]:
    """Reload and Save of one settings form."""
    form = page.form(ui.runtime)

    def render(request: Request, session: SessionRecord, outcome: Outcome) -> Response:
        return ui.render(
            request,
            "settings_form.html",
            session,
            outcome.status_code,
            title=page.title,
            sections=outcome.sections,
            saved=outcome.saved,
            failed=outcome.status_code == 400,
            restart_needed=outcome.restart_needed,
            live_applied=outcome.live_applied,
            **{"extra": "", **form.context()},
        )

    async def show(request: Request, session: SessionRecord) -> Response:
        return render(request, session, Outcome(form.view(translator(ui, request))))

    async def save(request: Request, session: SessionRecord) -> Response:
        fields = await read_form(request)
        return render(request, session, form.save(request, fields, translator(ui, request)))

    return [Route("GET", page.path, page.role, show), Route("POST", page.path, page.role, save)]


def _routes(ui: WebUI) -> list[Route]:
    """The routes that are not a settings form's Reload/Save."""
    whitelists = Whitelists(ui)

    async def backend_status(request: Request, session: SessionRecord) -> Response:
        """The backend page's connection card, polled by htmx."""
        status = station_status(ui.runtime)
        return ui.render(request, "_backend_status.html", session, status=status)

    async def restart(request: Request, session: SessionRecord) -> Response:
        """The button a page offers after saving a field marked for restart."""
        audit_change(request, "station.restart", "settings", None, "Soft")
        ui.runtime.station.reset("Soft")
        return ui.render(request, "restarting.html", session)

    return [
        Route("GET", "/settings/backend/status", "installer", backend_status),
        Route("GET", "/whitelists", "operator", whitelists.show),
        Route("POST", "/whitelists", "operator", whitelists.post),
        Route("POST", "/whitelists/import", "operator", whitelists.import_csv),
        Route("GET", "/whitelists/export.csv", "operator", whitelists.export),
        Route("POST", "/settings/restart", "installer", restart),
    ]


def install_settings_pages(ui: WebUI, app: FastAPI) -> None:
    """Add every settings route to `app`, each behind its role."""
    routes = [route for page in FORMS for route in _form_routes(ui, page)] + _routes(ui)
    add_routes(ui, app, routes)
