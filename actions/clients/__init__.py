"""HTTP clients of the actions."""
