"""Tests of devices.toledo8217."""
