"""Login, logout, the first-start setup page and the language switch.

Login and setup forms carry a pre-login token (a cookie and the form's CSRF field) instead
of a session's CSRF token; after a login only a local path may be the target (`safe_next`).
"""

from __future__ import annotations

import hmac
import secrets
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chargebox.store.users import SessionRecord
from chargebox.web.auth import (
    CSRF_FIELD,
    MIN_PASSWORD_LENGTH,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    USERNAME,
    client_of,
)
from chargebox.web.i18n import LANG_COOKIE

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

__all__ = ["install_login_pages", "safe_next"]


def safe_next(value: str | None) -> str:
    """Only a local path may be the target after login (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def set_cookie(ui: WebUI, response: Response, name: str, value: str) -> None:
    """A cookie the page's scripts cannot read, sent only to this site (and over HTTPS)."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=ui.https,
        path="/",
    )


def prelogin_ok(request: Request, form_token: Any) -> bool:
    """The form's pre-login token matches its cookie."""
    cookie = request.cookies.get(PRELOGIN_COOKIE)
    return (
        isinstance(form_token, str)
        and cookie is not None
        and hmac.compare_digest(cookie.encode(), form_token.encode())
    )


def install_login_pages(ui: WebUI, app: FastAPI) -> None:
    """Add login, logout, setup and the language switch to `app`."""
    auth = ui.auth
    # Plain defaults, not Annotated aliases: with postponed annotations FastAPI resolves
    # a parameter's annotation in the module's globals, where a local alias is unknown.
    operator = Depends(auth.require("operator"))

    def with_prelogin(
        template: str, request: Request, status_code: int, **values: Any
    ) -> HTMLResponse:
        """`template` with a fresh pre-login token in the form and its cookie."""
        token = secrets.token_urlsafe(24)
        response = ui.render(request, template, None, status_code, pre=token, **values)
        set_cookie(ui, response, PRELOGIN_COOKIE, token)
        return response

    def login_page(
        request: Request, status_code: int = 200, error: str | None = None, **values: Any
    ) -> HTMLResponse:
        return with_prelogin(
            "login.html",
            request,
            status_code,
            error=error,
            next=safe_next(request.query_params.get("next") or values.pop("next", None)),
            setup_pending=auth.setup_token is not None,
            **values,
        )

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
        set_cookie(ui, response, SESSION_COOKIE, result.session_token)
        response.delete_cookie(PRELOGIN_COOKIE, path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request, session: SessionRecord = operator) -> Response:
        auth.logout(request)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def setup_page(request: Request, status_code: int = 200, **values: Any) -> HTMLResponse:
        return with_prelogin(
            "setup.html", request, status_code, min_length=MIN_PASSWORD_LENGTH, **values
        )

    @app.get("/setup", include_in_schema=False)
    async def setup_form(request: Request) -> HTMLResponse:
        token = request.query_params.get("token")
        if not auth.setup_token_valid(token):
            return ui.render(request, "setup_invalid.html", None, 404)
        return setup_page(request, token=token, username="admin", errors={})

    @app.post("/setup", include_in_schema=False)
    async def setup(request: Request) -> Response:
        form = await request.form()
        token = str(form.get("token") or "")
        if not auth.setup_token_valid(token):
            return ui.render(request, "setup_invalid.html", None, 404)
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
        set_cookie(ui, response, SESSION_COOKIE, auth.start_session(user, client_of(request)))
        response.delete_cookie(PRELOGIN_COOKIE, path="/")
        return response

    @app.get("/lang/{code}", include_in_schema=False)
    async def set_language(code: str, request: Request) -> Response:
        response = RedirectResponse(safe_next(request.query_params.get("next")), 303)
        if code in ui.i18n.languages:
            response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/")
        return response
