"""Grid meters over Modbus TCP: every register map against the real simulated server."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from chargebox import settings as station_file
from chargebox.energy.meters.modbus_meter import ModbusGridMeter
from chargebox.energy.meters.registermap import (
    MapError,
    available_maps,
    decode,
    load_map,
    parse_map,
    read_values,
    to_grid_reading,
)
from chargebox.energy.meters.sim_server import (
    ConstantProfile,
    CsvProfile,
    HouseProfile,
    SimMeterServer,
    encode_image,
    house_currents,
    parse_profile,
)

MAPS = available_maps()


def test_every_meter_the_manuals_name_has_a_map() -> None:
    assert {
        "siemens_pac2200",
        "janitza_umg96pro",
        "janitza_umg512pro",
        "janitza_umg605pro",
        "phoenix_eem_mb371",
        "tq_em300lr",
        "tq_em410_em420",
        "eastron_sdm630",
        "sunspec_203",
    } <= set(MAPS)


@pytest.mark.parametrize("name", MAPS)
async def test_client_reads_back_what_the_simulated_meter_serves(name: str) -> None:
    regmap = load_map(name)
    async with SimMeterServer(regmap, ConstantProfile(10.0, -8.0, 12.5), port=0) as server:
        meter = ModbusGridMeter(regmap, "127.0.0.1", server.port, poll_s=0.1)
        reading = await meter.poll()
        await meter.close()
    assert reading is not None, meter.last_error
    got = reading.currents_a.as_tuple()
    # With current_sign = total_power every current takes the total's sign (importing).
    expected = (10.0, 8.0 if regmap.current_sign == "total_power" else -8.0, 12.5)
    assert got == pytest.approx(expected, abs=0.011)
    assert reading.power_w == pytest.approx(230.0 * (10.0 - 8.0 + 12.5), rel=0.01)
    assert server.reads >= 1


@pytest.mark.parametrize("name", MAPS)
def test_export_reads_negative_on_every_map(name: str) -> None:
    regmap = load_map(name)
    image = encode_image(regmap, (-5.0, -6.0, -7.25))
    reading = to_grid_reading(regmap, read_values(regmap, image), 0.0)
    assert reading.currents_a.as_tuple() == pytest.approx((-5.0, -6.0, -7.25), abs=0.011)
    assert reading.power_w < 0


def synthetic(word_order: str) -> dict[str, object]:
    """Every data type once, in one word order."""
    return {
        "function": "input",
        "word_order": word_order,
        "current_sign": "signed",
        "power_sign": "export_positive",
        "max_gap": 0,
        "registers": {
            "current_l1": {"address": 100, "type": "float32"},
            "current_l2": {"address": 102, "type": "int32", "scale": 0.001},
            "current_l3": {"address": 104, "type": "int16", "scale_factor": "sf"},
            "sf": {"address": 105, "type": "int16"},
            "voltage_l1": {"address": 110, "type": "uint32", "scale": 0.1},
            "voltage_l2": {"address": 112, "type": "uint16", "scale": 0.1},
            "voltage_l3": {"address": 113, "type": "float64"},
            "power_l1": {"address": 120, "type": "int64"},
            "power_l2_import": {"address": 124, "type": "uint64", "scale": 0.1},
            "power_l2_export": {"address": 128, "type": "uint32", "scale": 0.1},
            "power_l3": {"address": 130, "type": "float32"},
        },
    }


@pytest.mark.parametrize("word_order", ["big", "little"])
async def test_round_trip_of_every_data_type_and_word_order(word_order: str) -> None:
    regmap = parse_map(f"synthetic_{word_order}", synthetic(word_order))
    async with SimMeterServer(
        regmap, ConstantProfile(-3.5, 17.25, -21.0), port=0, voltages=(229.5, 231.0, 230.25)
    ) as server:
        meter = ModbusGridMeter(regmap, "127.0.0.1", server.port)
        assert [a for a, _ in regmap.blocks()] == [100, 110, 120]  # contiguous runs only
        reading = await meter.read_once()
        await meter.close()
        image = encode_image(regmap, (-3.5, 17.25, -21.0), (229.5, 231.0, 230.25))
    values = read_values(regmap, image).values
    assert values["voltage_l1"] == pytest.approx(229.5)
    assert values["voltage_l2"] == pytest.approx(231.0)
    assert values["voltage_l3"] == 230.25
    assert reading.currents_a.as_tuple() == pytest.approx((-3.5, 17.25, -21.0), abs=0.01)
    assert reading.power_w == pytest.approx(-3.5 * 229.5 + 17.25 * 231.0 - 21.0 * 230.25, abs=1)


def test_decoder_against_hand_made_words() -> None:
    assert decode([0x4120, 0x0000], "float32") == 10.0
    assert decode([0x0000, 0x4120], "float32", "little") == 10.0
    assert decode([0xFFFF, 0xFFFE], "int32") == -2
    assert decode([0xFFFE, 0xFFFF], "int32", "little") == -2
    assert decode([0x0001, 0x0000], "uint32") == 65536
    assert decode([0x8000], "int16") == -32768
    assert decode([0xFFFF], "uint16") == 65535
    assert math.isnan(float(decode([0x7FC0, 0x0000], "float32")))
    with pytest.raises(ValueError):
        decode([1], "float32")


def test_sunspec_not_implemented_points_are_missing() -> None:
    regmap = load_map("sunspec_203")
    image = encode_image(regmap, (1.0, 2.0, 3.0))
    image[40088] = 0x8000  # total W not implemented: summed from the phases instead
    values = read_values(regmap, image).values
    assert "power_total" not in values
    reading = to_grid_reading(regmap, read_values(regmap, image), 0.0)
    assert reading.power_w == pytest.approx(230.0 * 6, abs=1)


def test_map_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(MapError, match="unknown; known maps"):
        load_map("no_such_meter")
    with pytest.raises(MapError, match="registers.current_l3 is required"):
        parse_map("x", {"registers": {"current_l1": {"address": 1}, "current_l2": {"address": 3}}})
    bad = tmp_path / "bad.toml"
    currents = "".join(f"current_l{n} = {{ address = {n * 2} }}\n" for n in (1, 2, 3))
    bad.write_text(f'word_order = "middle"\n[registers]\n{currents}')
    with pytest.raises(MapError, match="word_order"):
        load_map(bad)
    with pytest.raises(station_file.SettingsError, match="meters.0.map"):
        station_file.parse({"meters": [{"map": "nope"}]})
    with pytest.raises(station_file.SettingsError, match="pv.mode"):
        station_file.parse({"pv": {"mode": "pv"}})


async def test_failures_are_reported_and_recovery_too() -> None:
    regmap = load_map("siemens_pac2200")
    events: list[tuple[str, bool, str | None]] = []
    server = SimMeterServer(regmap, ConstantProfile(5, 5, 5), port=0)
    port = await server.start()
    meter = ModbusGridMeter(
        regmap,
        "127.0.0.1",
        port,
        timeout_s=0.3,
        fail_after=2,
        on_status=lambda *e: events.append(e),
    )
    first = await meter.poll()
    assert first is not None
    server.failing = True  # Modbus exception 4 on every read
    assert await meter.poll() is None
    assert events == []  # one failure is not yet a failed meter
    assert await meter.poll() is None
    assert events and events[0][:2] == ("grid", False) and "exception" in str(events[0][2])
    assert meter.latest() is first  # the last good reading keeps its (old) timestamp
    await server.stop()
    assert await meter.poll() is None  # connection refused now
    server = SimMeterServer(regmap, ConstantProfile(7, 7, 7), port=port)
    await server.start()
    again = await meter.poll()
    assert again is not None and again.currents_a.l1 == pytest.approx(7.0)
    assert events[-1] == ("grid", True, None)
    await meter.close()
    await server.stop()


async def test_run_polls_at_the_interval() -> None:
    regmap = load_map("eastron_sdm630")
    async with SimMeterServer(regmap, ConstantProfile(1, 2, 3), port=0) as server:
        meter = ModbusGridMeter(regmap, "127.0.0.1", server.port, poll_s=0.05)
        task = asyncio.ensure_future(meter.run())
        await asyncio.sleep(0.4)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert 4 <= meter.polls <= 10
    assert meter.latest() is not None


def test_profiles(tmp_path: Path) -> None:
    assert parse_profile("constant:10,8,12").currents(0) == (10, 8, 12)
    assert parse_profile("constant:4").currents(0) == (4, 4, 4)
    house = parse_profile("house+pv:10")
    assert isinstance(house, HouseProfile) and house.pv_kwp == 10
    noon, night = house_currents(13 * 3600, 10.0), house_currents(2 * 3600, 10.0)
    assert all(a < 0 for a in noon) and all(a > 0 for a in night)
    csv = tmp_path / "load.csv"
    csv.write_text("t_s,l1,l2,l3\n0,1,2,3\n60,-4,5,6\n")
    profile = parse_profile(str(csv))
    assert isinstance(profile, CsvProfile)
    assert profile.currents(1000.0) == (1, 2, 3)
    assert profile.currents(1070.0) == (-4, 5, 6)
    assert profile.currents(1120.0) == (1, 2, 3)  # looped
    with pytest.raises(ValueError):
        parse_profile("sinus")


def test_meter_placement_is_set_in_one_place_the_grid_meter() -> None:
    from chargebox.energy.manager import build_site

    with pytest.raises(station_file.SettingsError, match=r"site: meter_placement: set placement"):
        station_file.parse({"site": {"grid_limit_a": 32, "meter_placement": "excludes_charging"}})
    file = station_file.parse(
        {
            "site": {"grid_limit_a": 32},
            "meters": [{"map": "siemens_pac2200", "placement": "excludes_charging"}],
        }
    )
    site = build_site(file, file.connector_list())
    assert site.meter_placement.value == "excludes_charging"  # the manager uses the meter's
    sim = station_file.parse({"site": {"grid_limit_a": 32}, "energy": {"meter": "sim"}})
    assert build_site(sim, sim.connector_list()).meter_placement.value == "includes_charging"
