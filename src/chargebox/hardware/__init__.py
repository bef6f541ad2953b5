"""hardware adapter."""
