"""training app."""
