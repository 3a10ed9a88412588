"""Tests of devices.escpos."""
