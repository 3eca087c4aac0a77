"""performance app."""
