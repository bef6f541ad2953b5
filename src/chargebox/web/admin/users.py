"""Users page and audit log (admin).

Users: create one with a role, change a role or a password, delete one; the last admin
keeps the role and stays, and no one deletes themselves. A new password set for another
user logs them out everywhere. Every change is audited (passwords masked).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from chargebox.store.db import StoreError
from chargebox.store.users import ROLES, SessionRecord
from chargebox.web.auth import MIN_PASSWORD_LENGTH, USERNAME, PageError, audit_change

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

AUDIT_ROWS = 200


class UserPages:
    """Route handlers of `/users`, its row actions, and `/audit`."""

    def __init__(self, ui: WebUI) -> None:
        self.ui = ui
        self.auth = ui.auth

    def render(
        self,
        request: Request,
        session: SessionRecord,
        status_code: int = 200,
        message: str = "",
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> HTMLResponse:
        return self.ui.render(
            request,
            "users.html",
            session,
            status_code,
            users=self.auth.users.all(),
            roles=ROLES,
            message=message,
            errors=errors or {},
            values=values or {"username": "", "role": "operator"},
            min_length=MIN_PASSWORD_LENGTH,
        )

    def _row_error(self, request: Request, session: SessionRecord, key: str) -> Response:
        """The page with a 400 and why a row action was refused."""
        text = self.ui.translator(request)(key)
        return self.render(request, session, 400, errors={"row": text})

    def _done(self, request: Request, session: SessionRecord, key: str, user: str) -> Response:
        return self.render(request, session, message=self.ui.translator(request)(key, user=user))

    def _admins(self) -> int:
        return sum(1 for u in self.auth.users.all() if u.role == "admin")

    def _target(self, user_id: int) -> Any:
        user = self.auth.users.by_id(user_id)
        if user is None:
            raise PageError(404, "error.not_found")
        return user

    async def show(self, request: Request, session: SessionRecord) -> Response:
        return self.render(request, session)

    async def create(self, request: Request, session: SessionRecord) -> Response:
        auth = self.auth
        t = self.ui.translator(request)
        form = await request.form()
        username = str(form.get("username") or "").strip()
        role = str(form.get("role") or "")
        password = str(form.get("password") or "")
        errors: dict[str, str] = {}
        if not USERNAME.match(username):
            errors["username"] = t("auth.username_invalid")
        elif auth.users.get(username) is not None:
            errors["username"] = t("users.exists")
        if role not in ROLES:
            errors["role"] = t("users.bad_role")
        problem = auth.password_problem(password, str(form.get("confirm") or ""))
        if problem:
            errors["confirm" if problem == "auth.password_mismatch" else "password"] = t(
                problem, min=MIN_PASSWORD_LENGTH
            )
        values = {"username": username, "role": role}
        if errors:
            return self.render(request, session, 400, errors=errors, values=values)
        try:
            auth.users.create(username, await auth.hash_password(password), role)
        except StoreError as exc:
            return self.render(request, session, 400, errors={"username": str(exc)}, values=values)
        audit_change(request, "user.create", username, None, f"role={role}")
        return self._done(request, session, "users.created", username)

    async def set_role(self, request: Request, session: SessionRecord, user_id: int) -> Response:
        user = self._target(user_id)
        role = str((await request.form()).get("role") or "")
        if role not in ROLES:
            return self._row_error(request, session, "users.bad_role")
        if user.role == "admin" and role != "admin" and self._admins() <= 1:
            return self._row_error(request, session, "users.last_admin")
        if role != user.role:
            self.auth.users.set_role(user.id, role)
            audit_change(request, "user.role", user.username, user.role, role)
        return self._done(request, session, "users.role_changed", user.username)

    async def set_password(
        self, request: Request, session: SessionRecord, user_id: int
    ) -> Response:
        auth = self.auth
        user = self._target(user_id)
        form = await request.form()
        password = str(form.get("password") or "")
        problem = auth.password_problem(password, str(form.get("confirm") or ""))
        if problem:
            text = self.ui.translator(request)(problem, min=MIN_PASSWORD_LENGTH)
            return self.render(request, session, 400, errors={"row": f"{user.username}: {text}"})
        auth.users.set_password(user.id, await auth.hash_password(password))
        if user.id != session.user.id:
            auth.sessions.delete_for_user(user.id)  # logged out everywhere
        audit_change(request, "user.password", user.username, "old", "new", secret=True)
        return self._done(request, session, "users.password_set", user.username)

    async def delete(self, request: Request, session: SessionRecord, user_id: int) -> Response:
        user = self._target(user_id)
        if user.role == "admin" and self._admins() <= 1:
            return self._row_error(request, session, "users.last_admin")
        if user.id == session.user.id:
            return self._row_error(request, session, "users.not_self")
        self.auth.users.delete(user.id)
        audit_change(request, "user.delete", user.username, f"role={user.role}", None)
        return self._done(request, session, "users.deleted", user.username)

    async def audit_log(self, request: Request, session: SessionRecord) -> Response:
        """The newest entries of the audit log."""
        entries = self.auth.audit.recent(AUDIT_ROWS)
        return self.ui.render(request, "audit.html", session, entries=entries)
