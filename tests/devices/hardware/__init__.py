"""Tests against real devices (opt-in: --port)."""
