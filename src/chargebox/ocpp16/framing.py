"""OCPP-J 1.6 framing: parse, validate and encode frames, with exact CALLERROR codes.

Why not ``ocpp.messages``: it validates in a thread-pool executor, only logs frames it
cannot parse, and maps schema errors to OCPP 2.0 names (``FormatViolation``). We reuse
the library's bundled 1.6 JSON schemas and enums, but own the framing so that every bad
inbound frame is answered with the OCPP-J 1.6 (§4.2.3) error code and the station keeps
running, and so that validation is synchronous with validators compiled once and cached.

This module is the one entry point the session (``rpc.py``, ``handlers.py``) uses; the
work is done in four parts, each documenting its share of the error mapping:

* :mod:`~chargebox.ocpp16.frames`: frame structure, the ten error codes, encoding.
* :mod:`~chargebox.ocpp16.validation`: action and payload checks, keyword -> error code.
* :mod:`~chargebox.ocpp16.schemas`: actions by direction, the compiled-validator cache.
* :mod:`~chargebox.ocpp16.predicates`: the fast yes/no predicates compiled from schemas.
"""

from __future__ import annotations

from chargebox.ocpp16 import schemas
from chargebox.ocpp16.frames import CALL as CALL
from chargebox.ocpp16.frames import CALLERROR as CALLERROR
from chargebox.ocpp16.frames import CALLRESULT as CALLRESULT
from chargebox.ocpp16.frames import (
    Call,
    CallError,
    CallResult,
    ErrorCode,
    Frame,
    FrameError,
    encode_call,
    encode_error,
    encode_result,
    error_for,
    parse_frame,
)
from chargebox.ocpp16.schemas import CP_TO_CS_ACTIONS, CS_TO_CP_ACTIONS, preload
from chargebox.ocpp16.validation import validate_outbound, validate_request, validate_response

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

# The validator cache under its former names, which the tests and bench/ reach into.
_validators = schemas.validators
_validator = schemas.compiled
_DECIMAL_SCHEMAS = schemas.DECIMAL_SCHEMAS
