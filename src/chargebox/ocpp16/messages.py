"""Core events and records to OCPP 1.6 payloads and back (camelCase JSON dicts)."""

from __future__ import annotations

from typing import Any

from chargebox.core.clock import iso, parse_iso
from chargebox.core.events import (
    MeterSample,
    SampledValue,
    StatusChanged,
    TransactionStarted,
    TransactionStopped,
)
from chargebox.core.types import AuthorizationStatus, IdTagInfo


def sampled_value(v: SampledValue) -> dict[str, Any]:
    out: dict[str, Any] = {"value": v.value, "context": v.context, "measurand": v.measurand}
    if v.phase:
        out["phase"] = v.phase
    if v.location:
        out["location"] = v.location
    if v.unit:
        out["unit"] = v.unit
    return out


def meter_value(sample: MeterSample) -> dict[str, Any]:
    return {
        "timestamp": iso(sample.timestamp),
        "sampledValue": [sampled_value(v) for v in sample.values],
    }


def meter_values(sample: MeterSample) -> dict[str, Any]:
    """MeterValues.req without transactionId: the sender adds it once it is known."""
    return {"connectorId": sample.connector_id, "meterValue": [meter_value(sample)]}


def status_notification(event: StatusChanged) -> dict[str, Any]:
    out: dict[str, Any] = {
        "connectorId": event.connector_id,
        "errorCode": event.error_code,
        "status": event.status.value,
        "timestamp": iso(event.timestamp),
    }
    if event.vendor_error_code:
        out["vendorErrorCode"] = event.vendor_error_code[:50]
    if event.info:
        out["info"] = event.info[:50]
    return out


def start_transaction(event: TransactionStarted) -> dict[str, Any]:
    out: dict[str, Any] = {
        "connectorId": event.connector_id,
        "idTag": event.id_tag,
        "meterStart": event.meter_start_wh,
        "timestamp": iso(event.timestamp),
    }
    if event.reservation_id is not None:
        out["reservationId"] = event.reservation_id
    return out


def stop_transaction(event: TransactionStopped) -> dict[str, Any]:
    """StopTransaction.req without transactionId: the sender adds it once it is known."""
    out: dict[str, Any] = {
        "meterStop": event.meter_stop_wh,
        "timestamp": iso(event.timestamp),
        "reason": event.reason.value,
    }
    if event.id_tag:
        out["idTag"] = event.id_tag
    if event.transaction_data:
        out["transactionData"] = [meter_value(s) for s in event.transaction_data]
    return out


def id_tag_info(data: dict[str, Any] | None) -> IdTagInfo | None:
    if not data:
        return None
    expiry = data.get("expiryDate")
    return IdTagInfo(
        AuthorizationStatus(data["status"]),
        parse_iso(expiry) if expiry else None,
        data.get("parentIdTag"),
    )
