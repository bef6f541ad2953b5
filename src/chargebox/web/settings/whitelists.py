"""Whitelists page (operator): the station's own card list, with CSV import and export,
next to the OCPP local list and the authorization cache (read-only, the cache clearable).

Not a settings form: each row action applies at once, so its handlers are routed one by
one (`_routes` in the package) rather than as a Reload/Save pair; `Whitelists.actions` maps
the posted `action` to its handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chargebox.store.users import SessionRecord
from chargebox.store.whitelist import WhitelistEntry
from chargebox.store.whitelist_csv import (
    MAX_ENTRIES,
    export_csv,
    parse_csv,
    parse_expiry,
    parse_uid,
)
from chargebox.web.auth import audit_change
from chargebox.web.settings.forms import read_form, stripped, translator

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

PAGE_SIZE = 10  # whitelist entries per page (seed-001 §4.3)
_STATUS_OF = {"accept": "Accepted", "block": "Blocked"}  # row actions that set the status


def _describe(entry: WhitelistEntry | None) -> str | None:
    """An entry as the audit log shows it."""
    if entry is None:
        return None
    parts = [entry.authorization]
    if entry.gid:
        parts.append(f"gid={entry.gid}")
    if entry.expiry:
        parts.append(f"expiry={entry.expiry}")
    if entry.connector_id is not None:
        parts.append(f"connector={entry.connector_id}")
    return " ".join(parts)


class Whitelists:
    """Route handlers of `/whitelists`; every change is audited."""

    def __init__(self, ui: WebUI) -> None:
        self.ui = ui
        self.runtime = ui.runtime
        self.actions: dict[str, Callable[[Request, SessionRecord, dict[str, str]], Response]] = {
            "add": self._add,
            "accept": self._change,
            "block": self._change,
            "delete": self._change,
            "restore": self._change,
            "clear_cache": self._clear_cache,
        }

    def render(
        self, request: Request, session: SessionRecord, status_code: int = 200, **kw: Any
    ) -> HTMLResponse:
        """The page at the query's page number, with the outcome of an action in `kw`."""
        rt = self.runtime
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        show_deleted = request.query_params.get("deleted") == "1"
        entries = rt.whitelist.all(include_deleted=show_deleted)
        pages = max(1, -(-len(entries) // PAGE_SIZE))
        page = min(page, pages)
        return self.ui.render(
            request,
            "whitelists.html",
            session,
            status_code,
            entries=entries[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
            total=len(rt.whitelist),
            page=page,
            pages=pages,
            show_deleted=show_deleted,
            max_entries=MAX_ENTRIES,
            connectors=list(rt.station.connectors),
            local_list=rt.local_list.all(),
            local_list_version=rt.local_list.version(),
            local_list_enabled=rt.config.get_bool("LocalAuthListEnabled"),
            cache=rt.auth_cache.all(),
            **kw,
        )

    async def show(self, request: Request, session: SessionRecord) -> Response:
        return self.render(request, session)

    async def post(self, request: Request, session: SessionRecord) -> Response:
        """One action of the page's forms, chosen by the `action` field."""
        form = await read_form(request)
        handler = self.actions.get(form.get("action", ""))
        if handler is None:
            return self.render(request, session, 400, message="whitelists.unknown_action")
        return handler(request, session, form)

    def _add(self, request: Request, session: SessionRecord, form: dict[str, str]) -> Response:
        """Add a card or overwrite one (a deleted card comes back)."""
        wl = self.runtime.whitelist
        fields = stripped(form, ("uid", "connector_id", "gid"))
        uid = fields["uid"]
        errors: dict[str, str] = {}
        parsed = parse_uid(uid)
        connector: int | None = None
        if parsed is None or "_" in uid:
            errors["uid"] = "whitelists.bad_uid"
        text = fields["connector_id"]
        if text:
            if not text.isdigit() or int(text) not in self.runtime.station.connectors:
                errors["connector_id"] = "whitelists.bad_connector"
            else:
                connector = int(text)
        typed = form.get("expiry", "").strip().replace(" ", "T")
        if len(typed) == 16:  # a browser's datetime-local without seconds
            typed += ":00"
        try:
            expiry = parse_expiry(typed)
        except ValueError:
            errors["expiry"] = "whitelists.bad_expiry"
            expiry = None
        gid = fields["gid"]
        if len(gid) > 20:
            errors["gid"] = "whitelists.bad_gid"
        authorization = form.get("authorization", "Accepted")
        if authorization not in ("Accepted", "Blocked"):
            errors["authorization"] = "form.range"
        existing = wl.get(uid, include_deleted=True) if not errors else None
        if not errors and existing is None and len(wl) >= MAX_ENTRIES:
            errors["uid"] = "whitelists.full"
        if errors:
            return self.render(request, session, 400, errors=errors, add=form)
        entry = WhitelistEntry(uid, authorization, gid or None, expiry, connector)
        wl.upsert(entry)
        audit_change(request, "whitelist.add", uid, _describe(existing), _describe(entry))
        return self.render(request, session, message="whitelists.saved")

    def _change(self, request: Request, session: SessionRecord, form: dict[str, str]) -> Response:
        """A row's button: accept, block, delete or restore; back to the same listing."""
        wl = self.runtime.whitelist
        action = form["action"]
        uid = form.get("uid", "").strip()
        entry = wl.get(uid, include_deleted=True)
        if entry is None:
            return self.render(request, session, 404, message="whitelists.no_such")
        if action in _STATUS_OF:
            status = _STATUS_OF[action]
            wl.upsert(
                WhitelistEntry(
                    entry.uid, status, entry.gid, entry.expiry, entry.connector_id, entry.deleted
                )
            )
            audit_change(request, "whitelist." + action, uid, entry.authorization, status)
        elif action == "delete":
            wl.delete(entry.uid)
            audit_change(request, "whitelist.delete", uid, _describe(entry), "deleted")
        else:
            if not entry.deleted or len(wl) >= MAX_ENTRIES:
                return self.render(request, session, 409, message="whitelists.full")
            wl.restore(entry.uid)
            audit_change(request, "whitelist.restore", uid, "deleted", _describe(entry))
        where = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(where, status_code=303)

    def _clear_cache(
        self, request: Request, session: SessionRecord, form: dict[str, str]
    ) -> Response:
        count = len(self.runtime.auth_cache.all())
        self.runtime.auth_cache.clear()
        audit_change(request, "whitelist.clear_cache", "authorization cache", count, 0)
        return self.render(request, session, message="whitelists.cache_cleared")

    async def import_csv(self, request: Request, session: SessionRecord) -> Response:
        """Update or replace the list from a CSV file; one bad line imports nothing."""
        form = await request.form()
        mode = str(form.get("mode") or "")
        upload = form.get("file")
        if mode not in ("update", "replace") or upload is None or isinstance(upload, str):
            return self.render(request, session, 400, message="whitelists.no_file")
        data = await upload.read()
        parsed = parse_csv(data, max(self.runtime.station.connectors))
        wl = self.runtime.whitelist
        problems = [(p.line, p.reason) for p in parsed.problems]
        if not problems and mode == "update":
            known = {e.uid.casefold() for e in wl.all()}
            total = len(known | {e.uid.casefold() for e in parsed.entries})
            if total > MAX_ENTRIES:
                t = translator(self.ui, request)
                problems.append((parsed.lines, t("whitelists.too_many", n=total, max=MAX_ENTRIES)))
        name = getattr(upload, "filename", "")
        if problems:
            return self.render(request, session, 400, import_problems=problems, import_name=name)
        before = len(wl)
        if mode == "replace":
            wl.replace_all(parsed.entries)
        else:
            wl.update_many(parsed.entries)
        audit_change(
            request,
            f"whitelist.import_{mode}",
            name or "csv",
            f"{before} cards",
            f"{len(wl)} cards ({len(parsed.entries)} imported)",
        )
        return self.render(
            request,
            session,
            message="whitelists.imported",
            imported=len(parsed.entries),
            processed=parsed.lines,
        )

    async def export(self, request: Request, session: SessionRecord) -> Response:
        """The whole list as CSV, in the format the import reads."""
        return Response(
            export_csv(self.runtime.whitelist.all()),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="whitelist.csv"',
                "Cache-Control": "no-store",
            },
        )
