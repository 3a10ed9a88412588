"""Tests of devices.wiegand."""
