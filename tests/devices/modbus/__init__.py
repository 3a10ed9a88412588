"""Tests of devices.modbus."""
