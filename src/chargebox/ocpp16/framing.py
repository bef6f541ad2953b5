"""OCPP-J 1.6 framing: parse, validate and encode frames, with exact CALLERROR codes.

Why not ``ocpp.messages``: it validates in a thread-pool executor, only logs frames it
cannot parse, and maps schema errors to OCPP 2.0 names (``FormatViolation``). We reuse
the library's bundled 1.6 JSON schemas and enums, but own the framing so that every bad
inbound frame is answered with the OCPP-J 1.6 (§4.2.3) error code and the station keeps
running, and so that validation is synchronous with validators compiled once and cached
(lazily, per schema, < 1 ms each; :func:`preload` compiles all 78 in about 5-7 ms).

Each schema is compiled twice: to a jsonschema validator, which is the authority and
names the violation, and to a plain-Python yes/no predicate covering exactly the keywords
the 1.6 schemas use. Valid payloads (nearly all) take only the predicate, 5-9x faster
than jsonschema (see ``bench/validation_bench.py``); anything the predicate rejects is
re-checked by jsonschema (a false rejection only costs time). A false acceptance is the
one risk, so the tests compare both on thousands of mutated payloads; a schema using any
other keyword gets no predicate and goes to jsonschema alone.

Error mapping (OCPP-J 1.6 §4.2.3 wording in quotes):

Frame structure (:func:`parse_frame`)
  * not valid JSON (also: not UTF-8, ``NaN``/``Infinity``, numbers that overflow a float),
    JSON that is not an array, an element of the wrong kind (MessageTypeId not an
    integer, UniqueId/Action/errorCode/errorDescription not a string, payload/errorDetails
    not an object), or *more* elements than the message type has -> ``FormationViolation``
    ("syntactically incorrect or not conform the PDU structure").
  * empty array (no MessageTypeId) or fewer elements than the message type needs
    -> ``ProtocolError`` ("Payload for Action is incomplete").
  * MessageTypeId other than 2/3/4 -> ``ProtocolError``. Choice: the number is of the
    right kind, so the frame is not malformed JSON-wise; it is a frame of the protocol we
    cannot complete. We never look at the rest of it, but answer (with the UniqueId when
    readable) instead of dropping it silently, so the peer sees why nothing happened.
    ``PropertyConstraintViolation`` (the library's choice) is reserved for payload fields.
  * The UniqueId is echoed when element 1 is a string; otherwise the CALLERROR uses
    ``"-1"`` (a non-string id is not echoed as ``str(id)``: that could collide with a
    genuine string id of a pending call). The 36-character limit is not enforced, since
    the id is only echoed back and rejecting it would break tolerant peers.

Action (:func:`validate_request`)
  * not an OCPP 1.6 action at all -> ``NotImplemented`` ("not known by receiver").
  * an OCPP 1.6 action a charge point never receives (e.g. BootNotification), or one not
    in ``supported`` -> ``NotSupported`` ("recognized but not supported").

Payload schema (first matching rule in this order wins when a payload has several
violations: structure, then presence, then type, then value)
  * ``additionalProperties``, ``additionalItems`` -> ``FormationViolation``
    (the payload does not conform to the PDU structure).
  * ``required``, ``minItems``, ``maxItems`` -> ``OccurenceConstraintViolation``
    (sic, as spelled by the spec).
  * ``type``, ``maxLength``, ``minLength`` -> ``TypeConstraintViolation``. Length: 1.6
    defines CiString20Type/25/50/255/500 as *data types* and the schemas encode them as
    ``{"type": "string", "maxLength": N}``; a 51-character key is therefore not a
    CiString50Type, i.e. it "violates data type constraints", rather than being a
    well-typed field with an "invalid value".
  * ``enum``, ``minimum``, ``maximum``, ``multipleOf``, ``pattern``, ``format``
    (``date-time`` = RFC 3339 with offset; ``uri`` = scheme and no whitespace)
    -> ``PropertyConstraintViolation`` ("contains an invalid value").
  * any other keyword -> ``GenericError``; a crash inside validation -> ``InternalError``.

Float precision: the 1.6 schemas put ``multipleOf: 0.1`` on charging limits. Binary floats
make 21.4 fail that test, so SetChargingProfile and RemoteStartTransaction CALLs and
GetCompositeSchedule results are validated with both schema and (a copy of the) payload
parsed as ``Decimal``; callers keep their ordinary floats.

Outbound frames are encoded compactly (``separators=(",", ":")``), with
``ensure_ascii=False`` and ``allow_nan=False``; :func:`validate_outbound` treats a schema
violation in our own frame as a bug and raises ``ValueError``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from importlib import resources
from numbers import Number
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from ocpp.v16.enums import Action

__all__ = [
    "CP_TO_CS_ACTIONS",
    "CS_TO_CP_ACTIONS",
    "Call",
    "CallError",
    "CallResult",
    "ErrorCode",
    "Frame",
    "FrameError",
    "encode_call",
    "encode_error",
    "encode_result",
    "error_for",
    "parse_frame",
    "preload",
    "validate_outbound",
    "validate_request",
    "validate_response",
]

CALL = 2
CALLRESULT = 3
CALLERROR = 4
_FRAME_LENGTHS = {CALL: 4, CALLRESULT: 3, CALLERROR: 5}
_UNKNOWN_ID = "-1"


class ErrorCode(StrEnum):
    """The ten CALLERROR codes of OCPP-J 1.6 §4.2.3, spelled exactly as the spec does."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


_ERROR_CODES = frozenset(ErrorCode)

# Direction of each CALL, from OCPP 1.6 §4-§6 and the 1.6 security whitepaper; DataTransfer
# is the only action that flows both ways. Kept explicit (not derived from the library's
# module layout); the tests check that together they cover ocpp.v16.enums.Action.
CS_TO_CP_ACTIONS: frozenset[str] = frozenset(
    a.value
    for a in (
        Action.cancel_reservation,
        Action.certificate_signed,
        Action.change_availability,
        Action.change_configuration,
        Action.clear_cache,
        Action.clear_charging_profile,
        Action.data_transfer,
        Action.delete_certificate,
        Action.extended_trigger_message,
        Action.get_composite_schedule,
        Action.get_configuration,
        Action.get_diagnostics,
        Action.get_installed_certificate_ids,
        Action.get_local_list_version,
        Action.get_log,
        Action.install_certificate,
        Action.remote_start_transaction,
        Action.remote_stop_transaction,
        Action.reserve_now,
        Action.reset,
        Action.send_local_list,
        Action.set_charging_profile,
        Action.signed_update_firmware,
        Action.trigger_message,
        Action.unlock_connector,
        Action.update_firmware,
    )
)
CP_TO_CS_ACTIONS: frozenset[str] = frozenset(
    a.value
    for a in (
        Action.authorize,
        Action.boot_notification,
        Action.data_transfer,
        Action.diagnostics_status_notification,
        Action.firmware_status_notification,
        Action.heartbeat,
        Action.log_status_notification,
        Action.meter_values,
        Action.security_event_notification,
        Action.sign_certificate,
        Action.signed_firmware_status_notification,
        Action.start_transaction,
        Action.status_notification,
        Action.stop_transaction,
    )
)
_ALL_ACTIONS = CS_TO_CP_ACTIONS | CP_TO_CS_ACTIONS

# (is_result, action) pairs whose schemas carry `multipleOf: 0.1` (see module docstring).
_DECIMAL_SCHEMAS = frozenset(
    {
        (False, Action.set_charging_profile.value),
        (False, Action.remote_start_transaction.value),
        (True, Action.get_composite_schedule.value),
    }
)


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True, slots=True)
class Call:
    """A CALL ``[2, uniqueId, action, payload]``."""

    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    """A CALLRESULT ``[3, uniqueId, payload]``; the action is known only to the caller."""

    unique_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    """A CALLERROR ``[4, uniqueId, errorCode, errorDescription, errorDetails]``."""

    unique_id: str
    code: str
    description: str
    details: dict[str, Any]


Frame = Call | CallResult | CallError


class FrameError(Exception):
    """An inbound frame we must answer with a CALLERROR.

    ``unique_id`` is None when no string id could be read (answered with ``"-1"``);
    it is a plain attribute so a dispatcher may stamp the id of the CALL afterwards.
    ``message_type_id`` is the frame's type when readable, so a caller can tell a bad
    CALL (answer it) from a bad CALLRESULT/CALLERROR (fail the pending call).
    """

    def __init__(
        self,
        code: str,
        description: str = "",
        details: dict[str, Any] | None = None,
        *,
        unique_id: str | None = None,
        message_type_id: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.unique_id: str | None = unique_id
        self.code: str = code
        self.description: str = description
        self.details: dict[str, Any] = details if details is not None else {}
        self.message_type_id: int | None = message_type_id


def _reject_constant(name: str) -> Any:
    """Refuse NaN/Infinity: Python's json accepts them, JSON (and OCPP-J) does not."""
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """Refuse numbers that overflow to inf, which would break later arithmetic checks."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _kind(value: Any) -> str:
    """JSON name of a value's kind, for error descriptions."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def parse_frame(raw: str | bytes) -> Frame:
    """Turn a websocket message into a frame, checking structure only (not the payload)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        msg = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError/UnicodeError are ValueErrors
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION,
            "Message is not valid JSON",
            {"cause": str(exc)[:200]},
        ) from None

    if not isinstance(msg, list):
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION, f"Message must be a JSON array, not {_kind(msg)}"
        )
    if not msg:
        raise FrameError(ErrorCode.PROTOCOL_ERROR, "Message has no MessageTypeId")

    uid = msg[1] if len(msg) > 1 and isinstance(msg[1], str) else None
    type_id = msg[0]
    if isinstance(type_id, bool) or not isinstance(type_id, int):
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION,
            f"MessageTypeId must be an integer, not {_kind(type_id)}",
            unique_id=uid,
        )
    if type_id not in _FRAME_LENGTHS:
        raise FrameError(
            ErrorCode.PROTOCOL_ERROR,
            f"Unknown MessageTypeId {type_id}",
            unique_id=uid,
        )

    expected = _FRAME_LENGTHS[type_id]
    if len(msg) < expected:
        raise FrameError(
            ErrorCode.PROTOCOL_ERROR,
            f"Message type {type_id} needs {expected} elements, got {len(msg)}",
            unique_id=uid,
            message_type_id=type_id,
        )
    if len(msg) > expected:
        raise FrameError(
            ErrorCode.FORMATION_VIOLATION,
            f"Message type {type_id} has {expected} elements, got {len(msg)}",
            unique_id=uid,
            message_type_id=type_id,
        )

    def wrong(position: int, name: str, wanted: str) -> FrameError:
        return FrameError(
            ErrorCode.FORMATION_VIOLATION,
            f"{name} must be {wanted}, not {_kind(msg[position])}",
            unique_id=uid,
            message_type_id=type_id,
        )

    if uid is None:
        raise wrong(1, "UniqueId", "a string")
    if type_id == CALL:
        if not isinstance(msg[2], str):
            raise wrong(2, "Action", "a string")
        if not isinstance(msg[3], dict):
            raise wrong(3, "Payload", "an object")
        return Call(uid, msg[2], msg[3])
    if type_id == CALLRESULT:
        if not isinstance(msg[2], dict):
            raise wrong(2, "Payload", "an object")
        return CallResult(uid, msg[2])
    if not isinstance(msg[2], str):
        raise wrong(2, "ErrorCode", "a string")
    if not isinstance(msg[3], str):
        raise wrong(3, "ErrorDescription", "a string")
    if not isinstance(msg[4], dict):
        raise wrong(4, "ErrorDetails", "an object")
    return CallError(uid, msg[2], msg[3], msg[4])


# ----------------------------------------------------------------------- validation

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))",
    re.ASCII,
)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]*")

_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time")
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


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    """Absolute URI shape (scheme, no whitespace); full RFC 3986 would need a dependency."""
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


_Check = Callable[[Any], bool]


class _NotCompilable(Exception):
    """A schema uses a keyword the fast checker does not know; use jsonschema alone."""


# Keywords that carry no constraint. "additionalProperties" on a string property is a
# quirk of the 1.6 schemas and, like jsonschema, is ignored for non-objects.
_ANNOTATIONS = frozenset({"$schema", "$id", "id", "title", "description", "javaType"})


def _is_type(name: str, draft4: bool) -> _Check:
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
    raise _NotCompilable(f"type {name}")


def _compile(schema: Any, root: dict[str, Any], draft4: bool) -> _Check:
    """Compile a schema to a plain-Python predicate with jsonschema's semantics.

    Why: jsonschema spends microseconds per keyword on dispatch and error bookkeeping,
    while the valid path (nearly every frame) needs only a yes/no. Only the keywords the
    1.6 schemas use are supported; anything else raises _NotCompilable.
    """
    if not isinstance(schema, dict):
        raise _NotCompilable("boolean schema")
    if "$ref" in schema:  # draft 4/6: $ref replaces its siblings
        ref = schema["$ref"]
        if not (isinstance(ref, str) and ref.startswith("#/definitions/")):
            raise _NotCompilable(f"$ref {ref}")
        return _compile(root["definitions"][ref.removeprefix("#/definitions/")], root, draft4)
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
) -> _Check | None:
    """Predicate for one keyword; like jsonschema, each ignores values of other types."""
    is_obj = _is_type("object", draft4)
    is_arr = _is_type("array", draft4)
    is_num = _is_type("number", draft4)

    if keyword == "type":
        if not isinstance(value, str):
            raise _NotCompilable("type list")
        return _is_type(value, draft4)
    if keyword == "enum":
        options = frozenset(value)
        if not all(isinstance(o, str) for o in options):
            raise _NotCompilable("non-string enum")
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
        return lambda v: _FORMATS.conforms(v, value)
    if keyword == "required":
        names = tuple(value)
        return lambda v: not is_obj(v) or all(k in v for k in names)
    if keyword == "properties":
        props = {k: _compile(sub, root, draft4) for k, sub in value.items()}

        def properties(v: Any) -> bool:
            return not is_obj(v) or all(props[k](x) for k, x in v.items() if k in props)

        return properties
    if keyword == "additionalProperties":
        if "patternProperties" in schema:
            raise _NotCompilable("patternProperties")
        known = frozenset(schema.get("properties", {}))
        if value is True:
            return None
        if value is False:
            return lambda v: not is_obj(v) or known.issuperset(v)
        extra = _compile(value, root, draft4)

        def additional(v: Any) -> bool:
            return not is_obj(v) or all(extra(x) for n, x in v.items() if n not in known)

        return additional
    if keyword == "items":
        if not isinstance(value, dict):
            raise _NotCompilable("positional items")
        item = _compile(value, root, draft4)
        return lambda v: not is_arr(v) or all(item(x) for x in v)
    if keyword == "additionalItems":
        if not isinstance(schema.get("items"), dict):  # ignored beside a dict `items`
            raise _NotCompilable("additionalItems")
        return None
    raise _NotCompilable(keyword)


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


@dataclass(slots=True)
class _Compiled:
    """A schema's jsonschema validator (errors, authority) and fast predicate, if any."""

    validator: Validator
    fast: _Check | None


_validators: dict[tuple[bool, str], _Compiled] = {}


def _validator(action: str, is_result: bool) -> _Compiled:
    """Compile (once) the validators of an action's request or response schema."""
    key = (is_result, action)
    found = _validators.get(key)
    if found is not None:
        return found
    name = f"{action}Response.json" if is_result else f"{action}.json"
    text = resources.files("ocpp.v16").joinpath("schemas", name).read_text(encoding="utf-8-sig")
    schema = json.loads(text, parse_float=Decimal if key in _DECIMAL_SCHEMAS else float)
    cls = validator_for(schema, default=Draft4Validator)  # 22 schemas declare draft-06
    fast: _Check | None
    try:
        fast = _compile(schema, schema, draft4=cls is Draft4Validator)
    except _NotCompilable:
        fast = None
    compiled = _Compiled(cls(schema, format_checker=_FORMATS), fast)
    _validators[key] = compiled
    return compiled


def preload() -> None:
    """Compile every 1.6 validator now, e.g. at start-up, instead of on first use."""
    for action in _ALL_ACTIONS:
        _validator(action, False)
        _validator(action, True)


_CODE_BY_KEYWORD: dict[str, ErrorCode] = {
    "additionalProperties": ErrorCode.FORMATION_VIOLATION,
    "additionalItems": ErrorCode.FORMATION_VIOLATION,
    "required": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "minItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "maxLength": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "minLength": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "enum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "exclusiveMinimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "exclusiveMaximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "multipleOf": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "pattern": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "format": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
}
_PRIORITY = {
    ErrorCode.FORMATION_VIOLATION: 0,
    ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION: 1,
    ErrorCode.TYPE_CONSTRAINT_VIOLATION: 2,
    ErrorCode.PROPERTY_CONSTRAINT_VIOLATION: 3,
    ErrorCode.GENERIC_ERROR: 4,
}


def _json_default(value: object) -> Any:
    """Let callers put Decimals in payloads; they go on the wire as JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _path(error: ValidationError) -> str:
    """Dotted location of a schema error, e.g. ``chargingSchedule.periods[0].limit``."""
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_error(action: str, payload: dict[str, Any], is_result: bool) -> FrameError | None:
    """Validate synchronously; return the most fundamental violation, if any."""
    compiled = _validator(action, is_result)
    if (is_result, action) in _DECIMAL_SCHEMAS:
        # Validate an exact-decimal copy; the caller keeps its floats.
        payload = json.loads(json.dumps(payload, default=_json_default), parse_float=Decimal)
    if compiled.fast is not None and compiled.fast(payload):
        return None
    # Invalid (or no fast path): jsonschema is the authority and names the violation.
    errors = compiled.validator.iter_errors(payload)
    first = next(errors, None)
    if first is None:
        return None
    candidates = [first, *errors]

    def rank(error: ValidationError) -> int:
        return _PRIORITY[_CODE_BY_KEYWORD.get(str(error.validator), ErrorCode.GENERIC_ERROR)]

    error = min(candidates, key=rank)  # min() keeps schema order among equal ranks
    keyword = str(error.validator)
    path = _path(error)
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return FrameError(
        _CODE_BY_KEYWORD.get(keyword, ErrorCode.GENERIC_ERROR),
        f"{path}: {message}" if path else message,
        {"action": action, "path": path, "constraint": keyword},
    )


def _checked(action: str, payload: dict[str, Any], is_result: bool) -> FrameError | None:
    """Schema check of an inbound payload that never lets a validator crash escape."""
    try:
        return _schema_error(action, payload, is_result)
    except Exception as exc:  # the station must answer and keep running, not crash
        return FrameError(
            ErrorCode.INTERNAL_ERROR,
            f"Could not validate {action}",
            {"cause": f"{type(exc).__name__}: {exc}"[:200]},
        )


def validate_request(
    action: str,
    payload: dict[str, Any],
    supported: Collection[str] | None = None,
    *,
    unique_id: str | None = None,
) -> None:
    """_Check an inbound CALL's action and payload; raise the FrameError to answer with.

    ``supported`` limits the accepted CS->CP actions (None: all of them); ``unique_id``
    is stamped on the error so :func:`error_for` can answer the right call.
    """
    if action not in _ALL_ACTIONS:
        raise FrameError(
            ErrorCode.NOT_IMPLEMENTED,
            f"Unknown action {action[:60]!r}",
            unique_id=unique_id,
            message_type_id=CALL,
        )
    if action not in CS_TO_CP_ACTIONS or (supported is not None and action not in supported):
        raise FrameError(
            ErrorCode.NOT_SUPPORTED,
            f"Action {action} is not supported by this charge point",
            unique_id=unique_id,
            message_type_id=CALL,
        )
    error = _checked(action, payload, is_result=False)
    if error is not None:
        error.unique_id = unique_id
        error.message_type_id = CALL
        raise error


def validate_response(
    action: str, payload: dict[str, Any], *, unique_id: str | None = None
) -> None:
    """_Check a CALLRESULT received for our CALL ``action``; raise FrameError if invalid.

    A bad response is not answered, but the caller must treat its call as failed.
    ``action`` not being one we send is our bug, hence ValueError.
    """
    if action not in CP_TO_CS_ACTIONS:
        raise ValueError(f"{action!r} is not an action a charge point sends")
    error = _checked(action, payload, is_result=True)
    if error is not None:
        error.unique_id = unique_id
        error.message_type_id = CALLRESULT
        raise error


def validate_outbound(action: str, payload: dict[str, Any], *, result: bool) -> None:
    """_Check a frame we are about to send: a CALL (``result=False``) or our CALLRESULT.

    Sending an invalid frame is our bug, so this raises ValueError rather than FrameError.
    """
    allowed = CS_TO_CP_ACTIONS if result else CP_TO_CS_ACTIONS
    if action not in allowed:
        kind = "answer" if result else "send"
        raise ValueError(f"A charge point does not {kind} {action!r}")
    error = _schema_error(action, payload, is_result=result)
    if error is not None:
        what = "result" if result else "call"
        raise ValueError(f"Invalid outbound {action} {what}: {error.code}: {error.description}")


# ------------------------------------------------------------------------- encoding


def _dumps(frame: list[Any]) -> str:
    """Compact, UTF-8 friendly, strictly valid JSON (no NaN)."""
    return json.dumps(
        frame,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def encode_call(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    """Text of a CALL frame."""
    return _dumps([CALL, unique_id, action, payload])


def encode_result(unique_id: str, payload: dict[str, Any]) -> str:
    """Text of a CALLRESULT frame."""
    return _dumps([CALLRESULT, unique_id, payload])


def encode_error(
    unique_id: str, code: str, description: str = "", details: dict[str, Any] | None = None
) -> str:
    """Text of a CALLERROR frame; ``code`` must be one of the ten 1.6 codes."""
    if code not in _ERROR_CODES:
        raise ValueError(f"{code!r} is not an OCPP-J 1.6 error code")
    return _dumps([CALLERROR, unique_id, str(code), description, details or {}])


def error_for(exc: FrameError) -> str:
    """The CALLERROR answering ``exc``; unique id ``"-1"`` when none could be read."""
    uid = _UNKNOWN_ID if exc.unique_id is None else exc.unique_id
    return encode_error(uid, exc.code, exc.description, exc.details)
