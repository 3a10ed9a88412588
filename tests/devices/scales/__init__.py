"""Tests of devices.scales."""
