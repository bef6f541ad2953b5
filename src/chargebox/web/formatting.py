"""How the pages write numbers and embed data: kW, kWh, durations, JSON in a <script>.

static/app.js formats the live updates the same way.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["fmt_duration", "fmt_kw", "fmt_kwh", "script_json"]


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
