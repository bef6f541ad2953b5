"""OCTT 1.6 charge-point test cases, section 2.17 (Local Authorization List).

A real `chargebox run` process against the test CSMS; the list is managed with
SendLocalList / GetLocalListVersion and used by the station's authorization.
"""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call
from tests.conftest import StationFactory
from tests.csms import StationProcess, TestCSMS
from tests.octt.test_octt_2_01_to_2_05 import actions, change, index_of, status_at


def entry(id_tag: str, status: str | None = "Accepted", **info: Any) -> dict[str, Any]:
    """An AuthorizationData; status None: no idTagInfo (a Differential removal)."""
    if status is None:
        return {"idTag": id_tag}
    return {"idTag": id_tag, "idTagInfo": {"status": status, **info}}


async def send_list(
    csms: TestCSMS, version: int, update: str, entries: list[dict[str, Any]] | None
) -> str:
    result = await csms.call(
        call.SendLocalList(
            list_version=version, update_type=update, local_authorization_list=entries
        )
    )
    return str(result["status"])


async def list_version(csms: TestCSMS) -> int:
    return int((await csms.call(call.GetLocalListVersion()))["listVersion"])


async def restart(station: StationProcess, csms: TestCSMS) -> None:
    """kill -9 and start again on the same data directory; wait for the new boot."""
    station.kill()
    before = len(csms.frames)
    station.start()
    await station.wait_ready()
    await index_of(csms, "BootNotification", after=before, timeout=10)
    await index_of(csms, "StatusNotification", {"connectorId": 2}, after=before, timeout=10)


# ------------------------------------------------------------------ GetLocalListVersion


async def test_tc_042_1_cs_get_local_list_version_not_supported(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    await station_factory(keys={"LocalAuthListEnabled": "false"})
    assert await list_version(csms) == -1


async def test_tc_042_2_cs_get_local_list_version_empty(
    station: StationProcess, csms: TestCSMS
) -> None:
    assert await list_version(csms) == 0  # never set
    assert await send_list(csms, 3, "Full", [entry("TAG1")]) == "Accepted"
    assert await list_version(csms) == 3
    assert await send_list(csms, 4, "Full", []) == "Accepted"
    assert await list_version(csms) == 0  # §5.10: 0 means the list is empty


# ------------------------------------------------------------------ SendLocalList


async def test_tc_043_cs_send_local_authorization_list(
    station: StationProcess, csms: TestCSMS
) -> None:
    full = [
        entry("TAG1"),
        entry("TAG2", "Blocked"),
        entry("TAG3", expiryDate="2099-01-01T00:00:00Z"),
    ]
    assert await send_list(csms, 1, "Full", full) == "Accepted"
    assert await list_version(csms) == 1
    diff = [entry("TAG2", None), entry("TAG4", parentIdTag="FLEET")]
    assert await send_list(csms, 2, "Differential", diff) == "Accepted"
    assert await list_version(csms) == 2
    # The list is what the station decides with: TAG4 starts offline-style at once.
    await change(csms, "LocalPreAuthorize", "true")
    start = len(csms.frames)
    await station.plug(1)
    await station.present("TAG4", 1)
    await index_of(csms, "StartTransaction", {"idTag": "TAG4"}, start)
    assert "Authorize" not in actions(csms, start)
    # Persisted: the version and the entries survive a restart.
    await restart(station, csms)
    assert await list_version(csms) == 2
    assert await send_list(csms, 3, "Differential", [entry("TAG1", None)]) == "Accepted"
    assert await list_version(csms) == 3


async def test_tc_043_1_cs_send_local_authorization_list_not_supported(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    await station_factory(keys={"LocalAuthListEnabled": "false"})
    assert await send_list(csms, 1, "Full", [entry("TAG1")]) == "NotSupported"
    await change(csms, "LocalAuthListEnabled", "true")
    assert await list_version(csms) == 0  # nothing was stored


async def test_tc_043_2_cs_send_local_authorization_list_version_mismatch(
    station: StationProcess, csms: TestCSMS
) -> None:
    assert await send_list(csms, 5, "Full", [entry("TAG1")]) == "Accepted"
    # A Differential update must move the version forward (not equal, not lower).
    assert await send_list(csms, 5, "Differential", [entry("TAG2")]) == "VersionMismatch"
    assert await send_list(csms, 4, "Differential", [entry("TAG2")]) == "VersionMismatch"
    assert await list_version(csms) == 5
    # A Full update is how the central system recovers: any version is taken.
    assert await send_list(csms, 2, "Full", [entry("TAG2")]) == "Accepted"
    assert await list_version(csms) == 2


async def test_tc_043_3_cs_send_local_authorization_list_failed(
    station_factory: StationFactory, csms: TestCSMS
) -> None:
    await station_factory(keys={"SendLocalListMaxLength": "2", "LocalAuthListMaxLength": "3"})
    three = [entry("A"), entry("B"), entry("C")]
    assert await send_list(csms, 1, "Full", three) == "Failed"  # > SendLocalListMaxLength
    assert await list_version(csms) == 0
    assert await send_list(csms, 1, "Full", three[:2]) == "Accepted"
    assert await send_list(csms, 2, "Differential", [entry("C")]) == "Accepted"
    # The result would exceed LocalAuthListMaxLength: Failed, nothing changed.
    assert await send_list(csms, 3, "Differential", [entry("D")]) == "Failed"
    assert await list_version(csms) == 2
    # Removing one makes room in the same message.
    assert await send_list(csms, 3, "Differential", [entry("A", None), entry("D")]) == "Accepted"
    assert await list_version(csms) == 3


# ------------------------------------------------------------------ using the list


async def test_tc_008_cs_regular_start_charging_session_id_in_local_authorization_list(
    station: StationProcess, csms: TestCSMS
) -> None:
    """LocalPreAuthorize: an idTag valid in the local list starts without Authorize."""
    assert await send_list(csms, 1, "Full", [entry("TAG1")]) == "Accepted"
    await change(csms, "LocalPreAuthorize", "true")
    start = len(csms.frames)
    await station.present("TAG1", 1)
    preparing = await status_at(csms, 1, "Preparing", start)
    await station.plug(1)
    tx = await index_of(csms, "StartTransaction", {"connectorId": 1, "idTag": "TAG1"}, start)
    charging = await status_at(csms, 1, "Charging", start)
    assert preparing < tx < charging
    assert "Authorize" not in actions(csms, start)
    # An idTag the list does not know is still asked for.
    await index_of(csms, "StatusNotification", {"connectorId": 1}, start)
    later = len(csms.frames)
    await station.plug(2)
    await station.present("UNLISTED", 2)
    await index_of(csms, "Authorize", {"idTag": "UNLISTED"}, later)
