"""Charging history page (operator): the charging sessions, filtered by date range,
connector and ID tag, a page at a time, and all that match as CSV.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from chargebox.store.transactions import TransactionRecord
from chargebox.store.users import SessionRecord

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

HISTORY_PAGE = 50
CSV_BATCH = 500
CSV_HEADER = [
    "local_id",
    "transaction_id",
    "connector_id",
    "id_tag",
    "start_time",
    "stop_time",
    "duration_s",
    "meter_start_wh",
    "meter_stop_wh",
    "energy_wh",
    "energy_kwh",
    "stop_reason",
]


def _parse_day(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


def _csv_rows(records: list[TransactionRecord]) -> Iterator[list[Any]]:
    for r in records:
        yield [
            r.local_id,
            r.remote_id if r.remote_id is not None else "",
            r.connector_id,
            r.id_tag,
            r.start_time,
            r.stop_time or "",
            r.duration_s if r.duration_s is not None else "",
            r.meter_start_wh,
            r.meter_stop_wh if r.meter_stop_wh is not None else "",
            r.energy_wh,
            f"{r.energy_wh / 1000:.3f}",
            r.stop_reason or "",
        ]


class HistoryPage:
    """Route handlers of `/history` and `/history.csv`."""

    def __init__(self, ui: WebUI) -> None:
        self.ui = ui
        self.runtime = ui.runtime

    def filters(self, request: Request) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """The store's filters, the query's values and the errors (translated) by field."""
        t = self.ui.translator(request)
        q = request.query_params
        values = {k: q.get(k, "").strip() for k in ("from", "to", "connector", "tag")}
        errors: dict[str, str] = {}
        filters: dict[str, Any] = {}
        try:
            since = _parse_day(values["from"])
            if since is not None:
                filters["since"] = f"{since.isoformat()}T00:00:00Z"
        except ValueError:
            errors["from"] = t("history.bad_date")
        try:
            until = _parse_day(values["to"])
            if until is not None:  # inclusive day: before the next midnight
                filters["until"] = f"{(until + timedelta(days=1)).isoformat()}T00:00:00Z"
        except ValueError:
            errors["to"] = t("history.bad_date")
        if values["connector"]:
            if values["connector"].isdigit() and int(values["connector"]) in (
                self.runtime.station.connectors
            ):
                filters["connector_id"] = int(values["connector"])
            else:
                errors["connector"] = t("history.bad_connector")
        if values["tag"]:
            if len(values["tag"]) > 20:
                errors["tag"] = t("history.bad_tag")
            else:
                filters["id_tag"] = values["tag"]
        return filters, values, errors

    async def show(self, request: Request, session: SessionRecord) -> Response:
        runtime = self.runtime
        filters, values, errors = self.filters(request)
        if errors:
            filters = {}
        total = runtime.transactions.count(**filters)
        pages = max(1, (total + HISTORY_PAGE - 1) // HISTORY_PAGE)
        raw_page = request.query_params.get("page", "1")
        page = min(pages, max(1, int(raw_page))) if raw_page.isdigit() else 1
        records = runtime.transactions.history(
            limit=HISTORY_PAGE, offset=(page - 1) * HISTORY_PAGE, **filters
        )
        query = "&".join(f"{k}={v}" for k, v in values.items() if v)
        return self.ui.render(
            request,
            "history.html",
            session,
            400 if errors else 200,
            records=records,
            values=values,
            errors=errors,
            total=total,
            page=page,
            pages=pages,
            query=query,
            connectors=list(runtime.station.connectors),
            total_kwh=None,
        )

    async def export(self, request: Request, session: SessionRecord) -> Response:
        runtime = self.runtime
        filters, _values, errors = self.filters(request)
        if errors:
            return JSONResponse({"detail": "; ".join(f"{k}: {v}" for k, v in errors.items())}, 422)

        def rows() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(CSV_HEADER)
            offset = 0
            while True:
                batch = runtime.transactions.history(limit=CSV_BATCH, offset=offset, **filters)
                for row in _csv_rows(batch):
                    writer.writerow(row)
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                if len(batch) < CSV_BATCH:
                    return
                offset += CSV_BATCH

        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        name = f"{runtime.identity}-history-{stamp}.csv"
        return StreamingResponse(
            rows(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
