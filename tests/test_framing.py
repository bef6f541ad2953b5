"""Tests for OCPP-J 1.6 framing: every bad inbound frame maps to its exact CALLERROR."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.v16.enums import Action

from chargebox.ocpp16.framing import (
    CP_TO_CS_ACTIONS,
    CS_TO_CP_ACTIONS,
    Call,
    CallError,
    CallResult,
    ErrorCode,
    FrameError,
    encode_call,
    encode_error,
    encode_result,
    error_for,
    parse_frame,
    preload,
    validate_outbound,
    validate_request,
    validate_response,
)


def _profile(limit: Any = 21.4, start: str = "2024-05-01T08:00:00Z") -> dict[str, Any]:
    """A valid charging profile whose limit and start date the cases vary."""
    return {
        "chargingProfileId": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": start,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
    }


def _call(uid: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, uid, action, payload])


BOOT = {"chargePointVendor": "Acme", "chargePointModel": "Box"}

# (case id, raw frame, expected code or None when valid, unique id in the CALLERROR)
CASES: list[tuple[str, str | bytes, str | None, str]] = [
    # --- frame structure
    ("not-json", "this is not json", "FormationViolation", "-1"),
    ("truncated-json", '[2,"a1","Reset",{', "FormationViolation", "-1"),
    ("not-utf8", b'[2,"a1","Reset",{"type":"\xff"}]', "FormationViolation", "-1"),
    ("nan", '[2,"a1","Reset",{"type":NaN}]', "FormationViolation", "-1"),
    ("object", "{}", "FormationViolation", "-1"),
    ("string", '"hello"', "FormationViolation", "-1"),
    ("empty-array", "[]", "ProtocolError", "-1"),
    ("only-type", "[2]", "ProtocolError", "-1"),
    ("call-too-short", '[2,"1"]', "ProtocolError", "1"),
    ("call-no-payload", '[2,"1","Reset"]', "ProtocolError", "1"),
    ("result-too-short", '[3,"r1"]', "ProtocolError", "r1"),
    ("error-too-short", '[4,"e1","GenericError","x"]', "ProtocolError", "e1"),
    ("call-too-long", '[2,"1","Reset",{"type":"Hard"},{}]', "FormationViolation", "1"),
    ("uid-not-string", '[2,1,"Reset",{}]', "FormationViolation", "-1"),
    ("type-id-string", '["2","1","Reset",{}]', "FormationViolation", "1"),
    ("type-id-bool", '[true,"1","Reset",{}]', "FormationViolation", "1"),
    ("type-id-unknown", '[5,"1","Reset",{}]', "ProtocolError", "1"),
    ("action-not-string", '[2,"1",7,{}]', "FormationViolation", "1"),
    ("payload-array", '[2,"1","Heartbeat",[]]', "FormationViolation", "1"),
    ("payload-null", '[2,"1","Reset",null]', "FormationViolation", "1"),
    # --- action
    ("unknown-action", '[2,"1","NoSuchAction",{}]', "NotImplemented", "1"),
    ("cp-to-cs-action", _call("b1", "BootNotification", BOOT), "NotSupported", "b1"),
    ("heartbeat-received", _call("h1", "Heartbeat", {}), "NotSupported", "h1"),
    # --- payload schema
    ("reset-ok", _call("r1", "Reset", {"type": "Soft"}), None, "r1"),
    ("reset-missing-type", _call("r2", "Reset", {}), "OccurenceConstraintViolation", "r2"),
    (
        "reset-enum",
        _call("r3", "Reset", {"type": "Medium"}),
        "PropertyConstraintViolation",
        "r3",
    ),
    (
        "config-key-int",
        _call("c1", "ChangeConfiguration", {"key": 123, "value": "1"}),
        "TypeConstraintViolation",
        "c1",
    ),
    (
        "config-key-51-chars",
        _call("c2", "ChangeConfiguration", {"key": "K" * 51, "value": "1"}),
        "TypeConstraintViolation",
        "c2",
    ),
    (
        "config-key-50-chars",
        _call("c3", "ChangeConfiguration", {"key": "K" * 50, "value": "1"}),
        None,
        "c3",
    ),
    (
        "config-extra-property",
        _call("c4", "ChangeConfiguration", {"key": "a", "value": "1", "extra": True}),
        "FormationViolation",
        "c4",
    ),
    (
        "config-missing-value",
        _call("c5", "ChangeConfiguration", {"key": "a"}),
        "OccurenceConstraintViolation",
        "c5",
    ),
    (
        "remote-start-21.4",
        _call("s1", "RemoteStartTransaction", {"idTag": "T1", "chargingProfile": _profile()}),
        None,
        "s1",
    ),
    (
        "remote-start-21.45",
        _call("s2", "RemoteStartTransaction", {"idTag": "T1", "chargingProfile": _profile(21.45)}),
        "PropertyConstraintViolation",
        "s2",
    ),
    (
        "remote-start-integer-limit",
        _call("s3", "RemoteStartTransaction", {"idTag": "T1", "chargingProfile": _profile(16)}),
        None,
        "s3",
    ),
    (
        "remote-start-idtag-21-chars",
        _call("s4", "RemoteStartTransaction", {"idTag": "X" * 21}),
        "TypeConstraintViolation",
        "s4",
    ),
    (
        "get-config-non-strings",
        _call("g1", "GetConfiguration", {"key": ["a", 2, None]}),
        "TypeConstraintViolation",
        "g1",
    ),
    (
        "unlock-connector-string",
        _call("u1", "UnlockConnector", {"connectorId": "1"}),
        "TypeConstraintViolation",
        "u1",
    ),
    (
        "unlock-connector-bool",
        _call("u2", "UnlockConnector", {"connectorId": True}),
        "TypeConstraintViolation",
        "u2",
    ),
    (
        "set-profile-ok",
        _call("p1", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": _profile()}),
        None,
        "p1",
    ),
    (
        "set-profile-bad-date",
        _call(
            "p2",
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": _profile(start="not-a-date")},
        ),
        "PropertyConstraintViolation",
        "p2",
    ),
    (
        "set-profile-feb-30",
        _call(
            "p3",
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": _profile(start="2024-02-30T00:00:00Z")},
        ),
        "PropertyConstraintViolation",
        "p3",
    ),
    (
        "set-profile-limit-0.05",
        _call("p4", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": _profile(0.05)}),
        "PropertyConstraintViolation",
        "p4",
    ),
    (
        "change-availability-enum",
        _call("a1", "ChangeAvailability", {"connectorId": 0, "type": "Broken"}),
        "PropertyConstraintViolation",
        "a1",
    ),
    (
        "update-firmware-not-uri",
        _call(
            "f1",
            "UpdateFirmware",
            {"location": "no uri here", "retrieveDate": "2024-05-01T08:00:00Z"},
        ),
        "PropertyConstraintViolation",
        "f1",
    ),
    (
        "update-firmware-ok",
        _call(
            "f2",
            "UpdateFirmware",
            {"location": "https://fw.example/x.bin", "retrieveDate": "2024-05-01T08:00:00+02:00"},
        ),
        None,
        "f2",
    ),
    (
        "send-local-list-no-entries-ok",
        _call("l1", "SendLocalList", {"listVersion": 3, "updateType": "Full"}),
        None,
        "l1",
    ),
    (
        "data-transfer-ok",
        _call("d1", "DataTransfer", {"vendorId": "com.acme", "data": "ünïcödé"}),
        None,
        "d1",
    ),
    (
        "security-trigger-enum",
        _call("x1", "ExtendedTriggerMessage", {"requestedMessage": "Bogus"}),
        "PropertyConstraintViolation",
        "x1",
    ),
    (
        "security-install-cert-missing",
        _call("x2", "InstallCertificate", {"certificateType": "CentralSystemRootCertificate"}),
        "OccurenceConstraintViolation",
        "x2",
    ),
]


def _inbound(raw: str | bytes) -> None:
    """What a dispatcher does with an inbound frame: parse, then validate CALLs."""
    frame = parse_frame(raw)
    if isinstance(frame, Call):
        validate_request(frame.action, frame.payload, unique_id=frame.unique_id)


@pytest.mark.parametrize(("raw", "code", "uid"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_inbound_frame_table(raw: str | bytes, code: str | None, uid: str) -> None:
    if code is None:
        _inbound(raw)
        return
    with pytest.raises(FrameError) as info:
        _inbound(raw)
    assert info.value.code == code
    answer = json.loads(error_for(info.value))
    assert answer[:3] == [4, uid, code]
    assert isinstance(answer[3], str)
    assert isinstance(answer[4], dict)


def test_table_is_big_enough() -> None:
    assert sum(1 for c in CASES if c[2] is not None) >= 25


def test_error_codes_are_exactly_the_ocpp16_ones() -> None:
    assert {c.value for c in ErrorCode} == {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }


def test_action_sets_cover_the_library_and_have_schemas() -> None:
    assert {a.value for a in Action} == CS_TO_CP_ACTIONS | CP_TO_CS_ACTIONS
    assert {"DataTransfer"} == CS_TO_CP_ACTIONS & CP_TO_CS_ACTIONS
    schemas = resources.files("ocpp.v16").joinpath("schemas")
    for action in CS_TO_CP_ACTIONS | CP_TO_CS_ACTIONS:
        assert schemas.joinpath(f"{action}.json").is_file()
        assert schemas.joinpath(f"{action}Response.json").is_file()
    assert all(type(a) is str for a in CS_TO_CP_ACTIONS | CP_TO_CS_ACTIONS)
    preload()  # every schema compiles


def test_supported_subset_gives_not_supported() -> None:
    with pytest.raises(FrameError) as info:
        validate_request("GetLog", {}, supported={"Reset"}, unique_id="z")
    assert info.value.code == "NotSupported"
    validate_request("Reset", {"type": "Hard"}, supported={"Reset"})


def test_several_violations_report_the_most_structural_one() -> None:
    with pytest.raises(FrameError) as info:
        validate_request("ChangeConfiguration", {"key": 1, "extra": 1})
    assert info.value.code == "FormationViolation"
    with pytest.raises(FrameError) as info:
        validate_request("ChangeConfiguration", {"key": 1})
    assert info.value.code == "OccurenceConstraintViolation"


def test_error_details_name_the_field() -> None:
    with pytest.raises(FrameError) as info:
        validate_request(
            "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": _profile(3.33)}
        )
    assert info.value.details["constraint"] == "multipleOf"
    assert info.value.details["path"].endswith("chargingSchedulePeriod[0].limit")
    assert info.value.unique_id is None
    assert json.loads(error_for(info.value))[1] == "-1"


def test_validation_leaves_floats_as_floats() -> None:
    payload: dict[str, Any] = {"idTag": "T1", "chargingProfile": _profile(21.4)}
    validate_request("RemoteStartTransaction", payload)
    limit = payload["chargingProfile"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
    assert type(limit) is float
    assert limit == 21.4
    frame = parse_frame(_call("1", "RemoteStartTransaction", payload))
    assert isinstance(frame, Call)
    period = frame.payload["chargingProfile"]["chargingSchedule"]["chargingSchedulePeriod"][0]
    assert type(period["limit"]) is float


def test_round_trip() -> None:
    payload = {"vendorId": "com.acme", "messageId": "ä€", "data": '{"x": [1, 2]}'}
    text = encode_call("id-1", "DataTransfer", payload)
    assert text == (
        '[2,"id-1","DataTransfer",'
        '{"vendorId":"com.acme","messageId":"ä€","data":"{\\"x\\": [1, 2]}"}]'
    )
    assert parse_frame(text) == Call("id-1", "DataTransfer", payload)
    assert parse_frame(text.encode()) == Call("id-1", "DataTransfer", payload)

    result = encode_result("id-2", {"status": "Accepted", "currentTime": "2024-05-01T08:00:00Z"})
    assert " " not in result
    assert parse_frame(result) == CallResult(
        "id-2", {"status": "Accepted", "currentTime": "2024-05-01T08:00:00Z"}
    )

    error = encode_error("id-3", "NotSupported", "no", {"a": 1})
    assert error == '[4,"id-3","NotSupported","no",{"a":1}]'
    assert parse_frame(error) == CallError("id-3", "NotSupported", "no", {"a": 1})
    assert encode_error("id-4", ErrorCode.GENERIC_ERROR) == '[4,"id-4","GenericError","",{}]'


def test_encoding_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        encode_error("1", "FormatViolation")  # the OCPP 2.0 name is not a 1.6 code
    with pytest.raises(ValueError):
        encode_result("1", {"value": float("nan")})


def test_inbound_callerror_and_result_structure() -> None:
    with pytest.raises(FrameError) as info:
        parse_frame('[4,"e1","GenericError",5,{}]')
    assert (info.value.code, info.value.unique_id, info.value.message_type_id) == (
        "FormationViolation",
        "e1",
        4,
    )
    with pytest.raises(FrameError) as info:
        parse_frame('[3,"r1","Accepted"]')
    assert info.value.code == "FormationViolation"


def test_validate_response() -> None:
    validate_response("Heartbeat", {"currentTime": "2024-05-01T08:00:00.123Z"})
    with pytest.raises(FrameError) as info:
        validate_response("BootNotification", {"status": "Maybe"}, unique_id="b9")
    assert info.value.unique_id == "b9"
    assert info.value.code == "OccurenceConstraintViolation"  # currentTime, interval missing
    with pytest.raises(FrameError) as info:
        validate_response("Heartbeat", {"currentTime": "yesterday"})
    assert info.value.code == "PropertyConstraintViolation"
    with pytest.raises(ValueError):
        validate_response("Reset", {"status": "Accepted"})  # we never send Reset


def test_validate_outbound() -> None:
    validate_outbound("BootNotification", BOOT, result=False)
    with pytest.raises(ValueError, match="BootNotification"):
        validate_outbound("BootNotification", {"chargePointVendor": "Acme"}, result=False)
    with pytest.raises(ValueError):
        validate_outbound("BootNotification", {**BOOT, "chargePointModel": "M" * 21}, result=False)
    with pytest.raises(ValueError):
        validate_outbound("Reset", {"type": "Hard"}, result=False)  # not a CP->CS call
    validate_outbound("Reset", {"status": "Accepted"}, result=True)
    schedule = {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2024-05-01T08:00:00Z",
        "chargingSchedule": {
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
        },
    }
    validate_outbound("GetCompositeSchedule", schedule, result=True)
    schedule["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 21.45  # type: ignore[index]
    with pytest.raises(ValueError):
        validate_outbound("GetCompositeSchedule", schedule, result=True)


# --- the fast compiled checker must agree with jsonschema (the authority for errors)

_SEEDS: list[tuple[bool, str, dict[str, Any]]] = [
    (False, "Reset", {"type": "Hard"}),
    (False, "ChangeConfiguration", {"key": "a", "value": "b"}),
    (
        False,
        "RemoteStartTransaction",
        {"idTag": "T1", "connectorId": 1, "chargingProfile": _profile()},
    ),
    (False, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": _profile()}),
    (False, "UpdateFirmware", {"location": "ftp://h/f", "retrieveDate": "2024-05-01T08:00:00Z"}),
    (
        False,
        "SendLocalList",
        {
            "listVersion": 1,
            "updateType": "Differential",
            "localAuthorizationList": [
                {
                    "idTag": "A",
                    "idTagInfo": {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z"},
                }
            ],
        },
    ),
    (False, "GetConfiguration", {"key": ["a", "b"]}),
    (
        False,
        "GetLog",
        {"logType": "DiagnosticsLog", "requestId": 1, "log": {"remoteLocation": "x"}},
    ),
    (
        False,
        "InstallCertificate",
        {"certificateType": "ManufacturerRootCertificate", "certificate": "c"},
    ),
    (False, "BootNotification", BOOT),
    (
        False,
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": "2024-05-01T08:00:00Z",
                    "sampledValue": [{"value": "1", "unit": "Wh"}],
                }
            ],
        },
    ),
    (
        True,
        "GetConfiguration",
        {"configurationKey": [{"key": "k", "readonly": True, "value": "v"}]},
    ),
    (
        True,
        "GetInstalledCertificateIds",
        {
            "status": "Accepted",
            "certificateHashData": [
                {
                    "hashAlgorithm": "SHA256",
                    "issuerNameHash": "a",
                    "issuerKeyHash": "b",
                    "serialNumber": "c",
                }
            ],
        },
    ),
    (True, "Heartbeat", {"currentTime": "2024-05-01T08:00:00Z"}),
]
_REPLACEMENTS: list[Any] = [
    None, True, 0, 1, -1, 1.0, 1.5, "x", "", "Z" * 600, [], {}, ["x"], {"a": 1},
    "2024-05-01T08:00:00Z", "Hard", "Accepted",
]  # fmt: skip


def _mutations(value: Any) -> Any:
    """Every payload reachable by one edit: replace, delete or add at any depth."""
    yield from _REPLACEMENTS
    if isinstance(value, dict):
        yield {**value, "unexpected": 1}
        for key, sub in value.items():
            yield {k: v for k, v in value.items() if k != key}
            for mutated in _mutations(sub):
                yield {**value, key: mutated}
    elif isinstance(value, list):
        yield []
        yield [*value, *value]
        for i, sub in enumerate(value):
            for mutated in _mutations(sub):
                yield [*value[:i], mutated, *value[i + 1 :]]


def test_fast_checker_agrees_with_jsonschema() -> None:
    from chargebox.ocpp16 import framing

    preload()
    checked = 0
    for is_result, action, seed in _SEEDS:
        compiled = framing._validator(action, is_result)
        exact = (is_result, action) in framing._DECIMAL_SCHEMAS
        assert compiled.fast is not None
        for mutated in [seed, *_mutations(seed)]:
            # As in _schema_error: the multipleOf schemas see Decimal-parsed payloads.
            payload = json.loads(json.dumps(mutated), parse_float=Decimal if exact else float)
            expected = compiled.validator.is_valid(payload)
            assert compiled.fast(payload) is expected, (action, mutated)
            checked += 1
        assert compiled.fast(json.loads(json.dumps(seed), parse_float=Decimal)), action
    # Every schema, on generic payloads.
    for (_, action), compiled in framing._validators.items():
        assert compiled.fast is not None, action
        for payload in ({}, {"x": 1}, {"status": "Accepted"}, {"connectorId": 1}):
            assert compiled.fast(payload) is compiled.validator.is_valid(payload), action
    assert checked > 1000


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.binary(max_size=40),
        _json.map(json.dumps),
        st.tuples(st.sampled_from([2, 3, 4, 5]), st.text(max_size=4), _json).map(
            lambda t: json.dumps(list(t))
        ),
        st.tuples(st.sampled_from(sorted(CS_TO_CP_ACTIONS)), _json).map(
            lambda t: json.dumps([2, "f", t[0], t[1] if isinstance(t[1], dict) else {"x": t[1]}])
        ),
    )
)
def test_any_input_gives_a_frame_or_a_frame_error(raw: str | bytes) -> None:
    """Whatever arrives, the dispatcher gets a frame or an answerable FrameError."""
    try:
        _inbound(raw)
    except FrameError as exc:
        answer = json.loads(error_for(exc))
        assert answer[0] == 4 and answer[2] in {c.value for c in ErrorCode}
