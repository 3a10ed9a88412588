"""Tests of devices.scanner."""
