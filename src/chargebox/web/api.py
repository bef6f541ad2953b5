"""The control API (`/api/v1`): the contract of ARCHITECTURE.md, described by OpenAPI.

Every request carries `Authorization: Bearer <token>` (CHARGEBOX_API_TOKEN, or the token
made at first start) or the session cookie of the web login; a cookie-authenticated request
that changes something also carries the session's `X-CSRF-Token` header (web/auth.py).
Bodies are validated by pydantic, so a bad field gets a 422 whose `detail` names it; domain
refusals get 404 / 409 with a sentence.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from chargebox import __version__

if TYPE_CHECKING:
    from chargebox.app import Runtime

_bearer = HTTPBearer(auto_error=False)


class PlugBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phases: Literal[1, 3] | None = None
    max_current_a: Annotated[float | None, Field(ge=1, le=80)] = None
    capacity_kwh: Annotated[float | None, Field(gt=0, le=300)] = None
    soc_percent: Annotated[float | None, Field(ge=0, le=100)] = None


class EvStateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["B", "C"]


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_tag: Annotated[str, Field(min_length=1, max_length=20)]
    connector_id: Annotated[int | None, Field(ge=0)] = None


class FaultBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, Field(min_length=1, max_length=50)]


class InputBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: bool


def connector_status(runtime: Runtime, cid: int) -> dict[str, Any]:
    station = runtime.station
    c = station.connectors[cid]
    status, error = station.status_of(cid)
    tx = c.transaction
    m = c.measurement
    energy = (m.energy_wh - tx.meter_start_wh) if (tx is not None and m is not None) else 0.0
    car = runtime.sim.connectors[cid].car
    return {
        "id": cid,
        "status": status.value,
        "error_code": error.ocpp_error_code if error is not None else "NoError",
        "errors": sorted(c.fault_codes),
        "transaction_id": tx.remote_id if tx is not None else None,
        "local_transaction_id": tx.local_id if tx is not None else None,
        "id_tag": tx.id_tag
        if tx is not None
        else (c.authorization.id_tag if c.authorization is not None else None),
        "current_limit_a": c.limit.current_a,
        "limiting_source": c.limit.source.value,
        "offered_a": c.offered_a,
        "pilot": c.pilot.value,
        "power_w": m.power_w if m is not None else 0.0,
        "current_a": list(m.current_a) if m is not None else [0.0, 0.0, 0.0],
        "energy_wh": round(energy, 1),
        "session_started_at": tx.start_time if tx is not None else None,
        "session_duration_s": round(runtime.clock.time() - tx.start_time, 1)
        if tx is not None
        else None,
        "meter_wh": round(m.energy_wh, 1) if m is not None else None,
        "availability": c.availability.value,
        "car": None
        if car is None
        else {
            "soc_percent": round(car.soc_percent, 1),
            "phases": car.phases,
            "max_current_a": car.max_current_a,
            "wants_energy": car.wants_energy,
        },
    }


def station_status(runtime: Runtime) -> dict[str, Any]:
    """The `GET /api/v1/status` document; the web UI's live feed (`/events`) pushes the same."""
    ocpp = runtime.ocpp
    return {
        "identity": runtime.identity,
        "ocpp": {
            "connected": bool(ocpp and ocpp.connected),
            "registration": ocpp.registration if ocpp else None,
            "csms_url": runtime.csms_url or None,
            "queued_messages": len(runtime.queue),
        },
        "connectors": [connector_status(runtime, cid) for cid in runtime.station.connectors],
        # Only with energy management on ([site] in station.toml): budget, load, allocation.
        **(
            {"energy": runtime.energy.snapshot}
            if getattr(runtime, "energy", None) is not None
            else {}
        ),
        **({"dlm": runtime.dlm_status()} if getattr(runtime, "dlm", None) is not None else {}),
    }


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="chargebox control API", version=__version__)

    async def authenticated(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if credentials is None:
            # The web login's session cookie (installed by chargebox.web.ui); CSRF-checked.
            cookie_auth = getattr(request.app.state, "api_cookie_auth", None)
            if cookie_auth is not None and await cookie_auth(request):
                return
        if credentials is None or not hmac.compare_digest(
            credentials.credentials.encode(), runtime.api_token.encode()
        ):
            raise HTTPException(
                401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"}
            )

    api = APIRouter(prefix="/api/v1", dependencies=[Depends(authenticated)])

    @api.get("/status")
    async def status() -> dict[str, Any]:
        return station_status(runtime)

    sim = APIRouter(prefix="/sim", tags=["simulator"])

    def sim_connector(cid: int) -> Any:
        connector = runtime.sim.connectors.get(cid)
        if connector is None:
            raise HTTPException(404, f"connector_id: no connector {cid}")
        return connector

    @sim.post("/connectors/{cid}/plug")
    async def plug(cid: int, body: PlugBody | None = None) -> dict[str, Any]:
        connector = sim_connector(cid)
        if connector.car is not None:
            raise HTTPException(409, f"connector {cid}: a car is already plugged in")
        b = body or PlugBody()
        connector.plug(
            runtime.new_car(
                phases=b.phases,
                max_current_a=b.max_current_a,
                capacity_kwh=b.capacity_kwh,
                soc_percent=b.soc_percent,
            )
        )
        runtime.step()
        return connector_status(runtime, cid)

    @sim.post("/connectors/{cid}/unplug")
    async def unplug(cid: int) -> dict[str, Any]:
        connector = sim_connector(cid)
        if connector.car is None:
            raise HTTPException(409, f"connector {cid}: no car plugged in")
        connector.unplug()
        runtime.step()
        return connector_status(runtime, cid)

    @sim.post("/connectors/{cid}/ev-state")
    async def ev_state(cid: int, body: EvStateBody) -> dict[str, Any]:
        connector = sim_connector(cid)
        if connector.car is None:
            raise HTTPException(409, f"connector {cid}: no car plugged in")
        connector.car.wants_energy = body.state == "C"
        runtime.step()
        return connector_status(runtime, cid)

    @sim.post("/tokens")
    async def token(body: TokenBody) -> dict[str, Any]:
        if body.connector_id is not None and body.connector_id != 0:
            sim_connector(body.connector_id)
        connector_id = body.connector_id or None
        if not runtime.sim.reader.present(body.id_tag, connector_id):
            raise HTTPException(409, "the RFID reader has failed (reader_failure)")
        runtime.step()
        return {"presented": True, "id_tag": body.id_tag}

    def check_code(code: str) -> None:
        if code not in runtime.station.catalogue:
            known = ", ".join(sorted(runtime.station.catalogue))
            raise HTTPException(422, f"code: unknown fault {code!r}; known: {known}")

    @sim.post("/connectors/{cid}/faults")
    async def raise_fault(cid: int, body: FaultBody) -> dict[str, Any]:
        if cid != 0:
            sim_connector(cid)
        check_code(body.code)
        runtime.sim.raise_fault(cid, body.code)
        runtime.step()
        return {"connector_id": cid, "code": body.code, "active": True}

    @sim.delete("/connectors/{cid}/faults/{code}")
    async def clear_fault(cid: int, code: str) -> dict[str, Any]:
        active = runtime.sim.station_faults if cid == 0 else sim_connector(cid).faults
        if code not in active:
            raise HTTPException(404, f"code: fault {code!r} is not active on connector {cid}")
        runtime.sim.clear_fault(cid, code)
        runtime.step()
        return {"connector_id": cid, "code": code, "active": False}

    @sim.post("/inputs/{name}")
    async def set_input(name: str, body: InputBody) -> dict[str, Any]:
        """A digital input (e.g. load_shedding) changes; listeners react at once."""
        if not 1 <= len(name) <= 40:
            raise HTTPException(422, "name: 1 to 40 characters")
        runtime.sim.inputs.set(name, body.value)
        runtime.step()
        return {"name": name, "value": body.value}

    @api.get("/energy/inputs")
    async def energy_inputs() -> dict[str, Any]:
        """Grid meters (live values, health), load shedding and PV surplus state."""
        return runtime.energy_inputs.status()

    @api.post("/dlm/slaves/clear", tags=["energy"])
    async def dlm_clear() -> dict[str, Any]:
        """DLM master: forget the known slaves that are not online now."""
        dlm = getattr(runtime, "dlm", None)
        if dlm is None or not hasattr(dlm, "clear_table"):
            raise HTTPException(409, "this station is not a DLM master")
        return {"removed": dlm.clear_table()}

    api.include_router(sim)
    app.include_router(api)
    return app
