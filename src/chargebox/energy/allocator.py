"""The allocator: per-phase budgets shared over the active connectors. Pure: no I/O.

Every connector gets one pilot current x (the control pilot signals one value for all
phases) that loads the grid phases its car really uses, after phase rotation. The
constraints are linear: for each grid phase, and for each supply group and phase, the
sum of x over the connectors loading that phase stays within the cap; optionally the
chargers' phase sums stay within the unbalanced-load limit of each other.

1. *Admission*: connectors are ranked (equal share: in turns; FCFS: by session start;
   priority: by priority, then session start) and admitted while every admitted one can
   still get the minimum current. The others are paused (0 A) — never between 0 and
   the minimum. In equal-share mode a connector that waited longest is served before
   one that has run for a whole rotation period, so paused cars get their turn.
2. *Distribution*: equal share is progressive filling (max-min fair: everybody rises
   together until a limit binds, then those bound by it stop); FCFS and priority give
   everyone the minimum, then fill one connector after the other in rank order.
3. Results are floored to 0.1 A (the arbitration rounds to 0.1 A; flooring first
   keeps that rounding from ever adding current).

A car that is offered current but does not take it (state B after the settle time: full
battery, or paused by the car) is released to 0 A (`ev_suspended`) so its minimum current
goes to the others; it is offered the minimum again once per rotation period.

Export is never room (see `energy/model.py`): a negative external load counts as 0 A,
so a phase's budget is at most grid limit - safety margin.

Every connector's allocation names the limit that bound it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chargebox.energy.model import (
    AllocationMode,
    ConnectorSite,
    ExternalLimit,
    PhaseCurrents,
    Site,
)

ACTIVE_PHASE_A = 1.0  # a connector phase carrying more than this is in use (evcc: 1 A)
DETECT_TOTAL_A = 2.0  # below this on every phase the car's phase use is unknown
GIVE_BACK_MARGIN_A = 2.0  # a car drawing this much less than offered gives the rest back
_EPS = 1e-9
PHASE_NAMES = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class ConnectorDemand:
    """What the manager knows about one connector this cycle (connector phases)."""

    connector_id: int
    active: bool  # a session that may draw current
    measured_a: PhaseCurrents = field(default_factory=PhaseCurrents)
    offered_a: float = 0.0  # what the pilot signals now
    settled: bool = False  # the offer has been steady long enough for the car to follow
    # The car does not ask for energy although it is offered current (control pilot state
    # B: full battery, or paused by the car): once settled it is released (see allocate).
    ev_suspended: bool = False
    max_a: float | None = None  # other limits on the connector (cable, car, OCPP, ...)
    session_start: float = 0.0  # for first come, first served


@dataclass(frozen=True, slots=True)
class ConnectorAllocation:
    connector_id: int
    current_a: float  # pilot current: 0 or at least the minimum current
    grid_phases: tuple[int, ...]  # grid phases reserved (empty when not active)
    binding: str  # the limit that bound this allocation
    paused: bool = False  # active but given 0 A


@dataclass
class RotationState:
    """What the allocator remembers between cycles (kept by the caller)."""

    running_since: dict[int, float] = field(default_factory=dict)
    waiting_since: dict[int, float] = field(default_factory=dict)
    give_back_cap: dict[int, float] = field(default_factory=dict)
    suspended_since: dict[int, float] = field(default_factory=dict)  # released EV-suspended


@dataclass(frozen=True, slots=True)
class Allocation:
    connectors: dict[int, ConnectorAllocation]
    budget_a: PhaseCurrents  # per grid phase, for all chargers together
    allocated_a: PhaseCurrents  # per grid phase: sum of allocations
    phase_binding: tuple[str, str, str]  # the limit that makes each phase's budget
    state: RotationState

    def current(self, connector_id: int) -> float:
        a = self.connectors.get(connector_id)
        return a.current_a if a is not None else 0.0


def phases_in_use(measured: PhaseCurrents, connected: int) -> tuple[int, ...]:
    """Connector phases the car draws on; all connected phases while unknown."""
    a, b, c = measured.l1, measured.l2, measured.l3
    if connected == 1:
        return (0,)
    if a < DETECT_TOTAL_A and b < DETECT_TOTAL_A and c < DETECT_TOTAL_A:
        return (0, 1, 2)
    used = tuple(p for p, v in ((0, a), (1, b), (2, c)) if v > ACTIVE_PHASE_A)
    return used or (0, 1, 2)


def phase_budget(
    site: Site, external_load: PhaseCurrents, limits: Iterable[ExternalLimit] = ()
) -> tuple[list[float], list[str]]:
    """Per grid phase: amps available to all chargers together, and what sets it."""
    budget: list[float] = []
    names: list[str] = []
    limits = list(limits)
    for p in range(3):
        # Export (negative external load) is not room: at most grid limit - margin.
        options = [
            (site.grid_limit_a[p] - site.safety_margin_a[p] - max(0.0, external_load[p]), "grid")
        ]
        if site.subdistribution_limit_a is not None:
            options.append((site.subdistribution_limit_a[p], "subdistribution"))
        if site.operator_subdistribution_limit_a is not None:
            options.append((site.operator_subdistribution_limit_a[p], "operator_subdistribution"))
        for lim in limits:
            if lim.per_phase_a is not None:
                options.append((lim.per_phase_a[p], lim.source))
        value, name = min(options, key=lambda o: o[0])
        for lim in limits:  # offsets reduce what is left after every cap (shedding offset)
            if lim.offset_a is not None and lim.offset_a[p] < 0:
                value += lim.offset_a[p]
                name = lim.source
        budget.append(max(0.0, value))
        names.append(f"{name}_{PHASE_NAMES[p]}")
    return budget, names


@dataclass
class _Conn:
    site: ConnectorSite
    demand: ConnectorDemand
    grid: tuple[int, ...]
    ub: float
    ub_name: str
    rank: tuple[float, ...] = ()
    x: float = 0.0
    binding: str = ""
    ks: list[int] = field(default_factory=list)  # indices of the constraints it is in


class _Problem:
    """Linear caps (per grid phase, per group and phase) with running sums."""

    def __init__(self, site: Site, conns: list[_Conn], budget: list[float], names: list[str]):
        self.conns = conns
        self.names: list[str] = list(names)
        self.caps: list[float] = list(budget)
        self.load: list[float] = [0.0] * len(self.caps)
        self.sums = [0.0, 0.0, 0.0]  # per grid phase, for the unbalanced-load limit
        self.unbalance = site.unbalance_limit_a
        group_index: dict[tuple[str, int], int] = {}
        for c in conns:
            c.ks = list(c.grid)
            if c.site.group is not None:
                g = site.group(c.site.group)
                if g is None:
                    continue
                for p in c.grid:
                    key = (g.name, p)
                    if key not in group_index:
                        group_index[key] = len(self.caps)
                        self.names.append(f"group:{g.name}_{PHASE_NAMES[p]}")
                        self.caps.append(g.limit_a[p])
                        self.load.append(0.0)
                    c.ks.append(group_index[key])

    def add(self, c: _Conn, amount: float) -> None:
        c.x += amount
        for k in c.ks:
            self.load[k] += amount
        for p in c.grid:
            self.sums[p] += amount

    def blocked(self, c: _Conn, amount: float) -> str | None:
        """The limit that adding `amount` to c would break, if any."""
        for k in c.ks:
            if self.load[k] + amount > self.caps[k] + _EPS:
                return self.names[k]
        if self.unbalance is not None:
            sums = [s + (amount if p in c.grid else 0.0) for p, s in enumerate(self.sums)]
            if max(sums) - min(sums) > self.unbalance + _EPS:
                return "unbalanced_load"
        return None

    def headroom(self, c: _Conn) -> tuple[float, str]:
        """How much c alone may still rise, and what stops it."""
        best, name = c.ub - c.x, c.ub_name
        for k in c.ks:
            slack = max(0.0, self.caps[k] - self.load[k])
            if slack < best - _EPS:
                best, name = slack, self.names[k]
        if self.unbalance is not None:
            for p in c.grid:
                for q in range(3):
                    if q not in c.grid:
                        slack = max(0.0, self.unbalance - (self.sums[p] - self.sums[q]))
                        if slack < best - _EPS:
                            best, name = slack, "unbalanced_load"
        return best, name

    def fill_together(self, rising: list[_Conn]) -> None:
        """Progressive filling: raise all together; stop each when a limit binds it.

        Everyone admitted starts at the same minimum, so the rising connectors share one
        level: loads are `base + count * level`, and each step only looks at the limits,
        not at every connector (O(n log n) instead of O(n^2) for 250 connectors).
        """
        for c in rising:
            if c.x >= c.ub - _EPS:
                c.binding = c.ub_name
        free = sorted((c for c in rising if c.x < c.ub - _EPS), key=lambda c: c.ub)
        if not free:
            return
        level = min(c.x for c in free)
        if any(abs(c.x - level) > 1e-9 for c in free):  # not a common start: lift to it
            level = max(c.x for c in free)
            for c in free:
                self.add(c, level - c.x)
        count = [0] * len(self.caps)
        rate = [0, 0, 0]
        members: list[list[_Conn]] = [[] for _ in self.caps]
        for c in free:
            for k in c.ks:
                count[k] += 1
                members[k].append(c)
            for p in c.grid:
                rate[p] += 1
        base = [self.load[k] - count[k] * level for k in range(len(self.caps))]
        base_sums = [self.sums[p] - rate[p] * level for p in range(3)]
        alive = {id(c) for c in free}
        pointer = 0

        def freeze(c: _Conn, name: str) -> None:
            alive.discard(id(c))
            c.x, c.binding = level, name
            for k in c.ks:
                count[k] -= 1
                base[k] += level
            for p in c.grid:
                rate[p] -= 1
                base_sums[p] += level

        while alive:
            while id(free[pointer]) not in alive:
                pointer += 1
            target = free[pointer].ub
            for k, n in enumerate(count):
                if n:
                    target = min(target, (self.caps[k] - base[k]) / n)
            if self.unbalance is not None:
                for p in range(3):
                    for q in range(3):
                        if rate[p] > rate[q]:
                            gap = self.unbalance - (base_sums[p] - base_sums[q])
                            target = min(target, gap / (rate[p] - rate[q]))
            level = max(level, target)
            tight = [
                k for k, n in enumerate(count) if n and base[k] + n * level >= self.caps[k] - 1e-7
            ]
            pairs: list[tuple[int, int]] = []
            if self.unbalance is not None:
                sums = [base_sums[p] + rate[p] * level for p in range(3)]
                pairs = [
                    (p, q)
                    for p in range(3)
                    for q in range(3)
                    if p != q and sums[p] - sums[q] >= self.unbalance - 1e-7
                ]
            candidates: dict[int, _Conn] = {}
            i = pointer
            while i < len(free) and free[i].ub <= level + 1e-7:
                candidates[id(free[i])] = free[i]
                i += 1
            tight_set = set(tight)
            for k in tight:
                for c in members[k]:
                    candidates[id(c)] = c
            if pairs:
                for c in free:
                    if any(p in c.grid and q not in c.grid for p, q in pairs):
                        candidates[id(c)] = c
            bound = [c for key, c in candidates.items() if key in alive]
            if not bound:  # numerical dust: nothing could bind
                for c in free:
                    if id(c) in alive:
                        freeze(c, c.ub_name)
                break
            for c in bound:
                if c.ub <= level + 1e-7:
                    freeze(c, c.ub_name)
                else:
                    hit = next((self.names[k] for k in c.ks if k in tight_set), None)
                    freeze(c, hit or "unbalanced_load")
        self.load = [base[k] + count[k] * level for k in range(len(self.caps))]
        self.sums = [base_sums[p] + rate[p] * level for p in range(3)]

    def fill_one(self, c: _Conn) -> None:
        room, name = self.headroom(c)
        if room > 0:
            self.add(c, room)
        c.binding = name


def allocate(
    site: Site,
    connectors: Sequence[ConnectorDemand],
    external_load: PhaseCurrents,
    now: float,
    *,
    limits: Iterable[ExternalLimit] = (),
    state: RotationState | None = None,
) -> Allocation:
    """Distribute the per-phase budget over the active connectors (see module doc)."""
    prev = state or RotationState()
    limits = list(limits)
    minimum = math.ceil(site.min_current_a * 10 - _EPS) / 10
    budget, budget_names = phase_budget(site, external_load, limits)
    station_cap = min(
        ((lim.station_limit_a, lim.source) for lim in limits if lim.station_limit_a is not None),
        default=None,
    )
    out: dict[int, ConnectorAllocation] = {}
    conns: list[_Conn] = []
    caps: dict[int, float] = {}
    index = {c.id: c for c in site.connectors}
    suspended: dict[int, float] = {}
    for d in connectors:
        cs = index.get(d.connector_id)
        if cs is None or not d.active:
            out[d.connector_id] = ConnectorAllocation(d.connector_id, 0.0, (), "inactive")
            continue
        released = _suspended(site, d, prev.suspended_since.get(d.connector_id), now)
        if released is not None:
            suspended[d.connector_id] = released
            out[d.connector_id] = ConnectorAllocation(
                d.connector_id, 0.0, (), "ev_suspended", paused=True
            )
            continue
        grid = cs.grid_phases(phases_in_use(d.measured_a, cs.phases))
        options = [(cs.hardware_limit_a, "hardware")]
        if cs.installation_limit_a is not None:
            options.append((cs.installation_limit_a, "installation"))
        if cs.operator_limit_a is not None:
            options.append((cs.operator_limit_a, "operator"))
        if d.max_a is not None:
            options.append((d.max_a, "connector_limit"))
        if station_cap is not None:
            options.append(station_cap)
        cap = _give_back(d, prev.give_back_cap.get(d.connector_id), minimum)
        if cap is not None:
            caps[d.connector_id] = cap
            options.append((cap, "demand"))
        ub, ub_name = options[0]
        for value, name in options:
            if value < ub:
                ub, ub_name = value, name
        conns.append(_Conn(cs, d, grid, ub, ub_name))

    problem = _Problem(site, conns, budget, budget_names)
    _rank(site, conns, prev, now)
    ranked = sorted(conns, key=lambda c: c.rank)
    admitted: list[_Conn] = []
    for c in ranked:
        if c.ub + _EPS < minimum:
            c.binding = c.ub_name
            continue
        bound = problem.blocked(c, minimum)
        if bound is None:
            problem.add(c, minimum)
            admitted.append(c)
        else:
            c.binding = bound

    if site.mode is AllocationMode.EQUAL:
        problem.fill_together(admitted)
    else:
        for c in admitted:
            problem.fill_one(c)

    new_state = RotationState(give_back_cap=caps, suspended_since=suspended)
    sums = [0.0, 0.0, 0.0]
    for c in conns:
        cid = c.demand.connector_id
        x = math.floor(c.x * 10 + 1e-6) / 10 if c.x > 0 else 0.0
        if x <= 0:
            new_state.waiting_since[cid] = prev.waiting_since.get(cid, now)
        else:
            new_state.running_since[cid] = prev.running_since.get(cid, now)
            for p in c.grid:
                sums[p] += x
        out[cid] = ConnectorAllocation(cid, x, c.grid, c.binding or "none", x <= 0)
    return Allocation(
        out,
        PhaseCurrents.from_tuple(budget),
        PhaseCurrents.from_tuple(sums),
        (budget_names[0], budget_names[1], budget_names[2]),
        new_state,
    )


def _suspended(site: Site, d: ConnectorDemand, since: float | None, now: float) -> float | None:
    """When a car that does not take energy is released (0 A), the time it was; else None.

    A car in state B that was offered current for the settle time and draws nothing
    (full battery, or paused by the car) gives its minimum current back to the others.
    Every `rotation_period_s` it is offered the minimum again (if there is room), so a
    car that wants to charge again can say so by drawing.
    """
    if since is not None and now - since < site.rotation_period_s:
        return since
    if since is not None:
        return None  # its turn to be asked again
    if d.ev_suspended and d.settled and d.offered_a > 0 and d.measured_a.max() < ACTIVE_PHASE_A:
        return now
    return None


def _give_back(d: ConnectorDemand, previous: float | None, minimum: float) -> float | None:
    """A cap for a car that draws less than offered, so the rest can go to others."""
    drawn = d.measured_a.max()
    if not d.settled:
        return previous  # the car is still following a change: keep what was decided
    if d.offered_a > 0 and drawn < d.offered_a - GIVE_BACK_MARGIN_A:
        return max(minimum, math.ceil((drawn + GIVE_BACK_MARGIN_A) * 10) / 10)
    if previous is not None and drawn >= previous - GIVE_BACK_MARGIN_A / 2:
        return None  # it draws what it was given: it may want more
    return previous


def _rank(site: Site, conns: list[_Conn], prev: RotationState, now: float) -> None:
    for c in conns:
        cid, start = c.demand.connector_id, c.demand.session_start
        if site.mode is AllocationMode.FCFS:
            c.rank = (start, cid)
        elif site.mode is AllocationMode.PRIORITY:
            c.rank = (-c.site.priority, start, cid)
        elif cid in prev.running_since:
            began = prev.running_since[cid]
            turn_over = now - began >= site.rotation_period_s
            c.rank = (2 if turn_over else 0, began, cid)  # its turn goes on, or waits behind
        else:
            c.rank = (1, prev.waiting_since.get(cid, now), start, cid)  # longest waiting first
