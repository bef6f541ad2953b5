"""Error catalogue: codes the control API raises, OCPP mapping, and reporting order."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

import pytest

from chargebox.core.errors import (
    OCPP_ERROR_CODES,
    ErrorDef,
    Scope,
    Severity,
    load_catalogue,
    most_severe,
    parse_catalogue,
)

# code -> (ocpp_error_code, severity, stops_transaction); None = not pinned by the brief.
API_CODES: dict[str, tuple[str, str | None, bool | None]] = {
    "lock_failure": ("ConnectorLockFailure", None, None),
    "ground_failure": ("GroundFailure", "fault", True),
    "over_current": ("OverCurrentFailure", "fault", True),
    "power_meter_failure": ("PowerMeterFailure", None, None),
    "power_switch_failure": ("PowerSwitchFailure", "fault", None),
    "ev_communication_error": ("EVCommunicationError", None, None),
    "over_voltage": ("OverVoltage", None, None),
    "under_voltage": ("UnderVoltage", None, None),
    "high_temperature": ("HighTemperature", None, None),
    "reader_failure": ("ReaderFailure", "warning", False),
    "internal_error": ("InternalError", None, None),
    "weak_signal": ("WeakSignal", "warning", False),
    "reset_failure": ("ResetFailure", None, None),
    "local_list_conflict": ("LocalListConflict", None, None),
    "emergency_stop": ("PowerSwitchFailure", "fault", True),
    "contactor_welded": ("PowerSwitchFailure", "fault", True),
    "mode3_error": ("EVCommunicationError", None, None),
    "diode_failure": ("EVCommunicationError", "fault", True),
    "rcd_tripped": ("GroundFailure", None, None),
    "spd_tripped": ("OtherError", "warning", False),
    "door_opened": ("OtherError", "warning", False),
    "external_meter_failure": ("PowerMeterFailure", "warning", False),
    "backend_disconnected": ("OtherError", "warning", False),
}


def raw_catalogue() -> dict[str, Any]:
    text = resources.files("chargebox.core").joinpath("data", "errors.toml").read_text()
    return tomllib.loads(text)


def test_ocpp_error_codes_are_the_16_of_ocpp_1_6() -> None:
    assert len(OCPP_ERROR_CODES) == 16
    assert {"NoError", "OtherError", "GroundFailure", "WeakSignal"} <= OCPP_ERROR_CODES


@pytest.mark.parametrize("code", sorted(API_CODES))
def test_api_code_present_and_mapped(code: str) -> None:
    error = load_catalogue()[code]
    ocpp, severity, stops = API_CODES[code]
    assert error.code == code
    assert error.ocpp_error_code == ocpp
    if severity is not None:
        assert error.severity is Severity(severity)
    if stops is not None:
        assert error.stops_transaction is stops


def test_every_entry_is_well_formed() -> None:
    for code, error in load_catalogue().items():
        assert error.ocpp_error_code in OCPP_ERROR_CODES - {"NoError"}, code
        assert error.source and error.description, code
        assert error.info is None or len(error.info) <= 50, code
        assert error.vendor_error_code is None or len(error.vendor_error_code) <= 50, code


def test_scopes() -> None:
    catalogue = load_catalogue()
    assert catalogue["emergency_stop"].scope is Scope.BOTH
    assert catalogue["door_opened"].scope is Scope.STATION
    assert catalogue["lock_failure"].scope is Scope.CONNECTOR
    assert catalogue["door_opened"].applies_to(0) and not catalogue["door_opened"].applies_to(1)
    assert catalogue["lock_failure"].applies_to(2) and not catalogue["lock_failure"].applies_to(0)
    assert catalogue["emergency_stop"].applies_to(0) and catalogue["emergency_stop"].applies_to(1)


def test_warnings_never_stop_a_transaction_by_themselves() -> None:
    for error in load_catalogue().values():
        if error.severity is Severity.WARNING:
            assert not error.stops_transaction, error.code


def test_seed_004_stop_column_followed() -> None:
    catalogue = load_catalogue()
    # seed-004 §7.3: "Stops transaction & charging"
    assert catalogue["ground_failure"].stops_transaction  # #1
    assert not catalogue["mode3_error"].stops_transaction  # #2
    assert catalogue["diode_failure"].stops_transaction  # #3
    assert catalogue["rcd_tripped"].stops_transaction  # #6
    assert not catalogue["spd_tripped"].stops_transaction  # #7
    assert catalogue["contactor_welded"].stops_transaction  # #8
    assert not catalogue["plug_lock_failed"].stops_transaction  # #10
    assert catalogue["power_meter_failure"].stops_transaction  # #13
    assert not catalogue["external_meter_failure"].stops_transaction  # #14
    assert not catalogue["reader_failure"].stops_transaction  # #15


def test_catalogue_cached_read_only_and_ranked_in_file_order() -> None:
    catalogue = load_catalogue()
    assert catalogue is load_catalogue()
    assert [e.rank for e in catalogue.values()] == list(range(len(catalogue)))
    with pytest.raises(TypeError):
        catalogue["x"] = catalogue["door_opened"]  # type: ignore[index]


# -------------------------------------------------------------------------- most_severe


def test_most_severe_empty() -> None:
    assert most_severe([]) is None


def test_most_severe_fault_before_warning() -> None:
    c = load_catalogue()
    assert most_severe([c["reader_failure"], c["lock_failure"]]) is c["lock_failure"]
    assert most_severe([c["weak_signal"], c["door_opened"]]) is c["door_opened"]


def test_most_severe_then_catalogue_order() -> None:
    c = load_catalogue()
    errors = [c["power_meter_failure"], c["over_current"], c["emergency_stop"], c["door_opened"]]
    assert most_severe(errors) is c["emergency_stop"]
    assert most_severe(iter(errors[:2])) is c["over_current"]


def test_faults_all_rank_before_warnings_in_the_file() -> None:
    severities = [e.severity for e in load_catalogue().values()]
    first_warning = severities.index(Severity.WARNING)
    assert Severity.FAULT not in severities[first_warning:]


def test_emergency_stop_outranks_everything() -> None:
    catalogue = load_catalogue()
    assert most_severe(catalogue.values()) is catalogue["emergency_stop"]


# ------------------------------------------------------------------------- validator

MINI: dict[str, Any] = {
    "errors": {
        "a_fault": {
            "ocpp_error_code": "GroundFailure",
            "scope": "connector",
            "severity": "fault",
            "stops_transaction": True,
            "description": "d",
            "source": "s",
        },
        "a_warning": {
            "ocpp_error_code": "WeakSignal",
            "scope": "station",
            "severity": "warning",
            "stops_transaction": False,
            "description": "d",
            "source": "s",
            "vendor_error_code": "W1",
        },
    }
}


def test_parse_catalogue_small_table() -> None:
    catalogue = parse_catalogue(MINI)
    assert catalogue["a_warning"] == ErrorDef(
        "a_warning",
        "WeakSignal",
        "W1",
        Scope.STATION,
        Severity.WARNING,
        False,
        "d",
        "s",
        None,
        1,
    )
    assert most_severe(catalogue.values()) is catalogue["a_fault"]


@pytest.mark.parametrize(
    "field,value,fragment",
    [
        ("ocpp_error_code", "Exploded", "ChargePointErrorCode"),
        ("ocpp_error_code", "NoError", "NoError"),
        ("scope", "planet", "planet"),
        ("severity", "mild", "mild"),
        ("stops_transaction", "yes", "wrong type"),
        ("colour", "red", "unknown field"),
        ("info", "x" * 51, "info"),
    ],
)
def test_parse_catalogue_rejects_bad_entries(field: str, value: Any, fragment: str) -> None:
    data = copy.deepcopy(MINI)
    data["errors"]["a_fault"][field] = value
    with pytest.raises(ValueError, match=fragment) as info:
        parse_catalogue(data)
    assert "a_fault" in str(info.value)


def test_parse_catalogue_rejects_missing_field_and_bad_code() -> None:
    data = copy.deepcopy(MINI)
    del data["errors"]["a_fault"]["severity"]
    with pytest.raises(ValueError, match="missing field"):
        parse_catalogue(data)
    with pytest.raises(ValueError, match="snake_case"):
        parse_catalogue({"errors": {"BadCode": MINI["errors"]["a_fault"]}})


def test_packaged_catalogue_parses_again() -> None:
    assert parse_catalogue(raw_catalogue()).keys() == load_catalogue().keys()
