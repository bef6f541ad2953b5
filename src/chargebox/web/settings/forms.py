"""What every settings form shares, so a page module holds only its own fields and rules.

A page is a `SettingsForm`: `view` builds the sections from the station's values, `save`
validates a posted form and applies it, returning an `Outcome` (what `settings_form.html`
shows next). Most pages are a `ValueForm`, which fixes the order of a Save (validate all,
then audit, then apply) so a page only says what its values are and how they apply.
Values travel as the form's strings; errors as catalogue keys, translated only when a
`Field` is built (`error_text`), so every message stays in the catalogues.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from chargebox.web.auth import audit_change

if TYPE_CHECKING:
    from chargebox.app import Runtime
    from chargebox.web.ui import WebUI

Translator = Callable[..., str]  # catalogue key (+ values) -> text in the request's language


@dataclass
class Field:
    """One editor on a settings page."""

    name: str
    label: str  # catalogue key, or plain text with `raw_label`
    kind: str = "text"  # text number select checkbox password readonly browser_time
    value: Any = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, catalogue key)
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"
    restart: bool = False
    hint: str = ""  # catalogue key
    raw_hint: str = ""  # plain text (e.g. a key's description from the registry)
    raw_label: bool = False
    error: str = ""
    status: str = ""  # OCPP keys: Accepted / RebootRequired shown after saving


@dataclass
class Section:
    """A fieldset of the form: a card with a title and an optional note."""

    title: str  # catalogue key, or plain text with raw_title
    fields: list[Field]
    raw_title: bool = False
    note: str = ""  # catalogue key


@dataclass
class Outcome:
    """The page after a Save: its sections and the banners above them."""

    sections: list[Section]
    status_code: int = 200  # 400 shows "not saved"
    saved: bool = False
    restart_needed: bool = False  # offers the restart button
    live_applied: bool = False  # "applied at once" next to "saved"


@dataclass(frozen=True)
class Posted:
    """A valid Save on its way to the station (see `ValueForm.apply`)."""

    request: Request
    form: dict[str, str]  # as posted: write-only fields and one-off actions are read here
    values: dict[str, str]  # as validated
    changed: list[str]  # the names whose value differs from the station's, already audited
    t: Translator


def rejected(sections: list[Section]) -> Outcome:
    """A form with errors: nothing of it was applied."""
    return Outcome(sections, status_code=400)


def applied(sections: list[Section], *, restart_needed: bool = False) -> Outcome:
    """A form saved and handed to the running station."""
    return Outcome(sections, saved=True, restart_needed=restart_needed, live_applied=True)


class SettingsForm(ABC):
    """One page rendered by `settings_form.html`; its route pair comes from `FORMS`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.state = runtime.state
        self.config = runtime.config

    @abstractmethod
    def view(self, t: Translator) -> list[Section]:
        """The sections showing the station's current values (Reload)."""

    @abstractmethod
    def save(self, request: Request, form: dict[str, str], t: Translator) -> Outcome:
        """Validate all of `form` first; apply and audit only when nothing is wrong."""

    def context(self) -> dict[str, Any]:
        """Extra template values of the page (an included template, the zone list...)."""
        return {}


class ValueForm(SettingsForm):
    """A page whose settings are one flat dict of strings, audited value by value.

    The page says what its values are, how they are shown, what is wrong with a posted
    form, and how valid values are applied; the order of a Save is the same for all.
    """

    audit_action = ""  # e.g. "settings.network"
    secret: frozenset[str] = frozenset()  # masked in the audit log

    @abstractmethod
    def values(self) -> dict[str, str]:
        """The station's current values, by field name."""

    @abstractmethod
    def sections(
        self, values: dict[str, str], errors: dict[str, str], t: Translator
    ) -> list[Section]:
        """The page showing `values`, each field with its problem from `errors`."""

    @abstractmethod
    def validate(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """The posted values and the problems found (catalogue keys by field name)."""

    @abstractmethod
    def apply(self, posted: Posted) -> Outcome:
        """Store and hand to the station the valid values; the page shown after saving."""

    def view(self, t: Translator) -> list[Section]:
        return self.sections(self.values(), {}, t)

    def save(self, request: Request, form: dict[str, str], t: Translator) -> Outcome:
        old = self.values()
        values, errors = self.validate(form)
        if errors:
            return rejected(self.sections(values, errors, t))
        changed = audit_many(request, self.audit_action, old, values, self.secret)
        return self.apply(Posted(request, form, values, changed, t))


# ------------------------------------------------------------------------ helpers


def translator(ui: WebUI, request: Request) -> Translator:
    """The catalogue lookup in the language the request's page is shown in."""
    return ui.translator(request)


async def read_form(request: Request) -> dict[str, str]:
    """The posted text fields (uploads are read by the handlers that expect them)."""
    data = await request.form()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def stripped(form: dict[str, str], names: Iterable[str]) -> dict[str, str]:
    """The page's own fields from a form, blanks trimmed; a missing one is ''."""
    return {name: form.get(name, "").strip() for name in names}


def checked(form: dict[str, str], name: str) -> str:
    """A checkbox as OCPP spells booleans (the template posts 'false' when unticked)."""
    return "true" if form.get(name) in ("true", "on") else "false"


def error_text(errors: dict[str, str], name: str, t: Translator) -> str:
    """The translated problem of one field, '' when it has none."""
    return t(errors[name]) if name in errors else ""


def field_maker(
    values: dict[str, str],
    errors: dict[str, str],
    t: Translator,
    *,
    kind: str = "text",
    secret: frozenset[str] = frozenset(),
) -> Callable[..., Field]:
    """A page's editor factory: value and error looked up by name, `kind` by default.

    A field with options is a select; a secret is a password editor that never shows its
    value; a checkbox is ticked by "true".
    """

    def make(name: str, label: str, **kw: Any) -> Field:
        hidden = name in secret
        kw.setdefault("kind", "password" if hidden else "select" if "options" in kw else kind)
        value: Any = "" if hidden else values.get(name, "")
        if kw["kind"] == "checkbox":
            value = value == "true"
        return Field(name, label, value=value, error=error_text(errors, name, t), **kw)

    return make


def parse_float(
    form: dict[str, str], name: str, lo: float, hi: float, *, optional: bool = True
) -> tuple[float | None, str]:
    """A number in [lo, hi] (a decimal comma allowed), or the catalogue key of the problem."""
    text = form.get(name, "").strip().replace(",", ".")
    if not text:
        return None, "" if optional else "form.required"
    try:
        value = float(text)
    except ValueError:
        return None, "form.not_a_number"
    if not lo <= value <= hi:
        return None, "form.range"
    return value, ""


def audit_many(
    request: Request,
    action: str,
    old: dict[str, Any],
    new: dict[str, Any],
    secret: frozenset[str] = frozenset(),
) -> list[str]:
    """One audit entry per changed value; returns the changed names."""
    changed = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            changed.append(name)
            audit_change(request, action, name, old.get(name), new.get(name), secret=name in secret)
    return changed
