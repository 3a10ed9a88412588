"""Tests of devices.mtsics."""
