"""Tests of devices.nextion."""
