"""SMA SEMP (Sunny Home Manager): the HTTP interface, its claims and the SSDP announcement."""
