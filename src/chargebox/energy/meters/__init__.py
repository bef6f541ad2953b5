"""Grid meters: register maps (data files), the Modbus TCP client adapter, a simulated meter."""
