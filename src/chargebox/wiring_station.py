"""Composition root, station part: the connectors, their simulated hardware, the settings.

Part of :mod:`chargebox.app`, split out for size. The hardware is the simulator (the only
hardware adapter so far); these functions turn station.toml, the command line and the
state saved at the last run into what :class:`chargebox.core.station.Station` is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chargebox import settings as station_file
from chargebox.core.auth import AuthMode
from chargebox.core.config_keys import Configuration, ConfigValueError
from chargebox.core.connector import ConnectorHardware, ConnectorSpec
from chargebox.core.station import StationSettings
from chargebox.hardware.sim import SimCar, SimConnector, SimLock, SimStation
from chargebox.store import StateStore, TransactionStore

Specs = Sequence[station_file.ConnectorSection]


def check_file_keys(
    file: station_file.StationFile, connectors: int | None, source: Path | None
) -> None:
    """An invalid [ocpp.keys] value in the file stops start-up like any other field."""
    try:
        count = connectors or len(file.connector_list())
        fixed_count = {"NumberOfConnectors": str(count)}
        Configuration.load(fixed_count, file.ocpp.key_overrides(), strict=True)
    except ConfigValueError as exc:
        raise station_file.SettingsError(f"{source}: ocpp.keys.{exc}") from None


def connector_specs(
    file: station_file.StationFile, connectors: int | None
) -> list[station_file.ConnectorSection]:
    """The file's connectors, or ``--connectors N`` default ones, which wins."""
    if connectors is None:
        return file.connector_list()
    return [station_file.ConnectorSection(id=n) for n in range(1, connectors + 1)]


def sim_station(specs: Specs, transactions: TransactionStore) -> SimStation:
    """The simulated hardware, its meters resumed from the journal.

    A real meter keeps its register through a power cut; the simulated one resumes from
    the last reading the journal holds.
    """
    sim = SimStation(
        {
            c.id: SimConnector(c.id, cable_a=c.cable_a, lock_hw=SimLock(fixed=c.fixed_cable))
            for c in specs
        }
    )
    for c in specs:
        last = transactions.history(limit=1, connector_id=c.id)
        if last:
            rec = last[0]
            sim.connectors[c.id].energy_wh = float(
                rec.meter_stop_wh if rec.meter_stop_wh is not None else rec.last_meter_wh
            )
    return sim


def connector_hardware(
    specs: Specs, sim: SimStation
) -> list[tuple[ConnectorSpec, ConnectorHardware]]:
    """Each connector's spec with its simulated pilot, lock and meter."""
    return [
        (
            ConnectorSpec(c.id, c.max_current_a, c.phases, c.fixed_cable),
            ConnectorHardware(
                sim.connectors[c.id],
                sim.connectors[c.id].lock_hw,
                sim.connectors[c.id],
            ),
        )
        for c in specs
    ]


def station_settings(
    file: station_file.StationFile, state: StateStore, *, backend_configured: bool
) -> StationSettings:
    """station.toml's station-level choices, under those saved live in the web interface."""
    auth_saved = state.items("authorization")
    live_limits = state.get("installation", "station") or {}
    return StationSettings(
        auth_mode=AuthMode(auth_saved.get("mode", file.authorization.mode)),
        backend_configured=backend_configured,
        min_current_a=live_limits.get("min_current_a", file.installation.min_current_a),
        installation_limit_a=live_limits.get(
            "installation_limit_a", file.installation.installation_limit_a
        ),
        operator_limit_a=live_limits.get("operator_limit_a", file.installation.operator_limit_a),
        tag_case=auth_saved.get("tag_case", "as_read"),
    )


def new_car(defaults: station_file.SimCarSection, **overrides: float | None) -> SimCar:
    """A simulated car: [hardware.sim_car] with the given values (None: the default)."""
    values = {
        "capacity_kwh": defaults.capacity_kwh,
        "soc_percent": defaults.soc_percent,
        "max_current_a": defaults.max_current_a,
        "phases": defaults.phases,
        "response_delay_s": defaults.response_delay_s,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return SimCar(**values)  # type: ignore[arg-type]
