"""modbus adapter."""
