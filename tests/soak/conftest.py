"""Reuse the agent integration fixtures."""

from tests.edge_agent.conftest import members, sims, subscriber  # noqa: F401
