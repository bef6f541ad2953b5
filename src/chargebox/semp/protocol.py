"""SEMP (SMA Simple Energy Management Protocol) XML: the documents and their parsing.

The device side of SEMP v1 (namespace http://www.sma.de/communication/schema/SEMP/v1):
`Device2EM` carries DeviceInfo, DeviceStatus and PlanningRequest; the energy manager
(Sunny Home Manager) posts `EM2Device` with DeviceControl (On, RecommendedPowerConsumption
in W). The UPnP device description names the SEMP service (`X_SEMPSERVICE`) so that the
Sunny Home Manager finds the base URL after the SSDP announcement. Only the standard
library's xml.etree is used; incoming XML is small and has no DTD (entities are refused).
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = "http://www.sma.de/communication/schema/SEMP/v1"
SEMP_SERVICE_NS = "urn:www.sma.de:device:SEMP:1"
UPNP_NS = "urn:schemas-upnp-org:device-1-0"
DEVICE_TYPE = "urn:schemas-simple-energy-management-protocol:device:Gateway:1"
WS_VERSION = "1.1.6"
DEVICE_ID_RE = re.compile(r"^F-[0-9A-F]{8}-[0-9A-F]{12}-[0-9A-F]{2}$")
MAX_BODY = 64 * 1024

ET.register_namespace("", NS)


class SempError(ValueError):
    """An EM2Device document that cannot be understood."""


def device_id_for(identity: str, vendor: str = "") -> str:
    """A stable SEMP DeviceId (F-vendor8-serial12-sub2) derived from the station identity."""
    digest = hashlib.sha256(f"chargebox:{identity}".encode()).hexdigest().upper()
    vendor_part = vendor.upper() if vendor else digest[:8]
    return f"F-{vendor_part}-{digest[8:20]}-00"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_id: str
    name: str
    vendor: str
    serial: str
    max_power_w: int
    min_power_w: int
    device_type: str = "EVCharger"
    optional_energy: bool = True


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    device_id: str
    on: bool
    power_w: int
    em_signals_accepted: bool = True
    averaging_interval_s: int = 60


@dataclass(frozen=True, slots=True)
class Timeframe:
    device_id: str
    earliest_start_s: int
    latest_end_s: int
    min_energy_wh: int
    max_energy_wh: int


@dataclass(frozen=True, slots=True)
class DeviceControl:
    device_id: str
    on: bool
    recommended_power_w: int | None
    timestamp: int = 0


@dataclass
class Device2EM:
    info: list[DeviceInfo] = field(default_factory=list)
    status: list[DeviceStatus] = field(default_factory=list)
    planning: list[Timeframe] = field(default_factory=list)


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _sub(parent: ET.Element, tag: str, text: object | None = None) -> ET.Element:
    el = ET.SubElement(parent, _q(tag))
    if text is not None:
        el.text = str(text).lower() if isinstance(text, bool) else str(text)
    return el


def _info(root: ET.Element, d: DeviceInfo) -> None:
    el = _sub(root, "DeviceInfo")
    ident = _sub(el, "Identification")
    _sub(ident, "DeviceId", d.device_id)
    _sub(ident, "DeviceName", d.name)
    _sub(ident, "DeviceType", d.device_type)
    _sub(ident, "DeviceSerial", d.serial)
    _sub(ident, "DeviceVendor", d.vendor)
    chars = _sub(el, "Characteristics")
    _sub(chars, "MaxPowerConsumption", d.max_power_w)
    _sub(chars, "MinPowerConsumption", d.min_power_w)
    caps = _sub(el, "Capabilities")
    _sub(_sub(caps, "CurrentPower"), "Method", "Measurement")
    _sub(_sub(caps, "Interruptions"), "InterruptionsAllowed", True)
    _sub(_sub(caps, "Timestamps"), "AbsoluteTimestamps", False)
    _sub(_sub(caps, "Requests"), "OptionalEnergy", d.optional_energy)


def _status(root: ET.Element, s: DeviceStatus) -> None:
    el = _sub(root, "DeviceStatus")
    _sub(el, "DeviceId", s.device_id)
    _sub(el, "EMSignalsAccepted", s.em_signals_accepted)
    _sub(el, "Status", "On" if s.on else "Off")
    info = _sub(_sub(el, "PowerConsumption"), "PowerInfo")
    _sub(info, "AveragePower", s.power_w)
    _sub(info, "Timestamp", 0)
    _sub(info, "AveragingInterval", s.averaging_interval_s)


def _planning(root: ET.Element, frames: list[Timeframe]) -> None:
    el = _sub(root, "PlanningRequest")
    for t in frames:
        tf = _sub(el, "Timeframe")
        _sub(tf, "DeviceId", t.device_id)
        _sub(tf, "EarliestStart", t.earliest_start_s)
        _sub(tf, "LatestEnd", t.latest_end_s)
        _sub(tf, "MinEnergy", t.min_energy_wh)
        _sub(tf, "MaxEnergy", t.max_energy_wh)


def render(doc: Device2EM) -> bytes:
    """The Device2EM document; a PlanningRequest only when there is a timeframe."""
    root = ET.Element(_q("Device2EM"))
    for d in doc.info:
        _info(root, d)
    for s in doc.status:
        _status(root, s)
    if doc.planning:
        _planning(root, doc.planning)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _text(el: ET.Element, tag: str) -> str | None:
    child = el.find(_q(tag))
    if child is None:
        child = el.find(tag)  # tolerate a client that forgets the namespace
    return None if child is None or child.text is None else child.text.strip()


def _bool(value: str, what: str) -> bool:
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise SempError(f"{what}: not a boolean: {value!r}")


def parse_em2device(body: bytes) -> list[DeviceControl]:
    """Every DeviceControl of an EM2Device document; SempError when it is not one."""
    if len(body) > MAX_BODY:
        raise SempError("document too large")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise SempError("DTDs and entities are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SempError(f"not XML: {exc}") from None
    if root.tag not in (_q("EM2Device"), "EM2Device"):
        raise SempError(f"expected EM2Device, got {root.tag}")
    controls: list[DeviceControl] = []
    for el in [*root.findall(_q("DeviceControl")), *root.findall("DeviceControl")]:
        device_id = _text(el, "DeviceId")
        on = _text(el, "On")
        if not device_id or on is None:
            raise SempError("DeviceControl needs DeviceId and On")
        power_text = _text(el, "RecommendedPowerConsumption")
        power: int | None = None
        if power_text is not None:
            try:
                power = round(float(power_text))
            except ValueError:
                raise SempError(f"RecommendedPowerConsumption: {power_text!r}") from None
            if power < 0:
                raise SempError("RecommendedPowerConsumption must not be negative")
        stamp = _text(el, "Timestamp")
        controls.append(
            DeviceControl(
                device_id, _bool(on, "On"), power, int(stamp) if stamp and stamp.isdigit() else 0
            )
        )
    return controls


def description(*, udn: str, name: str, vendor: str, serial: str, server: str, base: str) -> bytes:
    """The UPnP device description with the SEMP service (server URL and base path)."""
    ET.register_namespace("semp", SEMP_SERVICE_NS)
    root = ET.Element(f"{{{UPNP_NS}}}root")
    spec = ET.SubElement(root, f"{{{UPNP_NS}}}specVersion")
    ET.SubElement(spec, f"{{{UPNP_NS}}}major").text = "1"
    ET.SubElement(spec, f"{{{UPNP_NS}}}minor").text = "0"
    dev = ET.SubElement(root, f"{{{UPNP_NS}}}device")
    for tag, text in (
        ("deviceType", DEVICE_TYPE),
        ("friendlyName", name),
        ("manufacturer", vendor),
        ("modelName", "chargebox"),
        ("serialNumber", serial),
        ("UDN", udn),
    ):
        ET.SubElement(dev, f"{{{UPNP_NS}}}{tag}").text = text
    svc = ET.SubElement(dev, f"{{{SEMP_SERVICE_NS}}}X_SEMPSERVICE")
    for tag, text in (
        ("server", server),
        ("basePath", base),
        ("transport", "HTTP/Pull"),
        ("exchangeFormat", "XML"),
        ("wsVersion", WS_VERSION),
    ):
        ET.SubElement(svc, f"{{{SEMP_SERVICE_NS}}}{tag}").text = text
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
