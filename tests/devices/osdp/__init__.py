"""Tests of devices.osdp."""
