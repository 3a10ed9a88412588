"""Cloud side of smartstore: REST API, MQTT ingest worker, downlink publisher and dashboard.

Nothing is built at import time: call :func:`cloud_sync.main.create_app` with a
:class:`cloud_sync.config.CloudSettings`, or use the ``smartstore cloud`` commands.
"""
