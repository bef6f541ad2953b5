"""OCPP-J 1.6 frames on the wire: parse them, encode them, and the CALLERROR codes.

Structure errors found by :func:`parse_frame` (OCPP-J 1.6 §4.2.3 wording in quotes):

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

Outbound frames are encoded compactly (``separators=(",", ":")``), with
``ensure_ascii=False`` and ``allow_nan=False``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

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


# ------------------------------------------------------------------------- encoding


def json_default(value: object) -> Any:
    """Let callers put Decimals in payloads; they go on the wire as JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _dumps(frame: list[Any]) -> str:
    """Compact, UTF-8 friendly, strictly valid JSON (no NaN)."""
    return json.dumps(
        frame,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=json_default,
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
