"""System tests reuse the agent's simulated door hardware and members."""

from tests.edge_agent.conftest import members, sims

__all__ = ["members", "sims"]
