"""Check OCPP 1.6 payloads against their schemas, and name the CALLERROR to answer with.

Action (:func:`validate_request`; OCPP-J 1.6 §4.2.3 wording in quotes)
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

Valid payloads take only the fast predicate; the jsonschema validator runs only to name
what is wrong (:mod:`chargebox.ocpp16.schemas`). SetChargingProfile and
RemoteStartTransaction CALLs and GetCompositeSchedule results are checked as a copy
parsed as ``Decimal``; callers keep their ordinary floats. :func:`validate_outbound`
treats a schema violation in our own frame as a bug and raises ``ValueError``.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from decimal import Decimal
from typing import Any

from jsonschema.exceptions import ValidationError

from chargebox.ocpp16.frames import CALL, CALLRESULT, ErrorCode, FrameError, json_default
from chargebox.ocpp16.schemas import (
    ALL_ACTIONS,
    CP_TO_CS_ACTIONS,
    CS_TO_CP_ACTIONS,
    DECIMAL_SCHEMAS,
    compiled,
)

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


def _path(error: ValidationError) -> str:
    """Dotted location of a schema error, e.g. ``chargingSchedule.periods[0].limit``."""
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_error(action: str, payload: dict[str, Any], is_result: bool) -> FrameError | None:
    """Validate synchronously; return the most fundamental violation, if any."""
    checker = compiled(action, is_result)
    if (is_result, action) in DECIMAL_SCHEMAS:
        # Validate an exact-decimal copy; the caller keeps its floats.
        payload = json.loads(json.dumps(payload, default=json_default), parse_float=Decimal)
    if checker.fast is not None and checker.fast(payload):
        return None
    # Invalid (or no fast path): jsonschema is the authority and names the violation.
    errors = checker.validator.iter_errors(payload)
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
    """Check an inbound CALL's action and payload; raise the FrameError to answer with.

    ``supported`` limits the accepted CS->CP actions (None: all of them); ``unique_id``
    is stamped on the error so :func:`error_for` can answer the right call.
    """
    if action not in ALL_ACTIONS:
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
    """Check a CALLRESULT received for our CALL ``action``; raise FrameError if invalid.

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
    """Check a frame we are about to send: a CALL (``result=False``) or our CALLRESULT.

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
