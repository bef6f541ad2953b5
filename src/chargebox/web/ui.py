"""The web interface: server-rendered pages (Jinja2 + htmx) on top of the control API.

``install_ui(app, runtime)`` adds to the control API's FastAPI app: login, logout, the
first-start setup page and the language switch (`login`), the dashboard and the simulator
panel (`dashboard`), the admin pages (`admin/`), the settings pages (`settings/`), load
management (`dlm_page`), placeholders for the pages still to come, the live feed
(``/events``) and the static files. Pages read the station through the same functions the
API serves (``station_status``) and change it only by calling the control API from the
browser (htmx, session cookie + CSRF header), so the UI is a client of the API.

Adding a page: add its `Route` rows (`routes.add_routes`: the role, and CSRF on POST, are
checked before the handler) and render through ``ui.render``; mark its entry in ``PAGES``
``ready=True`` so the placeholder goes away.
"""

from __future__ import annotations

import hmac
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from chargebox import __version__
from chargebox.store.users import SessionRecord
from chargebox.web.api import station_status
from chargebox.web.auth import (
    SAFE_METHODS,
    SESSION_COOKIE,
    LoginRequired,
    PageError,
    WebAuth,
    has_role,
)
from chargebox.web.dashboard import Dashboard
from chargebox.web.events import LiveHub, events_router
from chargebox.web.i18n import LANG_COOKIE, Catalogues, catalogues
from chargebox.web.login import install_login_pages
from chargebox.web.routes import Handler, Route, add_routes

if TYPE_CHECKING:
    from chargebox.app import Runtime

__all__ = ["PAGES", "Page", "WebUI", "install_ui"]

HERE = Path(__file__).parent
HTMX = "vendor/htmx-2.0.11.min.js"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
)


@dataclass(frozen=True)
class Page:
    path: str
    label: str  # catalogue key
    role: str  # the lowest role that may open it
    ready: bool  # False: a "coming" placeholder is served until the page exists


# The navigation, in order. The pages helper flips `ready` as it builds each page.
PAGES: list[Page] = [
    Page("/", "nav.dashboard", "operator", True),
    Page("/sim", "nav.sim", "operator", True),
    Page("/history", "nav.history", "operator", True),
    Page("/whitelists", "nav.whitelists", "operator", True),
    Page("/settings/backend", "nav.backend", "installer", True),
    Page("/settings/ocpp-keys", "nav.ocpp_keys", "installer", True),
    Page("/settings/authorization", "nav.authorization", "installer", True),
    Page("/settings/installation", "nav.installation", "installer", True),
    Page("/settings/network", "nav.network", "installer", True),
    Page("/settings/time", "nav.time", "installer", True),
    Page("/logs", "nav.logs", "installer", True),
    Page("/system", "nav.system", "operator", True),
    Page("/dlm", "nav.dlm", "installer", True),
    Page("/firmware", "nav.firmware", "admin", True),
    Page("/settings/security", "nav.security", "admin", False),
    Page("/users", "nav.users", "admin", True),
    Page("/audit", "nav.audit", "admin", True),
]


# ------------------------------------------------------------------------ the UI


class WebUI:
    def __init__(self, app: FastAPI, runtime: Runtime) -> None:
        self.runtime = runtime
        self.http = runtime.file.http
        self.auth = WebAuth(runtime.db, self.http)
        self.i18n: Catalogues = catalogues()
        self.hub = LiveHub(runtime.bus, lambda: station_status(runtime))
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(htmx=HTMX, version=__version__)
        app.state.web_auth = self.auth
        app.state.api_cookie_auth = self.auth.api_cookie_auth
        app.state.web_ui = self
        app.add_middleware(ApiAuditMiddleware, auth=self.auth)
        app.add_exception_handler(LoginRequired, self._login_required)  # type: ignore[arg-type]
        app.add_exception_handler(PageError, self._page_error)  # type: ignore[arg-type]
        app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
        app.include_router(events_router(self.hub, self._events_auth, self._events_valid))
        install_login_pages(self, app)  # login, logout, setup, language
        add_routes(self, app, Dashboard(self).routes() + self._placeholders())
        from chargebox.web.admin import install_admin_pages

        install_admin_pages(self, app)  # system, firmware, logs, history, users, audit log
        from chargebox.web.settings import install_settings_pages

        install_settings_pages(self, app)  # backend, OCPP keys, authorization, whitelists, ...
        from chargebox.web.dlm_page import install_dlm_page

        install_dlm_page(self, app)  # load management between stations

    # -------------------------------------------------------------- lifecycle

    @property
    def https(self) -> bool:
        return bool(self.http.https)

    @property
    def base_url(self) -> str:
        host = self.runtime.http_host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.https else 'http'}://{host}:{self.runtime.http_port}"

    def announce(self) -> str | None:
        """At start: the one-time setup link while no admin exists (console and log)."""
        return self.auth.announce_setup(self.base_url)

    def uvicorn_options(self) -> dict[str, Any]:
        """TLS files for uvicorn when `[http] https = true` (made at first start)."""
        if not self.https:
            return {}
        from chargebox.web.tls import ensure_certificate

        cert, key = ensure_certificate(self.runtime.data_dir / "tls", self.runtime.http_host)
        return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}

    async def run(self) -> None:
        await self.hub.run()

    # ------------------------------------------------------------- rendering

    def lang(self, request: Request) -> str:
        return self.i18n.negotiate(
            request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
        )

    def translator(self, request: Request) -> Callable[..., str]:
        """The catalogue lookup (key, values) in the language of the request's page."""
        lang = self.lang(request)
        return lambda key, **values: self.i18n.get(lang, key, **values)

    def render(
        self,
        request: Request,
        template: str,
        session: SessionRecord | None = None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        lang = self.lang(request)

        def t(key: str, **values: Any) -> str:
            return self.i18n.get(lang, key, **values)

        user = session.user if session is not None else None
        nav = [
            p
            for p in PAGES
            if user is not None
            and has_role(user.role, p.role)
            and (p.path != "/sim" or self.sim_enabled)
        ]
        response = self.templates.TemplateResponse(
            request,
            template,
            {
                "t": t,
                "lang": lang,
                "languages": self.i18n.languages,
                "user": user,
                "csrf": session.csrf_token if session is not None else None,
                "nav": nav,
                "path": request.url.path,
                "identity": self.runtime.identity,
                **context,
            },
            status_code=status_code,
        )
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    @property
    def sim_enabled(self) -> bool:
        return self.runtime.file.hardware.driver == "sim"

    # ----------------------------------------------------------------- errors

    async def _login_required(self, request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    async def _page_error(self, request: Request, exc: PageError) -> Response:
        session = self.auth.session(request)
        return self.render(
            request, "error.html", session, exc.status, message=exc.message_key, code=exc.status
        )

    async def _events_auth(self, request: Request) -> None:
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            if hmac.compare_digest(bearer[7:].strip().encode(), self.runtime.api_token.encode()):
                return
            raise PageError(401, "error.not_logged_in")
        await self.auth.require("operator")(request)

    def _events_valid(self, request: Request) -> bool:
        if request.headers.get("authorization"):
            return True
        return self.auth.still_valid(request.cookies.get(SESSION_COOKIE))

    # ----------------------------------------------------------------- routes

    def _placeholders(self) -> list[Route]:
        """A "coming" page for each entry of `PAGES` not built yet."""

        def coming(page: Page) -> Handler:
            async def handler(request: Request, session: SessionRecord) -> Response:
                return self.render(request, "coming.html", session, page=page)

            return handler

        return [Route("GET", p.path, p.role, coming(p)) for p in PAGES if not p.ready]


class ApiAuditMiddleware:
    """Every successful change through the control API goes into the audit log.

    The actor is the web user (cookie) or ``api-token``; plain ASGI, so server-sent event
    streams pass through untouched.
    """

    def __init__(self, app: Any, auth: WebAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or not str(scope["path"]).startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        status = 0

        async def capture(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, capture)
        if 200 <= status < 400:
            state = scope.get("state") or {}
            client = scope.get("client")
            self.auth.audit.record(
                str(state.get("actor") or "api-token"),
                "api",
                f"{scope['method']} {scope['path']}",
                None,
                f"HTTP {status}",
                client[0] if client else "",
            )


def install_ui(app: FastAPI, runtime: Runtime) -> WebUI:
    return WebUI(app, runtime)
