"""energy adapter."""
