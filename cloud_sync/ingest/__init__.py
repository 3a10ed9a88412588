"""MQTT ingest: the paho MQTT 5 worker, pure classification and the batch writer.

``worker.py`` receives and acknowledges, ``classify.py`` checks messages against the wire
contract, ``batch.py`` owns the transaction and retry policy; the effects are in
``cloud_sync.services``.
"""
