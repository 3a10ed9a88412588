"""The edge-to-cloud wire contract: MQTT topics, payload models and the member-code format.

Both ``edge_agent`` and ``cloud_sync`` import this package; nothing here does I/O.
"""

from contracts.errors import ContractError
from contracts.topics import PREFIX, Topics

__all__ = ["PREFIX", "ContractError", "Topics"]
