"""OCPP 1.6 Firmware Management: UpdateFirmware and GetDiagnostics, and their jobs.

UpdateFirmware: at retrieveDate the image is downloaded (HTTP(S) or FTP, `retries` attempts
`retryInterval` apart), then verified: non-empty, not starting with `INVALID` (how tests and
the simulator inject a broken image), and matching `<image>.sha256` when the server has one.
A good image is installed by recording its version (the file name stem) and restarting the
process; the next BootNotification reports it as firmwareVersion and FirmwareStatusNotification
Installed follows. Running transactions are stopped with reason Reboot just before that
restart, rather than waited for: a car charging all day would otherwise hold off a security
fix indefinitely, and the central system chose retrieveDate. A bad image is never installed:
InstallationFailed, no restart, charging goes on. The job is persisted in the StateStore at
each step, so a restart (planned or not) resumes it or reports its outcome.

GetDiagnostics: a zip of the logs in the window and the configuration without secrets,
uploaded by HTTP PUT or FTP STOR into the given directory URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargebox.core.clock import parse_iso
from chargebox.core.events import ResetRequested
from chargebox.core.station import Station
from chargebox.core.types import StopReason
from chargebox.ocpp16 import diagnostics, transfer
from chargebox.ocpp16.handlers import ActionHandler
from chargebox.ocpp16.rpc import HandlerResult
from chargebox.store import StateStore

if TYPE_CHECKING:
    from chargebox.ocpp16.client import OcppClient

log = logging.getLogger(__name__)

NS = "firmware"
DEFAULT_ATTEMPTS = 3
DEFAULT_RETRY_INTERVAL_S = 30
HISTORY_LENGTH = 50


def installed_version(state: StateStore) -> str | None:
    """The firmware version the last successful update installed, for BootNotification."""
    value = state.get(NS, "installed_version")
    return str(value) if value else None


def update_history(state: StateStore) -> list[dict[str, Any]]:
    """Firmware updates so far, newest first (OCPP UpdateFirmware and web uploads)."""
    value = state.get(NS, "history", [])
    return list(value) if isinstance(value, list) else []


def _record(state: StateStore, job: dict[str, Any], result: str, detail: str = "") -> None:
    entry = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "version": job.get("version"),
        "source": job.get("source", "ocpp"),
        "location": job.get("location"),
        "result": result,
        "detail": detail,
    }
    state.set(NS, "history", [entry, *update_history(state)][:HISTORY_LENGTH])


class FirmwareBusy(Exception):
    """An update is already being downloaded or installed."""


def verify_image(image: Path, checksum: Path | None) -> str | None:
    """Why the image must not be installed, or None when it is good."""
    data = image.read_bytes()
    if not data:
        return "empty image"
    if data.startswith(b"INVALID"):
        return "image marked INVALID"
    if checksum is not None:
        expected = checksum.read_text(errors="replace").split()
        if not expected or expected[0].lower() != hashlib.sha256(data).hexdigest():
            return "SHA-256 mismatch"
    return None


class FirmwareManagement:
    """The Firmware Management profile's handlers (a `HandlerGroup`) and background jobs."""

    def __init__(
        self,
        station: Station,
        state: StateStore,
        data_dir: Path,
        identity: str,
        *,
        attempts_default: int = DEFAULT_ATTEMPTS,
    ) -> None:
        self.station = station
        self.state = state
        self.data_dir = data_dir
        self.identity = identity
        self.attempts_default = attempts_default
        self.client: OcppClient | None = None
        self.firmware_status = "Idle"
        self.diagnostics_status = "Idle"
        self._firmware_job: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()

    def table(self) -> dict[str, ActionHandler]:
        return {"UpdateFirmware": self.update_firmware, "GetDiagnostics": self.get_diagnostics}

    def triggers(self) -> dict[str, Callable[[], Any]]:
        """TriggerMessage: the real current status, Idle when nothing runs."""
        return {
            "FirmwareStatusNotification": lambda: self._spawn(
                self._send("FirmwareStatusNotification", self.firmware_status)
            ),
            "DiagnosticsStatusNotification": lambda: self._spawn(
                self._send("DiagnosticsStatusNotification", self.diagnostics_status)
            ),
        }

    # -------------------------------------------------------------- handlers

    def update_firmware(self, p: dict[str, Any]) -> HandlerResult:
        job = {
            "location": p["location"],
            "retrieve_at": parse_iso(p["retrieveDate"]),
            "attempts": max(1, p.get("retries", self.attempts_default)),
            "retry_interval": max(0, p.get("retryInterval", DEFAULT_RETRY_INTERVAL_S)),
            "phase": "scheduled",
        }
        if self.firmware_status == "Installing":
            log.warning("UpdateFirmware while installing: the new request is ignored")
            return HandlerResult({})
        self.state.set(NS, "job", job)
        return HandlerResult({}, after=lambda: self._start_firmware(job))

    def get_diagnostics(self, p: dict[str, Any]) -> HandlerResult:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{self.identity}-diagnostics-{stamp}.zip"
        job = {
            "location": p["location"],
            "file": name,
            "start": parse_iso(p["startTime"]) if "startTime" in p else None,
            "stop": parse_iso(p["stopTime"]) if "stopTime" in p else None,
            "attempts": max(1, p.get("retries", self.attempts_default)),
            "retry_interval": max(0, p.get("retryInterval", DEFAULT_RETRY_INTERVAL_S)),
        }
        return HandlerResult({"fileName": name}, after=lambda: self._spawn(self._diagnostics(job)))

    # ------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._spawn(self.run())

    async def stop(self) -> None:
        """Shutdown: jobs end here; a persisted firmware job resumes after the restart."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run(self) -> None:
        """At start: report the outcome of an install that restarted us, or resume a job."""
        job = self.state.get(NS, "job")
        if job is None:
            return
        phase = job.get("phase")
        if phase in ("restarting", "installing"):
            ok = phase == "restarting" and installed_version(self.state) == job.get("version")
            status = "Installed" if ok else "InstallationFailed"
            log.info("firmware %s after restart: %s", job.get("version"), status)
            self.state.delete(NS, "job")
            await self._send_when_online("FirmwareStatusNotification", status)
        else:
            self._start_firmware(job)

    def _spawn(self, coro: Any) -> asyncio.Future[None]:
        task: asyncio.Future[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _start_firmware(self, job: dict[str, Any]) -> None:
        if self._firmware_job is not None and not self._firmware_job.done():
            self._firmware_job.cancel()  # a newer UpdateFirmware replaces a waiting one
        self._firmware_job = self._spawn(self._firmware(job))

    # -------------------------------------------------------------- firmware

    async def _firmware(self, job: dict[str, Any]) -> None:
        try:
            await asyncio.sleep(max(0.0, job["retrieve_at"] - time.time()))
            image = await self._download(job)
            if image is None:
                return
            await self._install(job, image)
        except asyncio.CancelledError:
            if self._firmware_job is asyncio.current_task():  # not replaced by a newer job
                self.firmware_status = "Idle"
            raise
        except Exception:  # a bug must not leave the status stuck
            log.exception("firmware update failed")
            self._set_firmware(job, "Idle", None)

    def _set_firmware(self, job: dict[str, Any], status: str, phase: str | None) -> None:
        self.firmware_status = status
        if phase is None:
            self.state.delete(NS, "job")
        else:
            job["phase"] = phase
            self.state.set(NS, "job", job)

    async def _download(self, job: dict[str, Any]) -> Path | None:
        url = job["location"]
        folder = self.data_dir / "firmware"
        folder.mkdir(parents=True, exist_ok=True)
        image = folder / (transfer.file_name(url) or "firmware.bin")
        checksum = image.with_name(image.name + ".sha256")
        self._set_firmware(job, "Downloading", "downloading")
        await self._send("FirmwareStatusNotification", "Downloading")
        for attempt in range(1, job["attempts"] + 1):
            try:
                await asyncio.to_thread(transfer.download, url, image)
                checksum.unlink(missing_ok=True)
                with contextlib.suppress(transfer.NotFound):
                    await asyncio.to_thread(transfer.download, url + ".sha256", checksum)
                break
            except transfer.TransferError as exc:
                log.warning("firmware download attempt %d/%d: %s", attempt, job["attempts"], exc)
                if attempt < job["attempts"]:
                    await asyncio.sleep(job["retry_interval"])
        else:
            self._set_firmware(job, "Idle", None)
            _record(self.state, job, "DownloadFailed")
            await self._send("FirmwareStatusNotification", "DownloadFailed")
            return None
        self._set_firmware(job, "Downloaded", "downloaded")
        await self._send("FirmwareStatusNotification", "Downloaded")
        return image

    async def _install(self, job: dict[str, Any], image: Path) -> None:
        checksum = image.with_name(image.name + ".sha256")
        job["version"] = image.stem
        self._set_firmware(job, "Installing", "installing")
        await self._send("FirmwareStatusNotification", "Installing")
        problem = await asyncio.to_thread(
            verify_image, image, checksum if checksum.exists() else None
        )
        if problem is not None:
            log.error("firmware %s not installed: %s", image.name, problem)
            self._set_firmware(job, "Idle", None)
            _record(self.state, job, "InstallationFailed", problem)
            await self._send("FirmwareStatusNotification", "InstallationFailed")
            return
        self.state.set(NS, "installed_version", job["version"])
        _record(self.state, job, "Installed")
        self._set_firmware(job, "Installing", "restarting")
        log.warning("firmware %s installed: restarting into it", job["version"])
        now = self.station.clock.time()
        for connector_id, c in self.station.connectors.items():
            if c.transaction is not None:
                self.station.stop_transaction(connector_id, StopReason.REBOOT)
        self.station.tick()
        self.station.bus.publish(ResetRequested(now, "Soft"))

    async def install_upload(self, image: Path) -> str | None:
        """Install an image uploaded through the web interface, by the UpdateFirmware path.

        The image is already in ``<data-dir>/firmware/``: verification, the recorded version,
        stopping transactions and the restart are those of an OCPP update (the central
        system, when connected, gets the same FirmwareStatusNotifications). Returns why the
        image was refused, or None when it is installed and the restart is on its way.
        """
        if self.firmware_status in ("Downloading", "Installing"):
            raise FirmwareBusy(self.firmware_status)
        if self._firmware_job is not None and not self._firmware_job.done():
            self._firmware_job.cancel()  # the upload replaces a scheduled OCPP update
        job: dict[str, Any] = {
            "location": f"upload:{image.name}",
            "retrieve_at": time.time(),
            "attempts": 1,
            "retry_interval": 0,
            "phase": "downloaded",
            "source": "upload",
        }
        self.state.set(NS, "job", job)
        try:
            await self._install(job, image)
        except Exception:
            log.exception("firmware upload install failed")
            self._set_firmware(job, "Idle", None)
            _record(self.state, job, "InstallationFailed", "internal error")
            return "internal error"
        if job.get("phase") == "restarting":
            return None
        history = update_history(self.state)
        return str(history[0].get("detail") or "InstallationFailed") if history else "failed"

    # ----------------------------------------------------------- diagnostics

    async def _diagnostics(self, job: dict[str, Any]) -> None:
        path = self.data_dir / "diagnostics" / job["file"]
        self.diagnostics_status = "Uploading"
        try:
            configuration = [kv.to_ocpp() for kv in self.station.config.get_configuration()[0]]
            await asyncio.to_thread(
                diagnostics.build_archive,
                path,
                logs=diagnostics.log_dir(self.data_dir),
                configuration=configuration,
                start=job["start"],
                stop=job["stop"],
                info={"identity": self.identity, "firmwareVersion": installed_version(self.state)},
            )
            await self._send("DiagnosticsStatusNotification", "Uploading")
            status = "UploadFailed"
            for attempt in range(1, job["attempts"] + 1):
                try:
                    await asyncio.to_thread(transfer.upload, job["location"], path)
                    status = "Uploaded"
                    break
                except transfer.TransferError as exc:
                    log.warning("diagnostics upload %d/%d: %s", attempt, job["attempts"], exc)
                    if attempt < job["attempts"]:
                        await asyncio.sleep(job["retry_interval"])
            self.diagnostics_status = "Idle"
            await self._send("DiagnosticsStatusNotification", status)
        finally:
            self.diagnostics_status = "Idle"
            path.unlink(missing_ok=True)

    # ------------------------------------------------------------- messages

    async def _send(self, action: str, status: str) -> None:
        """Send now if online; a status notification is not queued while offline."""
        if self.client is None:
            return
        with contextlib.suppress(Exception):
            await self.client.send_direct(action, {"status": status})

    async def _send_when_online(self, action: str, status: str, timeout: float = 600.0) -> None:
        """The outcome of an install must reach the central system: wait for the connection."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client = self.client
            if client is not None and client.accepted:
                try:
                    await client.send_direct(action, {"status": status})
                    return
                except Exception as exc:
                    log.warning("%s %s not delivered: %s", action, status, exc)
            await asyncio.sleep(0.5)
