"""inference app."""
