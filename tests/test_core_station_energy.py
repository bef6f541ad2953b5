"""Meter values, the simulated car's physics, energy integration and current sharing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chargebox.core.events import MeterSample, TransactionStarted
from chargebox.core.limits import Claim, LimitSource
from chargebox.core.types import ChargePointStatus
from tests.test_core_rig import Rig

S = ChargePointStatus
MEASURANDS = "Energy.Active.Import.Register,Current.Import,Voltage,Power.Active.Import.L1,SoC"


def samples(rig: Rig, context: str, cid: int | None = None) -> list[MeterSample]:
    return [
        e
        for e in rig.of(MeterSample)
        if e.context == context and (cid is None or e.connector_id == cid)
    ]


def amps(rig: Rig, cid: int = 1) -> float:
    return rig.sim.connectors[cid].read().current_a[0]  # type: ignore[union-attr]


# ---------------------------------------------------------------------- metering


def test_sampled_meter_values_every_interval_with_configured_measurands() -> None:
    rig = Rig(1, config={"MeterValueSampleInterval": "10", "MeterValuesSampledData": MEASURANDS})
    rig.plug()
    [start] = rig.of(TransactionStarted)
    rig.run(35)
    periodic = samples(rig, "Sample.Periodic")
    assert [s.timestamp - start.timestamp for s in periodic] == [10, 20, 30]
    assert all(s.transaction_local_id == start.local_id for s in periodic)
    values = periodic[-1].values
    assert [(v.measurand, v.phase) for v in values] == [
        ("Energy.Active.Import.Register", None),
        ("Current.Import", "L1"),
        ("Current.Import", "L2"),
        ("Current.Import", "L3"),
        ("Voltage", "L1-N"),
        ("Voltage", "L2-N"),
        ("Voltage", "L3-N"),
        ("Power.Active.Import", "L1"),
        ("SoC", None),
    ]
    by_key = {(v.measurand, v.phase): v for v in values}
    assert by_key[("Current.Import", "L2")].value == "16.0"
    assert by_key[("Voltage", "L3-N")].value == "230.0"
    assert by_key[("Power.Active.Import", "L1")].value == "3680.0"
    assert by_key[("SoC", None)].unit == "Percent"
    assert float(by_key[("SoC", None)].value) > 30.0
    energies = [int(s.values[0].value) for s in periodic]
    assert 0 < energies[0] < energies[1] < energies[2]
    # steady 16 A on three phases: 11040 W, so about 30.7 Wh per 10 s
    assert energies[2] - energies[1] == pytest.approx(11040 / 360, abs=1.0)
    assert all(v.context == "Sample.Periodic" for v in values)


def test_no_periodic_samples_with_interval_zero_or_without_transaction() -> None:
    rig = Rig(1, config={"MeterValueSampleInterval": "0"})
    rig.plug()
    rig.run(100)
    assert samples(rig, "Sample.Periodic") == []
    rig2 = Rig(1, config={"MeterValueSampleInterval": "5"})
    rig2.run(30)
    assert samples(rig2, "Sample.Periodic") == []


def test_clock_aligned_samples_at_interval_boundaries() -> None:
    rig = Rig(2, config={"MeterValueSampleInterval": "0"})
    rig.run(17)
    assert samples(rig, "Sample.Clock") == []  # ClockAlignedDataInterval 0: none
    # switched on off-boundary; the rig starts at midnight UTC, so boundaries are whole minutes
    rig.config.change("ClockAlignedDataInterval", "60")
    rig.run(13)
    rig.plug(1)
    rig.run(150)  # up to midnight + 182 s
    aligned = samples(rig, "Sample.Clock")
    midnight = 1_767_225_600.0
    assert [(s.timestamp - midnight, s.connector_id) for s in aligned] == [
        (60, 1),
        (60, 2),
        (120, 1),
        (120, 2),
        (180, 1),
        (180, 2),
    ]
    tx_id = rig.tx(1).local_id
    assert [s.transaction_local_id for s in aligned if s.connector_id == 1] == [tx_id] * 3
    assert {s.transaction_local_id for s in aligned if s.connector_id == 2} == {None}
    assert [v.measurand for v in aligned[-1].values] == ["Energy.Active.Import.Register"]


def test_stop_txn_sampled_data_goes_into_transaction_stopped() -> None:
    rig = Rig(
        1,
        config={
            "MeterValueSampleInterval": "10",
            "MeterValuesSampledData": "Power.Active.Import",
            "StopTxnSampledData": "Energy.Active.Import.Register,Current.Import.L1",
        },
    )
    rig.plug()
    rig.run(25)
    rig.unplug()
    stop = rig.stopped()
    assert [d.context for d in stop.transaction_data] == [
        "Transaction.Begin",
        "Sample.Periodic",
        "Sample.Periodic",
        "Transaction.End",
    ]
    for d in stop.transaction_data:
        assert [(v.measurand, v.phase) for v in d.values] == [
            ("Energy.Active.Import.Register", None),
            ("Current.Import", "L1"),
        ]
        assert {v.context for v in d.values} == {d.context}
    assert stop.transaction_data[0].values[0].value == "0"
    # meterStop is truncated to whole Wh, the register value is rounded
    assert abs(int(stop.transaction_data[-1].values[0].value) - stop.meter_stop_wh) <= 1
    # the MeterValues stream itself follows MeterValuesSampledData, not StopTxnSampledData
    assert {v.measurand for s in samples(rig, "Sample.Periodic") for v in s.values} == {
        "Power.Active.Import"
    }


def test_empty_stop_txn_sampled_data_sends_no_transaction_data() -> None:
    rig = Rig(1, config={"MeterValueSampleInterval": "10"})
    rig.plug()
    rig.run(25)
    rig.unplug()
    assert rig.stopped().transaction_data == ()


# -------------------------------------------------------------------- car physics


def test_car_follows_signalled_current_after_its_response_delay() -> None:
    rig = Rig(1)
    rig.plug(response_delay_s=5.0)
    assert rig.status() is S.CHARGING and amps(rig) == 0.0
    rig.run(5)  # energy flows from the tick after the contactor closed, plus 5 s of delay
    assert amps(rig) == 0.0
    rig.run(1)
    assert amps(rig) == 16.0  # the car's own maximum, below the 32 A offered
    rig.station.set_claim(1, Claim.uniform(LimitSource.DLM, 10))
    rig.run(1)
    assert rig.sim.connectors[1].offered_a == 10
    rig.run(1)
    assert amps(rig) == 10.0  # down: at the car's next step, without delay
    rig.station.clear_claim(1, LimitSource.DLM)
    rig.run(1)
    assert rig.sim.connectors[1].offered_a == 32 and amps(rig) == 10.0
    rig.run(5)
    assert amps(rig) == 10.0  # up: only after the response delay
    rig.run(1)
    assert amps(rig) == 16.0


def test_car_tapers_above_80_percent_and_stops_full() -> None:
    rig = Rig(1)
    car = rig.plug(soc_percent=85.0, capacity_kwh=1.0, response_delay_s=0.0)
    rig.run(1)
    assert car.current_a == pytest.approx(16.0 * 15 / 20, abs=0.5)
    assert rig.status() is S.CHARGING
    rig.run(900, dt=5)
    assert car.soc_percent == 100.0
    assert rig.status() is S.SUSPENDED_EV
    assert not rig.sim.connectors[1].contactor and amps(rig) == 0.0
    assert rig.tx() is not None  # a full car does not end the transaction


@pytest.mark.parametrize("dt", [1.0, 60.0, 3600.0])
def test_energy_integrates_elapsed_time(dt: float) -> None:
    rig = Rig(1)
    rig.plug(capacity_kwh=200.0)
    rig.run(2)
    assert amps(rig) == 16.0
    before = rig.sim.connectors[1].energy_wh
    rig.run(3600, dt=dt)
    assert rig.sim.connectors[1].energy_wh - before == pytest.approx(16 * 3 * 230, abs=1.0)
    reading = rig.station.connectors[1].measurement
    assert reading is not None and reading.power_w == 11040.0


def test_journal_meter_is_persisted_while_charging() -> None:
    rig = Rig(1, persist_meter_every_s=10.0)
    rig.plug()
    rig.run(60)
    record = rig.journal.records[rig.tx().local_id]
    assert record.last_meter_wh is not None
    assert rig.sim.connectors[1].energy_wh - record.last_meter_wh < 11040 / 3600 * 11


# -------------------------------------------------------------------------- limits


def test_station_wide_claim_is_shared_between_charging_connectors() -> None:
    rig = Rig(2)
    rig.station.set_claim(0, Claim.uniform(LimitSource.LOAD_SHEDDING, 20))
    rig.plug(1)
    assert rig.sim.connectors[1].offered_a == 20
    assert rig.station.connectors[1].limit.source is LimitSource.LOAD_SHEDDING
    rig.plug(2)
    assert rig.sim.connectors[1].offered_a == 10 and rig.sim.connectors[2].offered_a == 10
    rig.station.set_claim(0, Claim.uniform(LimitSource.LOAD_SHEDDING, 10))
    rig.run(1)
    # 5 A each is below the 6 A minimum: both pause rather than signal too little
    assert rig.sim.connectors[1].offered_a == 0 and rig.sim.connectors[2].offered_a == 0
    assert rig.status(1) is S.SUSPENDED_EVSE and rig.status(2) is S.SUSPENDED_EVSE
    assert rig.station.connectors[1].limit.unpaused_a == 5.0
    rig.station.clear_claim(0, LimitSource.LOAD_SHEDDING)
    rig.run(2)
    assert rig.sim.connectors[1].offered_a == 32 and rig.status(1) is S.CHARGING


def test_decreases_are_applied_before_increases() -> None:
    rig = Rig(2)
    calls: list[tuple[int, float]] = []
    for cid, sim in rig.sim.connectors.items():
        original = sim.set_pilot_current

        def record(
            amps: float, cid: int = cid, original: Callable[[float], None] = original
        ) -> None:
            calls.append((cid, amps))
            original(amps)

        sim.set_pilot_current = record  # type: ignore[method-assign]
    rig.station.set_claim(1, Claim.uniform(LimitSource.EMS, 10))
    rig.station.set_claim(2, Claim.uniform(LimitSource.EMS, 20))
    rig.plug(1)
    rig.plug(2)
    assert (rig.sim.connectors[1].offered_a, rig.sim.connectors[2].offered_a) == (10, 20)
    calls.clear()
    rig.station.set_claim(1, Claim.uniform(LimitSource.EMS, 20))
    rig.station.set_claim(2, Claim.uniform(LimitSource.EMS, 10))
    rig.run(1)
    assert calls == [(2, 10.0), (1, 20.0)]
    calls.clear()
    rig.station.clear_claim(1, LimitSource.EMS)  # a claim drops: 1 goes up, 2 stays
    rig.station.set_claim(0, Claim.uniform(LimitSource.DLM, 16))  # 8 A each: both down
    rig.run(1)
    assert calls == [(1, 8.0), (2, 8.0)]
    calls.clear()
    rig.station.clear_claim(0, LimitSource.DLM)
    rig.station.set_claim(1, Claim.uniform(LimitSource.EMS, 6))
    rig.run(1)
    assert calls == [(1, 6.0), (2, 10.0)]
