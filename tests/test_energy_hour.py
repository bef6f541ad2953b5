"""Issue 5, "done when": a 32 A site, a simulated Siemens PAC2200 playing a house, three
simulated cars (one 1-phase) — never over 32 A on any phase for an hour, every car's
current explained.

Accelerated honestly: the core (Station, EnergyManager, simulated hardware) runs on a manual
clock, 3600 s in 0.1 s steps, with no sleeps. The grid meter is the product's simulated
PAC2200 (`SimMeterServer`: the house profile plus the chargers' own currents, as with
`simulate = true`); each poll reads its register blocks (`registers()`, what the network
server answers from) and decodes them with the map (`read_values`, `to_grid_reading`, what
the Modbus client does with the words it receives). What the test models:

- the meter: polled every second, its values 0.3 s old (its own measuring/update lag);
- the cars: each follows a higher current after its response delay (1-2 s) and a lower one
  after its decrease delay (0.5-3 s, IEC 61851-1 allows 5 s);
- the house: an evening (17:00 to 21:00 played in the hour, peaks on every phase) plus
  appliances switching on and off (steps up to the safety margin per phase);
- the cars arrive, pause, finish (full battery) and leave.

The true grid current (house + what the cars draw, after the phase rotation) is checked
after every step. The safety margin is what covers the house's own changes between two
readings; `test_a_house_step_beyond_the_margin_is_cleared_within_the_reaction_time` shows
what happens when the house jumps by more than that.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from chargebox.core.limits import LimitSource
from chargebox.core.types import ChargePointStatus
from chargebox.energy.manager import EnergyManager, grid_currents
from chargebox.energy.meters.registermap import load_map, read_values, to_grid_reading
from chargebox.energy.meters.sim_server import SimMeterServer, house_currents
from chargebox.energy.model import ConnectorSite, GridReading, PhaseCurrents, Site
from chargebox.hardware.sim import SimCar
from tests.test_core_rig import Rig

GRID_A = 32.0
MARGIN_A = 3.0
STEP_S = 0.1
POLL_S = 1.0
METER_LAG_S = 0.3
MIN_A = 6.0
WIRING = {1: "RST", 2: "TRS", 3: "STR"}  # connector 3 (the 1-phase car) sits on grid L2


@dataclass
class Appliances:
    """Loads switching on and off: (start s, duration s, amps per phase)."""

    events: list[tuple[float, float, tuple[float, float, float]]]

    def at(self, t: float) -> tuple[float, float, float]:
        out = [0.0, 0.0, 0.0]
        for start, duration, amps in self.events:
            if start <= t < start + duration:
                for p in range(3):
                    out[p] += amps[p]
        return (out[0], out[1], out[2])


def appliances() -> Appliances:
    """A deterministic evening: kettle-sized loads spread over the phases, an oven on all
    three, a heat pump cycling. No single switching adds more than the margin to a phase."""
    events: list[tuple[float, float, tuple[float, float, float]]] = []
    for k in range(40):
        start = 37.0 + k * 89.3
        phase = k % 3
        amps = [0.0, 0.0, 0.0]
        amps[phase] = 1.5 + (k * 7 % 10) / 10.0  # 1.5 .. 2.4 A
        events.append((start, 45.0 + (k * 13 % 120), (amps[0], amps[1], amps[2])))
    events.append((1500.0, 900.0, (2.6, 2.6, 2.6)))  # oven
    for k in range(6):  # heat pump, 4 min on in every 10
        events.append((280.0 + k * 600.0, 240.0, (2.2, 2.2, 2.2)))
    return Appliances(events)


def test_the_house_never_rises_by_more_than_the_margin_within_a_reaction_time() -> None:
    """The premise of the hour run: what the house adds to a phase within 3 s (a poll, the
    meter's lag, a car's decrease) stays within the safety margin."""
    house = House(0.0)
    worst = 0.0
    for n in range(36000):
        t = n * STEP_S
        a, b = house.currents(t), house.currents(t + 3.0)
        worst = max(worst, *(b[p] - a[p] for p in range(3)))
    assert worst <= MARGIN_A, worst


@dataclass
class House:
    """17:00 to 21:00 of the product's household day in one hour, plus appliances."""

    t0: float
    speed: float = 4.0
    extra: Appliances = field(default_factory=appliances)

    def currents(self, t: float) -> tuple[float, float, float]:
        base = house_currents(17 * 3600 + (t - self.t0) * self.speed)
        more = self.extra.at(t - self.t0)
        return (base[0] + more[0], base[1] + more[1], base[2] + more[2])


class LaggingPac2200:
    """The simulated PAC2200 whose values lag its clock by METER_LAG_S; read through the map."""

    def __init__(self, rig: Rig, house: House, site: Site) -> None:
        self.rig = rig
        self.map = load_map("siemens_pac2200")
        self.history: deque[tuple[float, tuple[float, float, float]]] = deque(maxlen=64)
        self.site = {c.id: c for c in site.connectors}
        self.server = SimMeterServer(
            self.map,
            house,
            clock=lambda: rig.clock.time() - METER_LAG_S,
            extra=self._charging_then,
        )
        self.reading: GridReading | None = None
        self.polls = 0

    def record(self) -> tuple[float, float, float]:
        """What the chargers draw now per grid phase (kept for the meter's lag)."""
        total = PhaseCurrents()
        for cid, sc in self.rig.sim.connectors.items():
            total = total + grid_currents(self.site[cid], sc._phase_currents())
        now = (total.l1, total.l2, total.l3)
        self.history.append((self.rig.clock.time(), now))
        return now

    def _charging_then(self) -> tuple[float, float, float]:
        then = self.rig.clock.time() - METER_LAG_S
        value = self.history[0][1]
        for t, currents in self.history:
            if t <= then + 1e-9:
                value = currents
        return value

    def poll(self) -> None:
        """One poll: every block of the map, decoded like the Modbus client decodes it."""
        image: dict[int, int] = {}
        for address, count in self.map.blocks():
            image.update(
                zip(
                    range(address, address + count),
                    self.server.registers(address, count),
                    strict=True,
                )
            )
        self.reading = to_grid_reading(
            self.map, read_values(self.map, image), self.rig.clock.time()
        )
        self.polls += 1

    def latest(self) -> GridReading | None:
        return self.reading


@dataclass
class Run:
    worst: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    worst_at: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    energy_wh: dict[int, float] = field(default_factory=dict)
    bindings: set[str] = field(default_factory=set)
    released: int = 0
    held_cycles: int = 0
    explained: int = 0
    offer_changes: int = 0


def make(
    decrease_delays: tuple[float, float, float] = (1.0, 3.0, 0.5),
) -> tuple[Rig, EnergyManager, LaggingPac2200, House]:
    rig = Rig(3, min_current_a=MIN_A)
    site = Site(
        grid_limit_a=PhaseCurrents.uniform(GRID_A),
        connectors=tuple(ConnectorSite(cid, rotation=r) for cid, r in WIRING.items()),
        safety_margin_a=PhaseCurrents.uniform(MARGIN_A),
        meter_timeout_s=10.0,
        meter_lag_s=METER_LAG_S,
        rotation_period_s=120.0,
        min_current_a=MIN_A,
    )
    house = House(rig.clock.time())
    meter = LaggingPac2200(rig, house, site)
    manager = EnergyManager(rig.station, site, clock=rig.clock, meter=meter, bus=rig.bus)
    rig.decrease_delays = decrease_delays  # type: ignore[attr-defined]
    return rig, manager, meter, house


def car(rig: Rig, cid: int, **kw: float) -> SimCar:
    delays: tuple[float, float, float] = rig.decrease_delays  # type: ignore[attr-defined]
    response = {1: 1.0, 2: 2.0, 3: 1.5}[cid]
    ev = SimCar(response_delay_s=response, decrease_delay_s=delays[cid - 1], **kw)  # type: ignore[arg-type]
    rig.sim.connectors[cid].plug(ev)
    return ev


def step(rig: Rig, manager: EnergyManager, meter: LaggingPac2200, next_poll: list[float]) -> None:
    """One 0.1 s step of the world and the controller, in the order the processes run."""
    rig.clock.advance(STEP_S)
    now = rig.clock.time()
    rig.sim.advance(now)  # the cars follow (after their delays)
    meter.record()
    rig.station.tick()  # the station reads its connector meters, applies the limits
    if now >= next_poll[0] - 1e-9:
        meter.poll()
        next_poll[0] += POLL_S
    manager.step()  # the energy manager's run loop: cycles on a fresh reading, 1 s, wakes


def grid_now(rig: Rig, meter: LaggingPac2200, house: House) -> tuple[float, float, float]:
    charging = meter.history[-1][1]
    h = house.currents(rig.clock.time())
    return (h[0] + charging[0], h[1] + charging[1], h[2] + charging[2])


def check_explained(rig: Rig, manager: EnergyManager, run: Run) -> None:
    """Every connector that charges says why it gets its current (API: limiting_source and
    the energy object's per-connector binding)."""
    snap = {c["id"]: c for c in manager.snapshot["connectors"]}
    for cid, c in rig.station.connectors.items():
        if c.transaction is None:
            continue
        binding = snap[cid]["binding"]
        assert binding and binding != "none", (cid, snap[cid])
        run.bindings.add(binding)
        if c.offered_a > 0:
            assert c.limit.source is not None
            assert c.limit.current_a == c.offered_a
            run.explained += 1


def test_an_hour_of_three_cars_and_a_house_never_exceeds_32_a() -> None:
    rig, manager, meter, house = make()
    run = Run()
    next_poll = [rig.clock.time() + POLL_S]
    t0 = rig.clock.time()
    cars: dict[int, SimCar] = {}
    # (second, action)
    plan: dict[int, list[tuple[str, int, dict[str, float]]]] = {
        0: [("plug", 1, {"phases": 3, "max_current_a": 32, "capacity_kwh": 60, "soc_percent": 40})],
        60: [
            ("plug", 3, {"phases": 1, "max_current_a": 32, "capacity_kwh": 40, "soc_percent": 20})
        ],
        300: [
            ("plug", 2, {"phases": 3, "max_current_a": 16, "capacity_kwh": 6, "soc_percent": 75})
        ],
        900: [("pause", 1, {})],
        1200: [("resume", 1, {})],
        1800: [("unplug", 3, {})],
        2100: [
            ("plug", 3, {"phases": 1, "max_current_a": 20, "capacity_kwh": 50, "soc_percent": 50})
        ],
        2700: [("unplug", 1, {})],
        3000: [
            ("plug", 1, {"phases": 3, "max_current_a": 32, "capacity_kwh": 75, "soc_percent": 10})
        ],
    }
    steps = round(3600 / STEP_S)
    offers_between: list[float] = []
    finished_released_at: float | None = None
    last_offer: dict[int, float] = {}
    for n in range(steps):
        second = n * STEP_S
        if abs(second - round(second)) < 1e-9:
            for action, cid, kw in plan.get(round(second), []):
                if action == "plug":
                    cars[cid] = car(rig, cid, **kw)
                elif action == "unplug":
                    rig.sim.connectors[cid].unplug()
                else:
                    cars[cid].wants_energy = action == "resume"
        step(rig, manager, meter, next_poll)
        grid = grid_now(rig, meter, house)
        for p in range(3):
            assert grid[p] <= GRID_A + 1e-6, (
                f"grid L{p + 1} {grid[p]:.2f} A at {rig.clock.time() - t0:.1f} s: "
                f"house {house.currents(rig.clock.time())}, energy {manager.snapshot}"
            )
            if grid[p] > run.worst[p]:
                run.worst[p], run.worst_at[p] = grid[p], rig.clock.time() - t0
        for c in rig.station.connectors.values():
            if 0 < c.offered_a < MIN_A:
                offers_between.append(c.offered_a)
            if c.offered_a != last_offer.get(c.id):
                run.offer_changes += 1
                last_offer[c.id] = c.offered_a
        run.held_cycles += bool(manager.held)
        if n % 10 == 9:  # once a second: the status explains every car's current
            check_explained(rig, manager, run)
        snap = {c["id"]: c for c in manager.snapshot.get("connectors", [])}
        if finished_released_at is None and snap.get(2, {}).get("binding") == "ev_suspended":
            finished_released_at = rig.clock.time() - t0
    assert not offers_between, "a connector was offered between 0 and the minimum current"
    assert manager.healthy and manager.snapshot["meter"]["state"] == "ok"
    assert meter.polls >= 3590

    # The site was really used: the tightest phase came within a few amps of its budget.
    assert max(run.worst) > GRID_A - MARGIN_A - 2.0, run.worst
    delivered = {cid: sc.energy_wh for cid, sc in rig.sim.connectors.items()}
    assert all(wh > 1400 for wh in delivered.values()) and sum(delivered.values()) > 9000, delivered
    # No hunting: the setpoints change with the house and the cars, not every cycle.
    assert run.offer_changes < 1500, run.offer_changes
    # The small battery on connector 2 filled up; the finished car was released (0 A) so
    # its minimum current went to the others, and it was asked again every rotation period.
    assert cars[2].soc_percent >= 100.0
    assert finished_released_at is not None
    assert rig.station.connectors[2].transaction is not None  # still plugged, session open
    assert "ev_suspended" in run.bindings and "grid_L2" in run.bindings
    status, _ = rig.station.status_of(2)
    assert status is ChargePointStatus.SUSPENDED_EVSE
    assert run.explained > 3000
    # The 1-phase car on STR reserves grid L2 only.
    alloc = manager.last
    assert alloc is not None and alloc.connectors[3].grid_phases == (1,)
    assert rig.station.connectors[1].limit.source is LimitSource.ENERGY_MANAGER
    print(
        f"\nhour run: worst grid per phase {[round(w, 2) for w in run.worst]} A at "
        f"{[round(t) for t in run.worst_at]} s, delivered "
        f"{ {cid: round(wh / 1000, 2) for cid, wh in delivered.items()} } kWh, "
        f"{manager.cycles} cycles, {meter.polls} polls, {run.offer_changes} setpoint changes, "
        f"increases held {run.held_cycles} steps, "
        f"finished car released at {finished_released_at:.0f} s"
    )


def test_a_house_step_beyond_the_margin_is_cleared_within_the_reaction_time() -> None:
    """A 3 kW kettle (13 A on L1) while the chargers use the whole budget: the margin
    cannot cover it, so L1 is over 32 A until the next reading, the cycle and the car's
    decrease; the test measures that window instead of pretending it cannot happen."""
    rig, manager, meter, house = make(decrease_delays=(1.0, 1.0, 1.0))
    house.extra = Appliances([(120.0, 60.0, (13.0, 0.0, 0.0))])
    next_poll = [rig.clock.time() + POLL_S]
    t0 = rig.clock.time()
    car(rig, 1, phases=3, max_current_a=32, soc_percent=20)
    car(rig, 2, phases=3, max_current_a=32, soc_percent=20)
    over = 0.0
    for _ in range(round(200 / STEP_S)):
        step(rig, manager, meter, next_poll)
        grid = grid_now(rig, meter, house)
        if max(grid) > GRID_A + 1e-6:
            assert 120.0 <= rig.clock.time() - t0 <= 125.0  # only right after the step
            over += STEP_S
    # Next poll (<= 1 s) + the meter's lag (0.3 s) + the car's decrease delay (1 s).
    assert 0 < over <= POLL_S + METER_LAG_S + 1.0 + STEP_S
    print(f"\nkettle beyond the margin: over 32 A for {over:.1f} s")
