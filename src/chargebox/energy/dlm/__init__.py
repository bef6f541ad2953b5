"""Dynamic load management between stations: a master shares one supply over slaves."""
