"""Tests of the serial device layer."""
