"""Adapters: the only modules of the agent that touch paho, pyserial, OpenCV, SQLite or devices."""
