"""ocpp16 adapter."""
