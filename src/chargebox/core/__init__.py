"""Pure station core: no asyncio, no I/O; a clock is passed in."""
