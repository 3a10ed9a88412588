"""Tests of devices.cas."""
