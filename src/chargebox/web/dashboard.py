"""The dashboard (every connector, why it is limited, the live chart) and the simulator
panel (operator), both built from `station_status` like the control API's answer.

The pages are the server's first picture; static/app.js keeps them current from `/events`
with the texts of `js_text`, formatting as `connector_view` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response

from chargebox.store.users import SessionRecord
from chargebox.web.api import station_status
from chargebox.web.auth import PageError
from chargebox.web.formatting import fmt_duration, fmt_kw, fmt_kwh, script_json
from chargebox.web.routes import Route

if TYPE_CHECKING:
    from chargebox.web.ui import WebUI

__all__ = ["Dashboard", "connector_view"]

JS_TEXT_PREFIXES = ("status", "pilot", "source", "registration", "dash", "sim", "energy_panel")


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


class Dashboard:
    """Route handlers of `/` and `/sim`."""

    def __init__(self, ui: WebUI) -> None:
        self.ui = ui
        self.runtime = ui.runtime

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/", "operator", self.show),
            Route("GET", "/sim", "operator", self.simulator),
        ]

    def js_text(self, lang: str) -> str:
        """The catalogue sections static/app.js needs, as JSON for the page."""
        return script_json({p: self.ui.i18n.prefix(lang, p) for p in JS_TEXT_PREFIXES})

    def _context(self, request: Request) -> dict[str, Any]:
        """What both pages show: the status, a view per connector, the script's texts."""
        lang = self.ui.lang(request)
        status = station_status(self.runtime)

        def t(key: str) -> str:
            return self.ui.i18n.get(lang, key)

        views = {c["id"]: connector_view(c, t) for c in status["connectors"]}
        return {"status": status, "views": views, "js_text": self.js_text(lang)}

    async def show(self, request: Request, session: SessionRecord) -> Response:
        context = self._context(request)
        history = script_json(self.ui.hub.history_points())
        return self.ui.render(request, "dashboard.html", session, history=history, **context)

    async def simulator(self, request: Request, session: SessionRecord) -> Response:
        if not self.ui.sim_enabled:
            raise PageError(404, "sim.not_available")
        context = self._context(request)
        catalogue = self.runtime.station.catalogue
        return self.ui.render(
            request,
            "sim.html",
            session,
            connector_codes=sorted(
                code for code, e in catalogue.items() if e.scope.value != "station"
            ),
            station_codes=sorted(
                code for code, e in catalogue.items() if e.scope.value != "connector"
            ),
            car=self.runtime.sim_car_defaults,
            **context,
        )
