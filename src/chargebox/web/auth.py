"""Web login: users and roles, sessions, CSRF, lockout, first-start setup, audit.

Roles are ordered: operator < installer < admin; a role includes the ones below it.
There is no default password: while no admin exists a one-time setup token is made at
start, printed on the console and logged, and ``/setup?token=…`` sets the admin password.

A session is a random token in the ``cb_session`` cookie (HttpOnly, SameSite=Strict,
Secure over HTTPS); only its SHA-256 is stored, with an idle timeout and an absolute
lifetime. Every state-changing request of a session carries the session's CSRF token, in
the ``X-CSRF-Token`` header (htmx sets it from ``hx-headers`` on <body>) or in a
``csrf_token`` form field. The login and setup forms, made before any session exists, use a
double-submit token (cookie ``cb_pre`` = form field).

Pages call :func:`audit_change` for every change they make: who, when, what, old → new.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import HTTPException, Request

from chargebox.settings import HttpSection
from chargebox.store.db import Database
from chargebox.store.kv import StateStore
from chargebox.store.users import (
    ROLES,
    AuditLog,
    LoginAttempts,
    SessionRecord,
    SessionStore,
    User,
    UserStore,
)

log = logging.getLogger("chargebox.web")

__all__ = [
    "CSRF_HEADER",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "SESSION_COOKIE",
    "LoginRequired",
    "PageError",
    "WebAuth",
    "actor_of",
    "audit_change",
    "has_role",
]

SESSION_COOKIE = "cb_session"
PRELOGIN_COOKIE = "cb_pre"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
MIN_PASSWORD_LENGTH = 10
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
USERNAME = re.compile(r"^[A-Za-z0-9_.@\-]{1,32}$")
_RANK = {role: n for n, role in enumerate(ROLES)}


RESET_NS, RESET_KEY = "web", "admin_reset"
RESET_LINK_TTL_S = 3600


def issue_admin_reset(db: Database, clock: Callable[[], float] = time.time) -> str:
    """A one-time setup link token for a forgotten admin password (one hour, stored hashed).

    ``chargebox users reset-admin`` calls this; a running station accepts it at once.
    """
    token = secrets.token_urlsafe(24)
    StateStore(db).set(
        RESET_NS, RESET_KEY, {"hash": _hash_token(token), "expires": clock() + RESET_LINK_TTL_S}
    )
    AuditLog(db).record("cli", "user.reset_admin_link", "", None, None, "")
    return token


def has_role(role: str, needed: str) -> bool:
    """True when ``role`` includes ``needed`` (admin includes installer includes operator)."""
    return _RANK.get(role, -1) >= _RANK[needed]


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginRequired(Exception):
    """A page needs a session: the handler redirects to /login (htmx: HX-Redirect)."""


class PageError(Exception):
    """An error page (403 wrong role or CSRF, 404) in the user's language."""

    def __init__(self, status: int, message_key: str) -> None:
        super().__init__(message_key)
        self.status = status
        self.message_key = message_key


@dataclass(frozen=True)
class LoginResult:
    session_token: str | None = None
    user: User | None = None
    locked_for_s: float = 0.0  # > 0: refused because of a lockout
    error: str = ""  # "wrong", "locked"


class WebAuth:
    """Users, sessions and login policy over the station database."""

    def __init__(
        self, db: Database, http: HttpSection, clock: Callable[[], float] = time.time
    ) -> None:
        self.users = UserStore(db)
        self.sessions = SessionStore(db)
        self.attempts = LoginAttempts(db)
        self.audit = AuditLog(db)
        self.state = StateStore(db)
        self.http = http
        self.clock = clock
        self.hasher = PasswordHasher()
        self._dummy_hash = self.hasher.hash(secrets.token_hex(8))
        self.setup_token: str | None = None
        if not self.users.has_admin():
            self.setup_token = secrets.token_urlsafe(24)

    # ------------------------------------------------------------- first start

    def announce_setup(self, base_url: str) -> str | None:
        """Print and log the one-time setup link while no admin exists."""
        if self.setup_token is None:
            return None
        link = f"{base_url}/setup?token={self.setup_token}"
        print(f"chargebox: no admin yet: set the admin password at {link}", flush=True)
        log.warning("no admin yet: set the admin password at %s", link)
        return link

    def setup_token_valid(self, token: str | None) -> bool:
        if token is None:
            return False
        if self.setup_token is not None and hmac.compare_digest(
            token.encode(), self.setup_token.encode()
        ):
            return True
        return self._reset_token_valid(token)

    def _reset_token_valid(self, token: str) -> bool:
        """A link from ``chargebox users reset-admin`` (stored hashed, one hour, once)."""
        stored = self.state.get(RESET_NS, RESET_KEY)
        if not isinstance(stored, dict) or float(stored.get("expires", 0)) < self.clock():
            return False
        return hmac.compare_digest(_hash_token(token).encode(), str(stored.get("hash")).encode())

    async def complete_setup(self, username: str, password: str, client: str) -> User:
        password_hash = await asyncio.to_thread(self.hasher.hash, password)
        existing = self.users.get(username)
        if existing is not None:  # a reset-admin link: that user becomes admin, new password
            self.users.set_password(existing.id, password_hash)
            self.users.set_role(existing.id, "admin")
            self.sessions.delete_for_user(existing.id)
            user = self.users.by_id(existing.id) or existing
            self.audit.record(
                username, "user.reset_admin", username, f"role={existing.role}", "role=admin",
                client,
            )  # fmt: skip
        else:
            user = self.users.create(username, password_hash, "admin")
            self.audit.record(username, "user.create", username, None, "role=admin", client)
        self.setup_token = None
        self.state.delete(RESET_NS, RESET_KEY)
        log.info("admin %s set through the setup link", username)
        return user

    # ---------------------------------------------------------------- passwords

    @staticmethod
    def password_problem(password: str, confirm: str) -> str | None:
        """The catalogue key of what is wrong with a new password, or None."""
        if len(password) < MIN_PASSWORD_LENGTH:
            return "auth.password_too_short"
        if password != confirm:
            return "auth.password_mismatch"
        return None

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def hash_password(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    # -------------------------------------------------------------------- login

    async def login(self, username: str, password: str, client: str) -> LoginResult:
        now = self.clock()
        user_key = username.strip().lower()
        locked = max(
            self.attempts.locked_until("user", user_key, now) or 0.0,
            self.attempts.locked_until("client", client, now) or 0.0,
        )
        if locked:
            self.audit.record(username or "?", "login.refused_locked", user_key, None, None, client)
            return LoginResult(locked_for_s=locked - now, error="locked")
        user = self.users.get(username.strip()) if USERNAME.match(username.strip()) else None
        # The same argon2 work whether or not the user exists: no timing oracle for names.
        ok = await asyncio.to_thread(
            self._verify, user.password_hash if user else self._dummy_hash, password
        )
        if user is None or not ok:
            limits = {"max_failures": self.http.login_max_failures}
            window = self.http.login_lockout_s
            locked_user = self.attempts.fail("user", user_key, now, window_s=window, **limits)
            locked_client = self.attempts.fail("client", client, now, window_s=window, **limits)
            self.audit.record(username or "?", "login.failed", user_key, None, None, client)
            if locked_user or locked_client:
                self.audit.record(username or "?", "login.lockout", user_key, None, None, client)
                log.warning("login locked for %s from %s after failures", user_key, client)
                return LoginResult(locked_for_s=window, error="locked")
            return LoginResult(error="wrong")
        self.attempts.clear("user", user_key)
        self.attempts.clear("client", client)
        if self.hasher.check_needs_rehash(user.password_hash):
            self.users.set_password(user.id, await self.hash_password(password))
        token = self.start_session(user, client)
        self.audit.record(user.username, "login", user.username, None, None, client)
        return LoginResult(session_token=token, user=user)

    def start_session(self, user: User, client: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.sessions.purge(
            now - self.http.session_idle_timeout_s, now - self.http.session_lifetime_s
        )
        self.sessions.create(_hash_token(token), user.id, secrets.token_urlsafe(32), now, client)
        return token

    def logout(self, request: Request) -> None:
        token = request.cookies.get(SESSION_COOKIE)
        session = self.session(request)
        if token:
            self.sessions.delete(_hash_token(token))
        if session is not None:
            self.audit.record(
                session.user.username, "logout", session.user.username, None, None,
                client_of(request),
            )  # fmt: skip

    # ----------------------------------------------------------------- sessions

    def session(self, request: Request, *, touch: bool = True) -> SessionRecord | None:
        """The request's valid session (cached on the request), or None."""
        if hasattr(request.state, "web_session"):
            cached: SessionRecord | None = request.state.web_session
            return cached
        record = self._lookup(request.cookies.get(SESSION_COOKIE), touch=touch)
        request.state.web_session = record
        return record

    def _lookup(self, token: str | None, *, touch: bool) -> SessionRecord | None:
        if not token:
            return None
        token_hash = _hash_token(token)
        record = self.sessions.get(token_hash)
        if record is None:
            return None
        now = self.clock()
        if (
            now - record.last_seen > self.http.session_idle_timeout_s
            or now - record.created_at > self.http.session_lifetime_s
        ):
            self.sessions.delete(token_hash)
            return None
        # Write last_seen only now and then; the idle timeout needs no finer resolution.
        if touch and now - record.last_seen > min(15.0, self.http.session_idle_timeout_s / 10):
            self.sessions.touch(token_hash, now)
        return record

    def still_valid(self, token: str | None) -> bool:
        """For long-lived streams: is the session alive (without extending it)?"""
        return self._lookup(token, touch=False) is not None

    @staticmethod
    async def csrf_ok(request: Request, session: SessionRecord, *, form: bool = True) -> bool:
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and form:
            content_type = request.headers.get("content-type", "")
            if content_type.startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                value = (await request.form()).get(CSRF_FIELD)
                sent = value if isinstance(value, str) else None
        return sent is not None and hmac.compare_digest(sent.encode(), session.csrf_token.encode())

    # -------------------------------------------------------- FastAPI dependencies

    def require(self, role: str) -> Callable[[Request], Awaitable[SessionRecord]]:
        """Dependency of a page: a session with ``role`` (and CSRF on unsafe methods)."""

        async def dependency(request: Request) -> SessionRecord:
            session = self.session(request)
            if session is None:
                raise LoginRequired()
            if not has_role(session.user.role, role):
                raise PageError(403, "error.forbidden_role")
            if request.method not in SAFE_METHODS and not await self.csrf_ok(request, session):
                raise PageError(403, "error.csrf")
            request.state.actor = session.user.username
            return session

        return dependency

    async def api_cookie_auth(self, request: Request) -> bool:
        """The control API's cookie path: True for a valid session; 403 without CSRF."""
        session = self.session(request)
        if session is None:
            return False
        if request.method not in SAFE_METHODS and not await self.csrf_ok(
            request, session, form=False
        ):
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
        request.state.actor = session.user.username
        request.state.role = session.user.role
        return True


def require_api_role(role: str) -> Callable[[Request], None]:
    """Dependency for control-API routes that need more than operator (bearer: everything)."""

    def dependency(request: Request) -> None:
        granted = getattr(request.state, "role", "admin")  # the bearer token may do anything
        if not has_role(granted, role):
            raise HTTPException(403, f"needs the {role} role")

    return dependency


def actor_of(request: Request) -> str:
    return str(getattr(request.state, "actor", None) or "api-token")


def audit_change(
    request: Request,
    action: str,
    target: str = "",
    old: Any = None,
    new: Any = None,
    *,
    secret: bool = False,
) -> None:
    """Record one change made by the request's user (or the API token).

    ``secret`` masks both values (passwords, AuthorizationKey): the log says that it
    changed, not to what.
    """
    auth: WebAuth = request.app.state.web_auth

    def text(value: Any) -> str | None:
        if value is None:
            return None
        return "********" if secret else str(value)

    auth.audit.record(actor_of(request), action, target, text(old), text(new), client_of(request))
