"""Tests of devices.lcus."""
