"""Configuration-key registry and ChangeConfiguration / GetConfiguration semantics."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

import pytest

from chargebox.core.config_keys import (
    Access,
    ChangeStatus,
    ConfigKey,
    Configuration,
    ConfigValueError,
    KeyType,
    KeyValue,
    load_registry,
    parse_registry,
)

BOOL, INT, STR, CSL = KeyType.BOOLEAN, KeyType.INTEGER, KeyType.STRING, KeyType.CSL

# OCPP 1.6 edition 2 chapter 9: (type, access, required).
OCPP_KEYS: dict[str, tuple[KeyType, str, bool]] = {
    # 9.1 Core
    "AllowOfflineTxForUnknownId": (BOOL, "RW", False),
    "AuthorizationCacheEnabled": (BOOL, "RW", False),
    "AuthorizeRemoteTxRequests": (BOOL, "RW", True),
    "BlinkRepeat": (INT, "RW", False),
    "ClockAlignedDataInterval": (INT, "RW", True),
    "ConnectionTimeOut": (INT, "RW", True),
    "ConnectorPhaseRotation": (CSL, "RW", True),
    "ConnectorPhaseRotationMaxLength": (INT, "R", False),
    "GetConfigurationMaxKeys": (INT, "R", True),
    "HeartbeatInterval": (INT, "RW", True),
    "LightIntensity": (INT, "RW", False),
    "LocalAuthorizeOffline": (BOOL, "RW", True),
    "LocalPreAuthorize": (BOOL, "RW", True),
    "MaxEnergyOnInvalidId": (INT, "RW", False),
    "MeterValuesAlignedData": (CSL, "RW", True),
    "MeterValuesAlignedDataMaxLength": (INT, "R", False),
    "MeterValuesSampledData": (CSL, "RW", True),
    "MeterValuesSampledDataMaxLength": (INT, "R", False),
    "MeterValueSampleInterval": (INT, "RW", True),
    "MinimumStatusDuration": (INT, "RW", False),
    "NumberOfConnectors": (INT, "R", True),
    "ResetRetries": (INT, "RW", True),
    "StopTransactionOnEVSideDisconnect": (BOOL, "RW", True),
    "StopTransactionOnInvalidId": (BOOL, "RW", True),
    "StopTxnAlignedData": (CSL, "RW", True),
    "StopTxnAlignedDataMaxLength": (INT, "R", False),
    "StopTxnSampledData": (CSL, "RW", True),
    "StopTxnSampledDataMaxLength": (INT, "R", False),
    "SupportedFeatureProfiles": (CSL, "R", True),
    "SupportedFeatureProfilesMaxLength": (INT, "R", False),
    "TransactionMessageAttempts": (INT, "RW", True),
    "TransactionMessageRetryInterval": (INT, "RW", True),
    "UnlockConnectorOnEVSideDisconnect": (BOOL, "RW", True),
    "WebSocketPingInterval": (INT, "RW", False),
    # 9.2 Local Auth List Management
    "LocalAuthListEnabled": (BOOL, "RW", True),
    "LocalAuthListMaxLength": (INT, "R", True),
    "SendLocalListMaxLength": (INT, "R", True),
    # 9.3 Reservation
    "ReserveConnectorZeroSupported": (BOOL, "R", False),
    # 9.4 Smart Charging
    "ChargeProfileMaxStackLevel": (INT, "R", True),
    "ChargingScheduleAllowedChargingRateUnit": (CSL, "R", True),
    "ChargingScheduleMaxPeriods": (INT, "R", True),
    "ConnectorSwitch3to1PhaseSupported": (BOOL, "R", False),
    "MaxChargingProfilesInstalled": (INT, "R", True),
}

SECURITY_KEYS: dict[str, tuple[KeyType, str]] = {
    "AuthorizationKey": (STR, "W"),
    "SecurityProfile": (INT, "RW"),
    "CpoName": (STR, "RW"),
    "CertificateStoreMaxLength": (INT, "R"),
    "AdditionalRootCertificateCheck": (BOOL, "R"),
    "CertificateSignedMaxChainSize": (INT, "R"),
}

DEFAULTS = {
    "HeartbeatInterval": "1800",
    "MeterValueSampleInterval": "30",
    "ClockAlignedDataInterval": "900",
    "ConnectionTimeOut": "30",
    "WebSocketPingInterval": "60",
    "MinimumStatusDuration": "0",
    "TransactionMessageAttempts": "3",
    "TransactionMessageRetryInterval": "30",
    "ResetRetries": "3",
    "MeterValuesSampledData": "Energy.Active.Import.Register",
    "MeterValuesAlignedData": "Energy.Active.Import.Register",
    "StopTxnSampledData": "",
    "StopTxnAlignedData": "",
    "AuthorizeRemoteTxRequests": "false",
    "LocalPreAuthorize": "false",
    "LocalAuthorizeOffline": "true",
    "AuthorizationCacheEnabled": "true",
    "AllowOfflineTxForUnknownId": "false",
    "StopTransactionOnInvalidId": "true",
    "StopTransactionOnEVSideDisconnect": "true",
    "UnlockConnectorOnEVSideDisconnect": "true",
    "MaxEnergyOnInvalidId": "0",
    "NumberOfConnectors": "2",
    "GetConfigurationMaxKeys": "100",
    "SupportedFeatureProfiles": (
        "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
    ),
    "LocalAuthListEnabled": "true",
    "LocalAuthListMaxLength": "1000",
    "SendLocalListMaxLength": "250",
    "ReserveConnectorZeroSupported": "true",
    "ChargeProfileMaxStackLevel": "8",
    "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
    "ChargingScheduleMaxPeriods": "48",
    "MaxChargingProfilesInstalled": "16",
    "ConnectorSwitch3to1PhaseSupported": "true",
    "SecurityProfile": "0",
    "CpoName": "",
}

KEY_A = "0123456789abcdef0123456789abcdef01234567"  # 20 bytes in hex


def raw_registry() -> dict[str, Any]:
    """The packaged TOML document, for tests that break it on purpose."""
    text = resources.files("chargebox.core").joinpath("data", "config_keys.toml").read_text()
    return tomllib.loads(text)


@pytest.fixture
def config() -> Configuration:
    return Configuration()


# ------------------------------------------------------------------------------ registry


@pytest.mark.parametrize("name", sorted(OCPP_KEYS))
def test_every_ocpp_key_present_with_type_access_required(name: str) -> None:
    key = load_registry()[name]
    key_type, access, required = OCPP_KEYS[name]
    assert (key.type, key.access, key.required) == (key_type, Access(access), required)
    assert key.readonly == (access == "R")
    assert key.source.startswith("OCPP 1.6 §9.")


@pytest.mark.parametrize("name", sorted(SECURITY_KEYS))
def test_security_keys_present(name: str) -> None:
    key = load_registry()[name]
    assert (key.type, key.access) == (SECURITY_KEYS[name][0], Access(SECURITY_KEYS[name][1]))
    assert key.profile == "Security"


def test_vendor_keys_are_modest_and_marked() -> None:
    registry = load_registry()
    vendor = [k for k in registry.values() if k.profile == "Vendor"]
    assert 10 <= len(vendor) <= 20
    assert all("seed-" in k.source for k in vendor)
    standard = set(OCPP_KEYS) | set(SECURITY_KEYS)
    assert {k.name for k in registry.values() if k.profile != "Vendor"} == standard


@pytest.mark.parametrize("name,value", sorted(DEFAULTS.items()))
def test_documented_defaults(name: str, value: str) -> None:
    assert load_registry()[name].default == value


def test_defaults_are_valid_and_canonical(config: Configuration) -> None:
    for key in load_registry().values():
        if key.secret:
            continue  # an unset secret is "", which the key's own length rule would refuse
        assert config.normalize(key.name, key.default) == key.default, key.name


def test_registry_is_cached_and_read_only() -> None:
    registry = load_registry()
    assert registry is load_registry()
    with pytest.raises(TypeError):
        registry["X"] = registry["HeartbeatInterval"]  # type: ignore[index]


def test_secret_key_is_write_only() -> None:
    key = load_registry()["AuthorizationKey"]
    assert key.secret and key.access is Access.W and not key.readonly
    assert (key.min_length, key.max_length) == (16, 40)


def test_csl_keys_name_their_max_length_key() -> None:
    registry = load_registry()
    for name in (
        "MeterValuesSampledData",
        "MeterValuesAlignedData",
        "StopTxnSampledData",
        "StopTxnAlignedData",
        "ConnectorPhaseRotation",
        "SupportedFeatureProfiles",
    ):
        assert registry[name].max_items_key == f"{name}MaxLength"


# ------------------------------------------------------------------- registry validator

MINI: dict[str, Any] = {
    "vocabulary": {"phases": ["L1", "L2", "L3"]},
    "keys": {
        "Interval": {
            "type": "integer",
            "default": "10",
            "access": "RW",
            "profile": "Core",
            "min": 0,
            "max": 100,
            "source": "test",
            "description": "test",
        },
        "ListMaxLength": {
            "type": "integer",
            "default": "2",
            "access": "R",
            "profile": "Core",
            "source": "test",
            "description": "test",
        },
        "List": {
            "type": "CSL",
            "default": "A",
            "access": "RW",
            "profile": "Core",
            "allowed": ["A", "B", "C"],
            "max_items_key": "ListMaxLength",
            "source": "test",
            "description": "test",
        },
    },
}


def mini(**changes: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(MINI)
    for name, fields in changes.items():
        data["keys"].setdefault(name, {}).update(fields)
    return data


def test_parse_registry_accepts_a_small_table() -> None:
    registry = parse_registry(mini())
    assert list(registry) == ["Interval", "ListMaxLength", "List"]
    assert registry["List"].allowed == ("A", "B", "C")
    assert isinstance(registry["Interval"], ConfigKey)


@pytest.mark.parametrize(
    "changes,fragment",
    [
        ({"Interval": {"colour": "red"}}, "unknown field"),
        ({"Interval": {"type": "float"}}, "type"),
        ({"Interval": {"access": "X"}}, "access"),
        ({"Interval": {"profile": "Fun"}}, "profile"),
        ({"Interval": {"default": "abc"}}, "invalid default"),
        ({"Interval": {"default": "500"}}, "invalid default"),
        ({"Interval": {"default": "010"}}, "not canonical"),
        ({"Interval": {"min": "0"}}, "wrong type"),
        ({"Interval": {"min": 50, "max": 10}}, "exceeds"),
        ({"Interval": {"allowed": []}}, "allowed"),
        ({"Interval": {"max_items_key": "ListMaxLength"}}, "does not apply"),
        ({"List": {"default": "A,B,C"}}, "invalid default"),
        ({"List": {"default": "D"}}, "invalid default"),
        ({"List": {"max_items_key": "Nope"}}, "not an integer key"),
        ({"List": {"max_items_key": "List"}}, "not an integer key"),
        (
            {
                "interval": {
                    "type": "boolean",
                    "default": "true",
                    "access": "RW",
                    "profile": "Core",
                    "source": "t",
                    "description": "t",
                }
            },
            "ignore case",
        ),
        (
            {
                "Secret": {
                    "type": "string",
                    "default": "",
                    "access": "RW",
                    "profile": "Security",
                    "secret": True,
                    "source": "t",
                    "description": "t",
                }
            },
            "write-only",
        ),
    ],
)
def test_parse_registry_rejects_malformed_tables(
    changes: dict[str, dict[str, Any]], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment) as info:
        parse_registry(mini(**changes))
    assert next(iter(changes)) in str(info.value)  # the message names the key


def test_parse_registry_rejects_missing_field() -> None:
    data = mini()
    del data["keys"]["Interval"]["access"]
    with pytest.raises(ConfigValueError, match="Interval: missing field"):
        parse_registry(data)


def test_parse_registry_rejects_unknown_top_level_table() -> None:
    with pytest.raises(ValueError, match="extras"):
        parse_registry({**mini(), "extras": {}})


def test_packaged_registry_broken_default_is_caught() -> None:
    data = raw_registry()
    data["keys"]["HeartbeatInterval"]["default"] = "-5"
    with pytest.raises(ConfigValueError, match="HeartbeatInterval"):
        parse_registry(data)


# --------------------------------------------------------------------- typed getters


def test_typed_getters(config: Configuration) -> None:
    assert config.get_int("HeartbeatInterval") == 1800
    assert config.get_bool("LocalAuthorizeOffline") is True
    assert config.get_csl("MeterValuesSampledData") == ["Energy.Active.Import.Register"]
    assert config.get_csl("StopTxnSampledData") == []
    assert config.get("heartbeatinterval") == "1800"  # CiString: case-insensitive
    with pytest.raises(TypeError):
        config.get_int("LocalAuthorizeOffline")
    with pytest.raises(KeyError):
        config.get("NoSuchKey")


# -------------------------------------------------------------------- normalisation


@pytest.mark.parametrize("raw,expected", [("TRUE", "true"), ("False", "false"), (" true ", "true")])
def test_booleans_normalised(config: Configuration, raw: str, expected: str) -> None:
    assert config.normalize("LocalPreAuthorize", raw) == expected
    assert config.change("LocalPreAuthorize", raw) is ChangeStatus.ACCEPTED
    assert config.get("LocalPreAuthorize") == expected


@pytest.mark.parametrize("raw", ["yes", "1", "", "truee"])
def test_bad_booleans_rejected(config: Configuration, raw: str) -> None:
    with pytest.raises(ConfigValueError, match="LocalPreAuthorize"):
        config.normalize("LocalPreAuthorize", raw)


@pytest.mark.parametrize("raw,expected", [("0060", "60"), ("+60", "60"), (" 60 ", "60")])
def test_integers_canonical(config: Configuration, raw: str, expected: str) -> None:
    assert config.normalize("HeartbeatInterval", raw) == expected


def test_csl_trimmed(config: Configuration) -> None:
    value = " Voltage.L1 , Current.Import,Energy.Active.Import.Register "
    assert config.normalize("MeterValuesSampledData", value) == (
        "Voltage.L1,Current.Import,Energy.Active.Import.Register"
    )


def test_normalize_unknown_key(config: Configuration) -> None:
    with pytest.raises(KeyError):
        config.normalize("NoSuchKey", "1")


def test_error_message_names_key_and_problem(config: Configuration) -> None:
    with pytest.raises(ConfigValueError) as info:
        config.normalize("HeartbeatInterval", "abc")
    assert info.value.key == "HeartbeatInterval"
    assert "HeartbeatInterval" in str(info.value) and "integer" in str(info.value)


# ----------------------------------------------------------------- ChangeConfiguration


def test_change_accepted_and_stored(config: Configuration) -> None:
    assert config.change("HeartbeatInterval", "60") is ChangeStatus.ACCEPTED
    assert config.get_int("HeartbeatInterval") == 60


def test_change_key_name_ignores_case(config: Configuration) -> None:
    assert config.change("heartBEATinterval", "90") is ChangeStatus.ACCEPTED
    assert config.get("HeartbeatInterval") == "90"


def test_change_read_only_rejected(config: Configuration) -> None:
    assert config.change("NumberOfConnectors", "4") is ChangeStatus.REJECTED
    assert config.change("GetConfigurationMaxKeys", "10") is ChangeStatus.REJECTED
    assert config.get("NumberOfConnectors") == "2"


@pytest.mark.parametrize(
    "name,value",
    [
        ("HeartbeatInterval", "abc"),
        ("HeartbeatInterval", "-1"),
        ("WebSocketPingInterval", "-5"),
        ("MeterValueSampleInterval", "1.5"),
        ("ConnectionTimeOut", "0"),
        ("LightIntensity", "101"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus"),
        ("MeterValuesSampledData", "Voltage.L4"),
        ("MeterValuesSampledData", "Voltage,,Current.Import"),
        ("MeterValuesSampledData", "Voltage,Voltage"),
        ("ConnectorPhaseRotation", "1.XYZ"),
        ("ConnectorPhaseRotation", "RST"),
        ("ConnectorPhaseRotation", "3.RST"),  # only 2 connectors
        ("ConnectorPhaseRotation", "1.RST,1.RTS"),
        ("LocalPreAuthorize", "maybe"),
        ("AuthorizationKey", "tooshort"),
        ("AuthorizationKey", "x" * 41),
        ("AuthorizationKey", ""),
        ("ChargingStrategy", "RANDOM"),
    ],
)
def test_change_invalid_value_rejected(config: Configuration, name: str, value: str) -> None:
    before = config.snapshot()
    assert config.change(name, value) is ChangeStatus.REJECTED
    assert config.snapshot() == before


def test_phase_suffixed_measurands_accepted(config: Configuration) -> None:
    value = "Voltage.L1,Voltage.L1-N,Current.Import.L3,Power.Active.Import,SoC"
    assert config.change("MeterValuesSampledData", value) is ChangeStatus.ACCEPTED
    assert config.get_csl("MeterValuesSampledData")[1] == "Voltage.L1-N"


def test_phase_rotation(config: Configuration) -> None:
    assert config.change("ConnectorPhaseRotation", "0.RST, 1.RST, 2.STR") is ChangeStatus.ACCEPTED
    assert config.get("ConnectorPhaseRotation") == "0.RST,1.RST,2.STR"
    assert config.change("ConnectorPhaseRotation", "1.NotApplicable") is ChangeStatus.ACCEPTED


def test_change_reboot_required(config: Configuration) -> None:
    assert load_registry()["MaxCurrentConnection"].reboot_required
    assert config.change("MaxCurrentConnection", "16") is ChangeStatus.REBOOT_REQUIRED
    assert config.get_int("MaxCurrentConnection") == 16


def test_change_unknown_key_not_supported(config: Configuration) -> None:
    assert config.change("NoSuchKey", "1") is ChangeStatus.NOT_SUPPORTED


def test_change_empty_csl_allowed(config: Configuration) -> None:
    assert config.change("MeterValuesSampledData", "") is ChangeStatus.ACCEPTED
    assert config.get_csl("MeterValuesSampledData") == []


def test_csl_max_items_from_max_length_key(config: Configuration) -> None:
    measurands = [
        "Current.Import",
        "Current.Offered",
        "Voltage",
        "Power.Active.Import",
        "Power.Offered",
        "Energy.Active.Import.Register",
        "Frequency",
        "SoC",
        "Temperature",
        "Power.Factor",
        "RPM",
    ]
    limit = config.get_int("MeterValuesSampledDataMaxLength")
    assert limit == 10
    assert config.change("MeterValuesSampledData", ",".join(measurands[:limit])) is (
        ChangeStatus.ACCEPTED
    )
    assert config.change("MeterValuesSampledData", ",".join(measurands)) is ChangeStatus.REJECTED
    config.set_internal("MeterValuesSampledDataMaxLength", "11")
    assert config.change("MeterValuesSampledData", ",".join(measurands)) is ChangeStatus.ACCEPTED


def test_security_profile_only_increases(config: Configuration) -> None:
    assert config.change("SecurityProfile", "2") is ChangeStatus.ACCEPTED
    assert config.change("SecurityProfile", "1") is ChangeStatus.REJECTED
    assert config.change("SecurityProfile", "0") is ChangeStatus.REJECTED
    assert config.change("SecurityProfile", "2") is ChangeStatus.ACCEPTED
    assert config.change("SecurityProfile", "4") is ChangeStatus.REJECTED
    assert config.change("SecurityProfile", "3") is ChangeStatus.ACCEPTED
    assert config.get_int("SecurityProfile") == 3


def test_on_change_called_with_normalised_value() -> None:
    seen: list[tuple[str, str]] = []
    config = Configuration(on_change=lambda name, value: seen.append((name, value)))
    config.change("localpreauthorize", "TRUE")
    config.change("HeartbeatInterval", "abc")  # rejected: no callback
    config.change("HeartbeatInterval", "1800")  # unchanged: no callback
    config.set_internal("NumberOfConnectors", "4")
    assert seen == [("LocalPreAuthorize", "true"), ("NumberOfConnectors", "4")]


def test_set_internal_bypasses_access_but_validates(config: Configuration) -> None:
    config.set_internal("NumberOfConnectors", "4")
    assert config.get_int("NumberOfConnectors") == 4
    assert config.change("ConnectorPhaseRotation", "3.RST,4.RTS") is ChangeStatus.ACCEPTED
    with pytest.raises(ConfigValueError, match="NumberOfConnectors"):
        config.set_internal("NumberOfConnectors", "zero")
    with pytest.raises(KeyError):
        config.set_internal("NoSuchKey", "1")


# ------------------------------------------------------------------- GetConfiguration


def test_get_configuration_all_keys(config: Configuration) -> None:
    config.change("AuthorizationKey", KEY_A)
    found, unknown = config.get_configuration(None)
    assert unknown == []
    assert [kv.key for kv in found] == list(load_registry())
    assert config.get_configuration([]) == (found, [])
    by_key = {kv.key: kv for kv in found}
    assert by_key["HeartbeatInterval"] == KeyValue("HeartbeatInterval", False, "1800")
    assert by_key["NumberOfConnectors"].readonly is True
    assert by_key["AuthorizationKey"].value is None
    assert all(KEY_A not in str(kv.to_ocpp()) for kv in found)


def test_get_configuration_selected_and_unknown(config: Configuration) -> None:
    found, unknown = config.get_configuration(
        ["HeartbeatInterval", "Nope", "numberofconnectors", "HeartbeatInterval", "Nope"]
    )
    assert found == [
        KeyValue("HeartbeatInterval", False, "1800"),
        KeyValue("NumberOfConnectors", True, "2"),
    ]
    assert unknown == ["Nope"]


def test_secret_never_revealed(config: Configuration) -> None:
    assert config.change("AuthorizationKey", KEY_A) is ChangeStatus.ACCEPTED
    found, _ = config.get_configuration(["AuthorizationKey"])
    assert found == [KeyValue("AuthorizationKey", False, None)]
    assert found[0].to_ocpp() == {"key": "AuthorizationKey", "readonly": False}
    assert config.get("AuthorizationKey") == KEY_A  # the station itself can read it
    assert config.snapshot()["AuthorizationKey"] == KEY_A


def test_key_value_to_ocpp() -> None:
    assert KeyValue("A", True, "1").to_ocpp() == {"key": "A", "readonly": True, "value": "1"}


# ----------------------------------------------------------------- layered overrides


def test_overrides_applied_and_strict() -> None:
    config = Configuration(overrides={"HeartbeatInterval": "120", "NumberOfConnectors": "3"})
    assert config.get_int("HeartbeatInterval") == 120
    assert config.get_int("NumberOfConnectors") == 3
    with pytest.raises(ConfigValueError, match="HeartbeatInterval"):
        Configuration(overrides={"HeartbeatInterval": "abc"})
    with pytest.raises(ConfigValueError, match="Bogus"):
        Configuration(overrides={"Bogus": "1"})


def test_overrides_set_max_length_before_the_list() -> None:
    many = "Voltage.L1,Voltage.L2,Voltage.L3,Current.Import.L1,Current.Import.L2,Current.Import.L3"
    config = Configuration(
        overrides={"MeterValuesSampledData": many, "MeterValuesSampledDataMaxLength": "6"}
    )
    assert len(config.get_csl("MeterValuesSampledData")) == 6


def test_load_layers_later_wins_and_skips_corrupt_values() -> None:
    station = {"HeartbeatInterval": "600", "NumberOfConnectors": "4"}
    stored = {
        "HeartbeatInterval": "garbage",
        "MeterValueSampleInterval": "15",
        "ConnectorPhaseRotation": "4.RST",
        "RemovedKey": "1",
    }
    config, skipped = Configuration.load(station, stored)
    assert sorted(skipped) == ["HeartbeatInterval", "RemovedKey"]
    assert config.get_int("HeartbeatInterval") == 600  # station layer kept
    assert config.get_int("MeterValueSampleInterval") == 15
    assert config.get("ConnectorPhaseRotation") == "4.RST"


def test_load_strict_raises() -> None:
    with pytest.raises(ConfigValueError):
        Configuration.load({"HeartbeatInterval": "garbage"}, strict=True)


def test_load_does_not_report_restored_values() -> None:
    seen: list[tuple[str, str]] = []
    config, _ = Configuration.load(
        {"HeartbeatInterval": "60"}, on_change=lambda n, v: seen.append((n, v))
    )
    assert seen == []
    config.change("HeartbeatInterval", "61")
    assert seen == [("HeartbeatInterval", "61")]


def test_restoring_a_lower_security_profile_is_allowed() -> None:
    # only_increase guards ChangeConfiguration, not the station restoring its own state
    config, skipped = Configuration.load({"SecurityProfile": "1"})
    assert skipped == [] and config.get_int("SecurityProfile") == 1


def test_custom_registry() -> None:
    config = Configuration(parse_registry(MINI))
    assert config.change("List", "A,B") is ChangeStatus.ACCEPTED
    assert config.change("List", "A,B,C") is ChangeStatus.REJECTED
    assert "HeartbeatInterval" not in config
