"""The web interface: server-rendered pages (Jinja2 + htmx) on top of the control API.

``install_ui(app, runtime)`` adds to the control API's FastAPI app: login, logout and the
first-start setup page, the language switch, the dashboard, the simulator panel, the audit
log, placeholders for the pages still to come, the live feed (``/events``) and the static
files. Pages read the station through the same functions the API serves
(``station_status``) and change it only by calling the control API from the browser (htmx,
session cookie + CSRF header), so the UI is a client of the API.

Adding a page: write its route with ``Depends(ui.auth.require(role))`` and render through
``ui.render``; mark its entry in ``PAGES`` ``ready=True`` so the placeholder goes away.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from chargebox import __version__
from chargebox.store.users import SessionRecord
from chargebox.web.api import station_status
from chargebox.web.auth import (
    CSRF_FIELD,
    MIN_PASSWORD_LENGTH,
    PRELOGIN_COOKIE,
    SAFE_METHODS,
    SESSION_COOKIE,
    USERNAME,
    LoginRequired,
    PageError,
    WebAuth,
    client_of,
    has_role,
)
from chargebox.web.events import LiveHub, events_router
from chargebox.web.i18n import LANG_COOKIE, Catalogues, catalogues

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


def safe_next(value: str | None) -> str:
    """Only a local path may be the target after login (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


# ------------------------------------------------------------------ formatting


def script_json(value: Any) -> str:
    """JSON to embed in <script type="application/json">: no "</" can end the element."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def fmt_kw(watts: float | None) -> str:
    return "–" if watts is None else f"{watts / 1000:.2f} kW"


def fmt_kwh(wh: float | None) -> str:
    return "–" if wh is None else f"{wh / 1000:.2f} kWh"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = max(0, int(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def connector_view(c: dict[str, Any], t: Callable[[str], str]) -> dict[str, str]:
    """What a connector card shows; static/app.js formats the live updates the same way."""

    def tr(prefix: str, value: Any) -> str:
        if value is None:
            return "–"
        key = f"{prefix}.{value}"
        text = t(key)
        return str(value) if text == key else text

    car = c.get("car")
    return {
        "status": tr("status", c["status"]),
        "error_code": "" if c["error_code"] == "NoError" else c["error_code"],
        "pilot": tr("pilot", c["pilot"]),
        "soc": "–" if not car else f"{car['soc_percent']:.0f} %",
        "current_limit_a": f"{c['current_limit_a']:.1f} A",
        "limiting_source": tr("source", c["limiting_source"]),
        "power_w": fmt_kw(c["power_w"]),
        "energy_wh": fmt_kwh(c["energy_wh"]) if c["transaction_id"] or c["local_transaction_id"]
        else "–",
        "duration": fmt_duration(c.get("session_duration_s")),
        "id_tag": c["id_tag"] or "–",
    }  # fmt: skip


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
        self._routes(app)
        from chargebox.web.admin_pages import install_admin_pages

        install_admin_pages(self, app)  # system, firmware, logs, history, users
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

    def _cookie(self, response: Response, name: str, value: str, **extra: Any) -> None:
        response.set_cookie(
            name,
            value,
            httponly=True,
            samesite="strict",
            secure=self.https,
            path="/",
            **extra,
        )

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
            import hmac

            if hmac.compare_digest(bearer[7:].strip().encode(), self.runtime.api_token.encode()):
                return
            raise PageError(401, "error.not_logged_in")
        await self.auth.require("operator")(request)

    def _events_valid(self, request: Request) -> bool:
        if request.headers.get("authorization"):
            return True
        return self.auth.still_valid(request.cookies.get(SESSION_COOKIE))

    # ----------------------------------------------------------------- routes

    def _routes(self, app: FastAPI) -> None:
        auth = self.auth
        # Plain defaults, not Annotated aliases: with postponed annotations FastAPI resolves
        # a parameter's annotation in the module's globals, where a local alias is unknown.
        operator = Depends(auth.require("operator"))
        admin = Depends(auth.require("admin"))

        def prelogin(response: Response, token: str) -> None:
            self._cookie(response, PRELOGIN_COOKIE, token)

        def prelogin_ok(request: Request, form_token: Any) -> bool:
            import hmac

            cookie = request.cookies.get(PRELOGIN_COOKIE)
            return (
                isinstance(form_token, str)
                and cookie is not None
                and hmac.compare_digest(cookie.encode(), form_token.encode())
            )

        def login_page(
            request: Request, status_code: int = 200, error: str | None = None, **values: Any
        ) -> HTMLResponse:
            import secrets

            token = secrets.token_urlsafe(24)
            response = self.render(
                request,
                "login.html",
                None,
                status_code,
                error=error,
                pre=token,
                next=safe_next(request.query_params.get("next") or values.pop("next", None)),
                setup_pending=auth.setup_token is not None,
                **values,
            )
            prelogin(response, token)
            return response

        @app.get("/login", include_in_schema=False, response_model=None)
        async def login_form(request: Request) -> Response:
            if auth.session(request) is not None:
                return RedirectResponse(safe_next(request.query_params.get("next")), 303)
            return login_page(request)

        @app.post("/login", include_in_schema=False)
        async def login(request: Request) -> Response:
            form = await request.form()
            username = str(form.get("username") or "")
            target = safe_next(str(form.get("next") or ""))
            if not prelogin_ok(request, form.get(CSRF_FIELD)):
                return login_page(request, 403, "auth.form_expired", username=username, next=target)
            result = await auth.login(username, str(form.get("password") or ""), client_of(request))
            if result.error == "locked":
                seconds = max(1, round(result.locked_for_s))
                return login_page(
                    request, 429, "auth.locked", seconds=seconds, username=username, next=target
                )
            if result.session_token is None:
                return login_page(request, 401, "auth.wrong", username=username, next=target)
            response = RedirectResponse(target, status_code=303)
            self._cookie(response, SESSION_COOKIE, result.session_token)
            response.delete_cookie(PRELOGIN_COOKIE, path="/")
            return response

        @app.post("/logout", include_in_schema=False)
        async def logout(request: Request, session: SessionRecord = operator) -> Response:
            auth.logout(request)
            response = RedirectResponse("/login", status_code=303)
            response.delete_cookie(SESSION_COOKIE, path="/")
            return response

        def setup_page(request: Request, status_code: int = 200, **values: Any) -> HTMLResponse:
            import secrets

            token = secrets.token_urlsafe(24)
            response = self.render(
                request,
                "setup.html",
                None,
                status_code,
                pre=token,
                min_length=MIN_PASSWORD_LENGTH,
                **values,
            )
            prelogin(response, token)
            return response

        @app.get("/setup", include_in_schema=False)
        async def setup_form(request: Request) -> HTMLResponse:
            token = request.query_params.get("token")
            if not auth.setup_token_valid(token):
                return self.render(request, "setup_invalid.html", None, 404)
            return setup_page(request, token=token, username="admin", errors={})

        @app.post("/setup", include_in_schema=False)
        async def setup(request: Request) -> Response:
            form = await request.form()
            token = str(form.get("token") or "")
            if not auth.setup_token_valid(token):
                return self.render(request, "setup_invalid.html", None, 404)
            username = str(form.get("username") or "").strip()
            password = str(form.get("password") or "")
            errors: dict[str, str] = {}
            if not prelogin_ok(request, form.get(CSRF_FIELD)):
                errors["form"] = "auth.form_expired"
            if not USERNAME.match(username):
                errors["username"] = "auth.username_invalid"
            problem = auth.password_problem(password, str(form.get("confirm") or ""))
            if problem == "auth.password_mismatch":
                errors["confirm"] = problem
            elif problem:
                errors["password"] = problem
            if errors:
                return setup_page(request, 400, token=token, username=username, errors=errors)
            user = await auth.complete_setup(username, password, client_of(request))
            response = RedirectResponse("/", status_code=303)
            self._cookie(response, SESSION_COOKIE, auth.start_session(user, client_of(request)))
            response.delete_cookie(PRELOGIN_COOKIE, path="/")
            return response

        @app.get("/lang/{code}", include_in_schema=False)
        async def set_language(code: str, request: Request) -> Response:
            response = RedirectResponse(safe_next(request.query_params.get("next")), 303)
            if code in self.i18n.languages:
                response.set_cookie(
                    LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/"
                )
            return response

        @app.get("/", include_in_schema=False)
        async def dashboard(request: Request, session: SessionRecord = operator) -> HTMLResponse:
            lang = self.lang(request)
            status = station_status(self.runtime)

            def t(key: str) -> str:
                return self.i18n.get(lang, key)

            return self.render(
                request,
                "dashboard.html",
                session,
                status=status,
                views={c["id"]: connector_view(c, t) for c in status["connectors"]},
                history=script_json(self.hub.history_points()),
                js_text=script_json(self._js_text(lang)),
            )

        @app.get("/sim", include_in_schema=False)
        async def simulator(request: Request, session: SessionRecord = operator) -> HTMLResponse:
            if not self.sim_enabled:
                raise PageError(404, "sim.not_available")
            lang = self.lang(request)
            status = station_status(self.runtime)

            def t(key: str) -> str:
                return self.i18n.get(lang, key)

            catalogue = self.runtime.station.catalogue
            car = self.runtime.sim_car_defaults
            return self.render(
                request,
                "sim.html",
                session,
                status=status,
                views={c["id"]: connector_view(c, t) for c in status["connectors"]},
                connector_codes=sorted(
                    code for code, e in catalogue.items() if e.scope.value != "station"
                ),
                station_codes=sorted(
                    code for code, e in catalogue.items() if e.scope.value != "connector"
                ),
                car=car,
                js_text=script_json(self._js_text(lang)),
            )

        @app.get("/audit", include_in_schema=False)
        async def audit_log(request: Request, session: SessionRecord = admin) -> HTMLResponse:
            return self.render(request, "audit.html", session, entries=auth.audit.recent(200))

        for page in PAGES:
            if not page.ready:
                app.add_api_route(
                    page.path,
                    self._placeholder(page),
                    methods=["GET"],
                    include_in_schema=False,
                )

    def _placeholder(self, page: Page) -> Callable[..., Awaitable[HTMLResponse]]:
        requirement = Depends(self.auth.require(page.role))

        async def coming(request: Request, session: SessionRecord = requirement) -> HTMLResponse:
            return self.render(request, "coming.html", session, page=page)

        return coming

    def _js_text(self, lang: str) -> dict[str, Any]:
        return {
            "status": self.i18n.prefix(lang, "status"),
            "pilot": self.i18n.prefix(lang, "pilot"),
            "source": self.i18n.prefix(lang, "source"),
            "registration": self.i18n.prefix(lang, "registration"),
            "dash": self.i18n.prefix(lang, "dash"),
            "sim": self.i18n.prefix(lang, "sim"),
            "energy_panel": self.i18n.prefix(lang, "energy_panel"),
        }


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
