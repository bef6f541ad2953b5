"""Turning a meter reading into OCPP sampled values, as configured by the measurand keys."""

from __future__ import annotations

from collections.abc import Iterable

from chargebox.core.events import SampledValue
from chargebox.core.types import Measurement

_PHASES = ("L1", "L2", "L3")
_VOLTAGE_PHASES = ("L1-N", "L2-N", "L3-N")

# measurand -> (unit, location); the value is read by _value() below.
MEASURANDS: dict[str, tuple[str | None, str | None]] = {
    "Energy.Active.Import.Register": ("Wh", "Outlet"),
    "Power.Active.Import": ("W", "Outlet"),
    "Current.Import": ("A", "Outlet"),
    "Current.Offered": ("A", "Outlet"),
    "Voltage": ("V", "Outlet"),
    "SoC": ("Percent", "EV"),
    "Temperature": ("Celsius", "Body"),
    "Frequency": (None, "Outlet"),
}


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _phase_value(m: Measurement, measurand: str, index: int) -> float:
    if measurand == "Current.Import":
        return m.current_a[index]
    if measurand == "Voltage":
        return m.voltage_v[index]
    if measurand == "Power.Active.Import":
        return m.voltage_v[index] * m.current_a[index]
    raise KeyError(measurand)


def _scalar(m: Measurement, measurand: str) -> float | None:
    return {
        "Energy.Active.Import.Register": m.energy_wh,
        "Power.Active.Import": m.power_w,
        "Current.Offered": m.offered_a,
        "SoC": m.soc_percent,
        "Temperature": m.temperature_c,
        "Frequency": m.frequency_hz,
    }.get(measurand)


def split_measurand(item: str) -> tuple[str, str | None]:
    """'Current.Import.L1' -> ('Current.Import', 'L1'); phases as in OCPP's Phase enum."""
    for phase in ("L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1", "L1", "L2", "L3", "N"):
        if item.endswith("." + phase):
            return item[: -len(phase) - 1], phase
    return item, None


def sample(m: Measurement, measurands: Iterable[str], context: str) -> tuple[SampledValue, ...]:
    """Sampled values for the configured measurands; unknown ones are skipped."""
    out: list[SampledValue] = []
    for item in measurands:
        measurand, phase = split_measurand(item.strip())
        if measurand not in MEASURANDS:
            continue
        unit, location = MEASURANDS[measurand]
        decimals = 0 if measurand == "Energy.Active.Import.Register" else 1
        if phase is None and measurand in ("Current.Import", "Voltage"):
            names = _VOLTAGE_PHASES if measurand == "Voltage" else _PHASES
            for i, name in enumerate(names):
                out.append(
                    SampledValue(
                        _fmt(_phase_value(m, measurand, i), decimals),
                        measurand,
                        unit,
                        name,
                        context,
                        location,
                    )
                )
            continue
        if (
            phase is not None
            and phase[:2] in _PHASES
            and measurand in ("Current.Import", "Voltage", "Power.Active.Import")
        ):
            index = _PHASES.index(phase[:2])
            value: float | None = _phase_value(m, measurand, index)
        else:
            value = _scalar(m, measurand)
        if value is None:
            continue
        out.append(SampledValue(_fmt(value, decimals), measurand, unit, phase, context, location))
    return tuple(out)


def next_aligned(now: float, interval: int) -> float:
    """The next clock-aligned boundary after `now`: intervals counted from midnight UTC."""
    return (int(now) // interval + 1) * interval
