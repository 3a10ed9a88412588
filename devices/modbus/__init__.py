"""Modbus RTU relay/IO modules: coils for the lock, discrete inputs for door contact and exit button."""
