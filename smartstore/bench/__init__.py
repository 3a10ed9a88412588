"""Benchmarks: each prints JSON figures; speed targets live here, never in timed unit tests."""
