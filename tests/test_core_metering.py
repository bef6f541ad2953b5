"""Meter readings as OCPP sampled values: measurands, phases, units, and aligned intervals."""

from __future__ import annotations

import pytest

from chargebox.core.events import SampledValue
from chargebox.core.metering import MEASURANDS, next_aligned, sample, split_measurand
from chargebox.core.types import Measurement

M = Measurement(
    energy_wh=12345.678,
    power_w=7360.0,
    voltage_v=(229.0, 231.5, 230.04),
    current_a=(16.0, 10.26, 0.0),
    soc_percent=55.55,
    temperature_c=31.25,
    offered_a=16.0,
    frequency_hz=49.98,
)


def one(item: str, m: Measurement = M, context: str = "Sample.Periodic") -> list[SampledValue]:
    return list(sample(m, [item], context))


@pytest.mark.parametrize(
    ("item", "value", "unit", "location"),
    [
        ("Energy.Active.Import.Register", "12346", "Wh", "Outlet"),
        ("Power.Active.Import", "7360.0", "W", "Outlet"),
        ("Current.Offered", "16.0", "A", "Outlet"),
        ("SoC", "55.5", "Percent", "EV"),  # 55.55 rounds half to even in binary: 55.5
        ("Temperature", "31.2", "Celsius", "Body"),
        ("Frequency", "50.0", None, "Outlet"),
    ],
)
def test_scalar_measurands(item: str, value: str, unit: str | None, location: str) -> None:
    m = M if item != "Frequency" else Measurement(0, 0, frequency_hz=49.98)
    assert one(item, m, "Sample.Clock") == [
        SampledValue(value, item, unit, None, "Sample.Clock", location)
    ]


def test_current_import_without_phase_lists_each_phase() -> None:
    assert one("Current.Import") == [
        SampledValue("16.0", "Current.Import", "A", "L1", "Sample.Periodic", "Outlet"),
        SampledValue("10.3", "Current.Import", "A", "L2", "Sample.Periodic", "Outlet"),
        SampledValue("0.0", "Current.Import", "A", "L3", "Sample.Periodic", "Outlet"),
    ]


def test_voltage_without_phase_lists_line_to_neutral() -> None:
    values = one("Voltage")
    assert [(v.value, v.phase, v.unit) for v in values] == [
        ("229.0", "L1-N", "V"),
        ("231.5", "L2-N", "V"),
        ("230.0", "L3-N", "V"),
    ]


@pytest.mark.parametrize(
    ("item", "measurand", "phase", "value", "unit"),
    [
        ("Current.Import.L1", "Current.Import", "L1", "16.0", "A"),
        ("Current.Import.L2", "Current.Import", "L2", "10.3", "A"),
        ("Current.Import.L3", "Current.Import", "L3", "0.0", "A"),
        ("Voltage.L2", "Voltage", "L2", "231.5", "V"),
        ("Voltage.L3-N", "Voltage", "L3-N", "230.0", "V"),
        ("Power.Active.Import.L1", "Power.Active.Import", "L1", "3664.0", "W"),
        ("Power.Active.Import.L2", "Power.Active.Import", "L2", "2375.2", "W"),
        ("Power.Active.Import.L3", "Power.Active.Import", "L3", "0.0", "W"),
    ],
)
def test_phase_suffix(item: str, measurand: str, phase: str, value: str, unit: str) -> None:
    assert one(item, context="Transaction.End") == [
        SampledValue(value, measurand, unit, phase, "Transaction.End", "Outlet")
    ]


def test_phase_suffix_on_a_scalar_measurand_reports_the_scalar_with_phase() -> None:
    [v] = one("Energy.Active.Import.Register.L1")
    assert (v.measurand, v.phase, v.value) == ("Energy.Active.Import.Register", "L1", "12346")


def test_unknown_and_missing_values_are_skipped_and_order_is_kept() -> None:
    m = Measurement(100.0, 0.0)  # no SoC, no temperature
    values = sample(
        m,
        [" SoC", "Energy.Reactive.Import.Register", "Temperature", "Power.Active.Import", "Bogus"],
        "Trigger",
    )
    assert [(v.measurand, v.value) for v in values] == [("Power.Active.Import", "0.0")]
    assert sample(M, [], "Trigger") == ()


def test_every_known_measurand_produces_a_value() -> None:
    for measurand in MEASURANDS:
        assert sample(M, [measurand], "Sample.Periodic"), measurand


def test_sample_keeps_configuration_order() -> None:
    values = sample(M, ["SoC", "Energy.Active.Import.Register", "Voltage.L1"], "Trigger")
    assert [v.measurand for v in values] == ["SoC", "Energy.Active.Import.Register", "Voltage"]


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("Current.Import.L1", ("Current.Import", "L1")),
        ("Current.Import.L3", ("Current.Import", "L3")),
        ("Voltage.L1-N", ("Voltage", "L1-N")),
        ("Voltage.L2-L3", ("Voltage", "L2-L3")),
        ("Voltage.L3-L1", ("Voltage", "L3-L1")),
        ("Current.Import.N", ("Current.Import", "N")),
        ("Power.Active.Import", ("Power.Active.Import", None)),
        ("Energy.Active.Import.Register", ("Energy.Active.Import.Register", None)),
        ("SoC", ("SoC", None)),
        ("Current.ImportL1", ("Current.ImportL1", None)),
    ],
)
def test_split_measurand(item: str, expected: tuple[str, str | None]) -> None:
    assert split_measurand(item) == expected


MIDNIGHT = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("now", "interval", "expected"),
    [
        (MIDNIGHT, 900, MIDNIGHT + 900),  # on a boundary: the next one, never now
        (MIDNIGHT + 0.5, 900, MIDNIGHT + 900),
        (MIDNIGHT + 899.9, 900, MIDNIGHT + 900),
        (MIDNIGHT + 900, 900, MIDNIGHT + 1800),
        (MIDNIGHT + 3 * 3600 + 7, 3600, MIDNIGHT + 4 * 3600),
        (MIDNIGHT + 61, 60, MIDNIGHT + 120),
        (MIDNIGHT - 1, 86400, MIDNIGHT),
    ],
)
def test_next_aligned(now: float, interval: int, expected: float) -> None:
    assert next_aligned(now, interval) == expected
    assert next_aligned(now, interval) > now
