"""The OCPP 1.6 actions by direction, and their schemas' validators, compiled once.

We reuse the ``ocpp`` library's bundled 1.6 JSON schemas and enums. Validation is
synchronous with validators compiled lazily, per schema, and cached (< 1 ms each;
:func:`preload` compiles all 78 in about 5-7 ms). Each schema is compiled twice: to a
jsonschema validator, which is the authority and names the violation, and to a fast
predicate (:mod:`chargebox.ocpp16.predicates`), or none when the schema is beyond it.

Float precision: the 1.6 schemas put ``multipleOf: 0.1`` on charging limits. Binary
floats make 21.4 fail that test, so the schemas in :data:`DECIMAL_SCHEMAS` are loaded
with Decimal numbers, and payloads are checked against them as a Decimal copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from jsonschema import Draft4Validator
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from ocpp.v16.enums import Action

from chargebox.ocpp16.predicates import FORMATS, Check, NotCompilable, compile_schema

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
ALL_ACTIONS = CS_TO_CP_ACTIONS | CP_TO_CS_ACTIONS

# (is_result, action) pairs whose schemas carry `multipleOf: 0.1` (see module docstring):
# SetChargingProfile and RemoteStartTransaction CALLs, GetCompositeSchedule results.
DECIMAL_SCHEMAS = frozenset(
    {
        (False, Action.set_charging_profile.value),
        (False, Action.remote_start_transaction.value),
        (True, Action.get_composite_schedule.value),
    }
)


@dataclass(slots=True)
class Compiled:
    """A schema's jsonschema validator (errors, authority) and fast predicate, if any."""

    validator: Validator
    fast: Check | None


# The cache, keyed by (is_result, action); module-level so every session shares it.
validators: dict[tuple[bool, str], Compiled] = {}


def compiled(action: str, is_result: bool) -> Compiled:
    """Compile (once) the validators of an action's request or response schema."""
    key = (is_result, action)
    found = validators.get(key)
    if found is not None:
        return found
    name = f"{action}Response.json" if is_result else f"{action}.json"
    text = resources.files("ocpp.v16").joinpath("schemas", name).read_text(encoding="utf-8-sig")
    schema = json.loads(text, parse_float=Decimal if key in DECIMAL_SCHEMAS else float)
    cls = validator_for(schema, default=Draft4Validator)  # 22 schemas declare draft-06
    fast: Check | None
    try:
        fast = compile_schema(schema, schema, draft4=cls is Draft4Validator)
    except NotCompilable:
        fast = None
    result = Compiled(cls(schema, format_checker=FORMATS), fast)
    validators[key] = result
    return result


def preload() -> None:
    """Compile every 1.6 validator now, e.g. at start-up, instead of on first use."""
    for action in ALL_ACTIONS:
        compiled(action, False)
        compiled(action, True)
