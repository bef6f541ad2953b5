"""Compile an OCPP 1.6 JSON schema into a plain-Python yes/no predicate.

Why: jsonschema spends microseconds per keyword on dispatch and error bookkeeping, while
the valid path (nearly every frame) needs only a yes/no. Each schema is therefore also
compiled to a predicate covering exactly the keywords the 1.6 schemas use, with
jsonschema's semantics; valid payloads take only the predicate, 5-9x faster than
jsonschema (see ``bench/validation_bench.py``), and anything it rejects is re-checked by
jsonschema, which names the violation (a false rejection only costs time). A false
acceptance is the one risk, so the tests compare both on thousands of mutated payloads; a
schema using any other keyword raises :class:`NotCompilable` and goes to jsonschema alone.

Formats are shared with the jsonschema validators (:data:`FORMATS`): ``date-time`` is
RFC 3339 with offset, ``uri`` is a scheme and no whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from numbers import Number
from typing import Any

from jsonschema import FormatChecker

Check = Callable[[Any], bool]

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))",
    re.ASCII,
)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]*")

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    """RFC 3339 date-time with offset; jsonschema needs an extra package to check it."""
    if not isinstance(value, str):
        return True
    m = _DATE_TIME.fullmatch(value)
    if m is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:  # RFC 3339 allows a leap second, datetime does not
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    off_h, off_m = m.group(7), m.group(8)
    return second <= 60 and (off_h is None or (int(off_h) <= 23 and int(off_m) <= 59))


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    """Absolute URI shape (scheme, no whitespace); full RFC 3986 would need a dependency."""
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


class NotCompilable(Exception):
    """A schema uses a keyword the fast checker does not know; use jsonschema alone."""


# Keywords that carry no constraint. "additionalProperties" on a string property is a
# quirk of the 1.6 schemas and, like jsonschema, is ignored for non-objects.
_ANNOTATIONS = frozenset({"$schema", "$id", "id", "title", "description", "javaType"})


def _is_type(name: str, draft4: bool) -> Check:
    """The JSON type predicates of jsonschema's Draft4/Draft6 type checkers."""
    if name == "string":
        return lambda v: isinstance(v, str)
    if name == "object":
        return lambda v: isinstance(v, dict)
    if name == "array":
        return lambda v: isinstance(v, list)
    if name == "boolean":
        return lambda v: isinstance(v, bool)
    if name == "null":
        return lambda v: v is None
    if name == "number":
        return lambda v: isinstance(v, Number) and not isinstance(v, bool)
    if name == "integer":
        if draft4:
            return lambda v: isinstance(v, int) and not isinstance(v, bool)
        return lambda v: (
            (isinstance(v, int) and not isinstance(v, bool))
            or (isinstance(v, float) and v.is_integer())
        )
    raise NotCompilable(f"type {name}")


def compile_schema(schema: Any, root: dict[str, Any], draft4: bool) -> Check:
    """Compile ``schema`` (a part of ``root``) to a predicate with jsonschema's semantics.

    Only the keywords the 1.6 schemas use are supported; anything else raises
    :class:`NotCompilable`.
    """
    if not isinstance(schema, dict):
        raise NotCompilable("boolean schema")
    if "$ref" in schema:  # draft 4/6: $ref replaces its siblings
        ref = schema["$ref"]
        if not (isinstance(ref, str) and ref.startswith("#/definitions/")):
            raise NotCompilable(f"$ref {ref}")
        target = root["definitions"][ref.removeprefix("#/definitions/")]
        return compile_schema(target, root, draft4)
    checks = [
        _keyword(keyword, value, schema, root, draft4)
        for keyword, value in schema.items()
        if keyword not in _ANNOTATIONS and keyword != "definitions"
    ]
    active = tuple(c for c in checks if c is not None)
    if not active:
        return lambda v: True
    if len(active) == 1:
        return active[0]

    def all_of(v: Any) -> bool:
        return all(check(v) for check in active)

    return all_of


def _keyword(
    keyword: str, value: Any, schema: dict[str, Any], root: dict[str, Any], draft4: bool
) -> Check | None:
    """Predicate for one keyword; like jsonschema, each ignores values of other types."""
    is_obj = _is_type("object", draft4)
    is_arr = _is_type("array", draft4)
    is_num = _is_type("number", draft4)

    if keyword == "type":
        if not isinstance(value, str):
            raise NotCompilable("type list")
        return _is_type(value, draft4)
    if keyword == "enum":
        options = frozenset(value)
        if not all(isinstance(o, str) for o in options):
            raise NotCompilable("non-string enum")
        return lambda v: isinstance(v, str) and v in options
    if keyword == "maxLength":
        most = int(value)
        return lambda v: not isinstance(v, str) or len(v) <= most
    if keyword == "minLength":
        least = int(value)
        return lambda v: not isinstance(v, str) or len(v) >= least
    if keyword == "maxItems":
        most = int(value)
        return lambda v: not is_arr(v) or len(v) <= most
    if keyword == "minItems":
        least = int(value)
        return lambda v: not is_arr(v) or len(v) >= least
    if keyword == "multipleOf":
        return lambda v: not is_num(v) or _multiple_of(v, value)
    if keyword == "format":
        return lambda v: FORMATS.conforms(v, value)
    if keyword == "required":
        names = tuple(value)
        return lambda v: not is_obj(v) or all(k in v for k in names)
    if keyword == "properties":
        props = {k: compile_schema(sub, root, draft4) for k, sub in value.items()}

        def properties(v: Any) -> bool:
            return not is_obj(v) or all(props[k](x) for k, x in v.items() if k in props)

        return properties
    if keyword == "additionalProperties":
        if "patternProperties" in schema:
            raise NotCompilable("patternProperties")
        known = frozenset(schema.get("properties", {}))
        if value is True:
            return None
        if value is False:
            return lambda v: not is_obj(v) or known.issuperset(v)
        extra = compile_schema(value, root, draft4)

        def additional(v: Any) -> bool:
            return not is_obj(v) or all(extra(x) for n, x in v.items() if n not in known)

        return additional
    if keyword == "items":
        if not isinstance(value, dict):
            raise NotCompilable("positional items")
        item = compile_schema(value, root, draft4)
        return lambda v: not is_arr(v) or all(item(x) for x in v)
    if keyword == "additionalItems":
        if not isinstance(schema.get("items"), dict):  # ignored beside a dict `items`
            raise NotCompilable("additionalItems")
        return None
    raise NotCompilable(keyword)


def _multiple_of(value: Any, divisor: Any) -> bool:
    """jsonschema's multipleOf, exact for the Decimal-parsed 1.6 charging schemas."""
    if isinstance(divisor, float):
        quotient = value / divisor
        try:
            return bool(int(quotient) == quotient)
        except OverflowError:
            return (Fraction(value) / Fraction(divisor)).denominator == 1
    if isinstance(value, float):  # only if a caller bypassed the Decimal parsing
        value = Decimal(repr(value))
    return not value % divisor
