"""chargebox: controller software of an EV charging station (OCPP 1.6J)."""

__version__ = "0.1.0"
