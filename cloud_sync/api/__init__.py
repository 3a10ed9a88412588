"""REST API (``/api/v1``): dependencies, schemas and one router module per resource."""
