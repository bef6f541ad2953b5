"""The `chargebox` command: `chargebox run` starts a station (see ARCHITECTURE.md, Command line)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from chargebox import __version__
from chargebox.settings import SettingsError
from chargebox.store import StoreError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chargebox", description="EV charging station controller")
    parser.add_argument("--version", action="version", version=f"chargebox {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the station")
    run.add_argument(
        "--config", type=Path, help="station.toml (default: built-in simulated station)"
    )
    run.add_argument("--data-dir", type=Path, help="database and files (default ./chargebox-data)")
    run.add_argument(
        "--csms-url", help="central system URL, ws:// or wss://; the identity is appended"
    )
    run.add_argument("--id", dest="identity", help="charge point identity")
    run.add_argument("--http-host", help="web UI and API address (default 127.0.0.1)")
    run.add_argument("--http-port", type=int, help="web UI and API port (default 8080)")
    run.add_argument("--connectors", type=int, help="number of simulated connectors")
    run.add_argument(
        "--modbus-port",
        type=int,
        metavar="BASE",
        help="serve the Modbus TCP register set (OMCCI): connector n on BASE + n - 1",
    )
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    meter = sub.add_parser("sim-meter", help="serve a simulated Modbus TCP grid meter")
    meter.add_argument("--map", required=True, help="register map, e.g. siemens_pac2200")
    meter.add_argument("--port", type=int, default=5020, help="TCP port (default 5020)")
    meter.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    meter.add_argument(
        "--profile",
        default="house",
        help="house | house+pv[:kWp] | constant:L1,L2,L3 (amps, export negative) | file.csv",
    )
    meter.add_argument("--unit", type=int, help="Modbus unit id (default: the map's)")
    meter.add_argument("--speed", type=float, default=1.0, help="play the day N times faster")
    meter.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    users = sub.add_parser("users", help="web users")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    reset = users_sub.add_parser(
        "reset-admin", help="print a one-time link to set an admin password (forgotten password)"
    )
    reset.add_argument("--data-dir", type=Path, help="the station's data directory")
    reset.add_argument("--config", type=Path, help="station.toml (for the data dir and address)")
    reset.add_argument("--base-url", help="the station's web address (default from the config)")
    reset.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING"])
    return parser


def _reset_admin(args: argparse.Namespace) -> int:
    """A one-time setup link for a forgotten admin password; a running station accepts it."""
    from chargebox import settings as station_file
    from chargebox.store import Database
    from chargebox.web.auth import RESET_LINK_TTL_S, issue_admin_reset

    file = station_file.load(args.config)
    data_dir = Path(args.data_dir or file.station.data_dir)
    if not (data_dir / "chargebox.db").exists():
        print(f"chargebox: {data_dir}: no station database here", file=sys.stderr)
        return 2
    base = args.base_url
    if not base:
        host = file.http.host if file.http.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        base = f"{'https' if file.http.https else 'http'}://{host}:{file.http.port}"
    with Database(data_dir / "chargebox.db") as db:
        token = issue_admin_reset(db)
    minutes = RESET_LINK_TTL_S // 60
    print(f"chargebox: set an admin password (valid {minutes} min, once) at "
          f"{base.rstrip('/')}/setup?token={token}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "run":
        from chargebox.app import RunOptions, run

        if args.csms_url and not args.csms_url.startswith(("ws://", "wss://")):
            print("chargebox: --csms-url: must start with ws:// or wss://", file=sys.stderr)
            return 2
        if args.connectors is not None and not 1 <= args.connectors <= 64:
            print("chargebox: --connectors: must be between 1 and 64", file=sys.stderr)
            return 2
        if args.modbus_port is not None and not 1 <= args.modbus_port <= 65535:
            print("chargebox: --modbus-port: must be between 1 and 65535", file=sys.stderr)
            return 2
        options = RunOptions(
            config=args.config,
            data_dir=args.data_dir,
            csms_url=args.csms_url,
            identity=args.identity,
            http_host=args.http_host,
            http_port=args.http_port,
            connectors=args.connectors,
            modbus_port=args.modbus_port,
        )
        try:
            return run(options)
        except (SettingsError, StoreError) as exc:
            print(f"chargebox: {exc}", file=sys.stderr)
            return 2
    if args.command == "users":
        try:
            return _reset_admin(args)
        except (SettingsError, StoreError) as exc:
            print(f"chargebox: {exc}", file=sys.stderr)
            return 2
    if args.command == "sim-meter":
        from chargebox.energy.meters.cli import sim_meter

        return sim_meter(args.map, args.host, args.port, args.profile, args.unit, args.speed)
    return 2
