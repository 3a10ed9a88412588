"""The edge-to-cloud wire contract: the MQTT topic map, payload models and the member-code format.

Both ``edge_agent`` and ``cloud_sync`` import this package; nothing here does I/O.
"""

from contracts.errors import ContractError
from contracts.messages import Command, Event
from contracts.topics import PREFIX, TOPIC_MAP, Route, Topics, TopicSpec, UnknownTopic, route

__all__ = [
    "PREFIX",
    "TOPIC_MAP",
    "Command",
    "ContractError",
    "Event",
    "Route",
    "TopicSpec",
    "Topics",
    "UnknownTopic",
    "route",
]
