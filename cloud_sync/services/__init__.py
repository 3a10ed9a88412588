"""Business logic shared by the REST API, the ingest worker and the downlink publisher."""
