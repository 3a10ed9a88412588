"""Test support that ships with the app: a private Mosquitto for tests, demos and benchmarks."""
