"""MQTT ingest: a paho MQTT 5 worker (worker.py) and the batch writer it drives (handlers.py)."""
