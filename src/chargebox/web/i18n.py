"""Message catalogues of the web interface: one TOML file per language in ``web/i18n/``.

A catalogue is a TOML document whose nested tables flatten to dotted keys
(``[nav] dashboard = "Dashboard"`` is ``nav.dashboard``); ``[meta] name`` is the language's
own name for the switch. English is complete by definition: a key missing in another
language falls back to English, a key missing everywhere shows as itself. Adding a
language is adding a file (``fr.toml``); the loader finds it.

The language of a request: the ``cb_lang`` cookie, else the best ``Accept-Language`` match,
else English.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

__all__ = ["FALLBACK", "LANG_COOKIE", "Catalogues", "catalogues"]

FALLBACK = "en"
LANG_COOKIE = "cb_lang"
FOLDER = Path(__file__).parent / "i18n"


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value)
    return out


class Catalogues:
    def __init__(self, folder: Path = FOLDER) -> None:
        self.messages: dict[str, dict[str, str]] = {}
        for path in sorted(folder.glob("*.toml")):
            with path.open("rb") as f:
                self.messages[path.stem] = _flatten(tomllib.load(f))
        if FALLBACK not in self.messages:
            raise RuntimeError(f"no {FALLBACK}.toml message catalogue in {folder}")

    @property
    def languages(self) -> dict[str, str]:
        """Language code → its own name, English first."""
        codes = [FALLBACK, *sorted(c for c in self.messages if c != FALLBACK)]
        return {c: self.messages[c].get("meta.name", c) for c in codes}

    def get(self, lang: str, key: str, **values: Any) -> str:
        text = self.messages.get(lang, {}).get(key)
        if text is None:
            text = self.messages[FALLBACK].get(key, key)
        return text.format(**values) if values else text

    def prefix(self, lang: str, prefix: str) -> dict[str, str]:
        """Every message under ``prefix.`` (with fallback), keyed without the prefix."""
        keys = {k for k in self.messages[FALLBACK] if k.startswith(prefix + ".")}
        return {k[len(prefix) + 1 :]: self.get(lang, k) for k in keys}

    def negotiate(self, cookie: str | None, accept_language: str | None) -> str:
        if cookie in self.messages:
            return str(cookie)
        best, best_q = FALLBACK, -1.0
        for position, part in enumerate((accept_language or "").split(",")):
            fields = part.strip().split(";")
            tag = fields[0].strip().lower()
            q = 1.0
            for param in fields[1:]:
                name, _, raw = param.strip().partition("=")
                if name == "q":
                    try:
                        q = float(raw)
                    except ValueError:
                        q = 0.0
            code = tag.split("-")[0]
            # Earlier entries win ties, as browsers list them in preference order.
            if code in self.messages and q > 0 and q - position * 1e-6 > best_q:
                best, best_q = code, q - position * 1e-6
        return best


_loaded: Catalogues | None = None


def catalogues() -> Catalogues:
    """The catalogues of the installed package, loaded once."""
    global _loaded
    if _loaded is None:
        _loaded = Catalogues()
    return _loaded
