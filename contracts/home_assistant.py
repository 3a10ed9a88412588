"""Home Assistant MQTT discovery for a store: the retained ``config`` messages and their topics.

Pure data (the Zigbee2MQTT/Frigate convention): one discovery topic per entity,
``<prefix>/<component>/smartstore_<store>/<object>/config``, whose JSON points Home Assistant at
the store's existing retained ``state/door`` topic with a ``value_template`` and at its
availability topic. Every entity is read-only (``binary_sensor`` and ``sensor``, never ``lock``
or ``switch``, no ``command_topic``): the door only opens for a signed command
(docs/adr/0008-signed-downlink.md), which Home Assistant cannot sign. The broker ACLs
(cloud_sync/broker/acl.py) use ``discovery_filter`` so a store may publish exactly these topics.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.errors import ContractError
from contracts.messages import Mode
from contracts.names import check_store_id
from contracts.topics import AVAILABILITY, DOOR_STATE, OFFLINE, ONLINE

DEFAULT_PREFIX = "homeassistant"
NODE_PREFIX = "smartstore_"
MANUFACTURER = "smartstore"
MODEL = "smartstore store agent"
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a usable discovery prefix (plain levels, no wildcards), else raise."""
    if not _PREFIX_RE.fullmatch(prefix):
        raise ContractError(f"invalid discovery prefix {prefix!r}: use levels of [A-Za-z0-9_-] joined by '/'")
    return prefix


def node_id(store_id: str) -> str:
    """Return the discovery node id of a store (``smartstore_<store>``)."""
    return NODE_PREFIX + check_store_id(store_id)


def discovery_topic(prefix: str, component: str, store_id: str, object_id: str) -> str:
    """Return ``<prefix>/<component>/smartstore_<store>/<object>/config``."""
    return f"{check_prefix(prefix)}/{component}/{node_id(store_id)}/{object_id}/config"


def discovery_filter(prefix: str, store_id: str) -> str:
    """Return the filter matching every discovery topic of one store (its broker publish ACL)."""
    return f"{check_prefix(prefix)}/+/{node_id(store_id)}/+/config"


@dataclass(frozen=True)
class EntitySpec:
    """One Home Assistant entity read from the store's ``state/door`` snapshot."""

    component: str  # "binary_sensor" or "sensor"
    object_id: str
    name: str
    value_template: str
    extra: Mapping[str, Any] = field(default_factory=dict)


def _on_off(test: str, off: str) -> str:
    """Return a binary_sensor template: ``ON`` when ``test``, ``OFF`` when ``off``, else unknown."""
    return f"{{% if {test} %}}ON{{% elif {off} %}}OFF{{% else %}}None{{% endif %}}"


ENTITIES: tuple[EntitySpec, ...] = (
    # device_class lock: on means unlocked, off means locked (HA's BinarySensorDeviceClass.LOCK).
    EntitySpec(
        "binary_sensor",
        "lock",
        "Door lock",
        _on_off("value_json.lock == 'unlocked'", "value_json.lock == 'locked'"),
        {"device_class": "lock", "payload_on": "ON", "payload_off": "OFF"},
    ),
    EntitySpec(
        "binary_sensor",
        "door",
        "Door",
        _on_off("value_json.door == 'open'", "value_json.door == 'closed'"),
        {"device_class": "door", "payload_on": "ON", "payload_off": "OFF"},
    ),
    EntitySpec(
        "sensor",
        "occupancy",
        "Occupancy",
        "{{ value_json.occupancy }}",
        {
            "state_class": "measurement",
            "unit_of_measurement": "people",
            "icon": "mdi:account-group",
            "json_attributes_template": "{{ {'occupancy_cap': value_json.occupancy_cap} | tojson }}",
        },
    ),
    EntitySpec(
        "sensor",
        "mode",
        "Mode",
        "{{ value_json.mode }}",
        {"device_class": "enum", "options": [m.value for m in Mode], "icon": "mdi:theme-light-dark"},
    ),
    EntitySpec(
        "binary_sensor",
        "lockdown",
        "Lockdown",
        _on_off("value_json.lockdown", "not value_json.lockdown"),
        {"payload_on": "ON", "payload_off": "OFF", "icon": "mdi:shield-lock"},
    ),
    EntitySpec(
        "sensor",
        "alarms",
        "Active alarms",
        "{{ value_json.alarms | length }}",
        {
            "state_class": "measurement",
            "icon": "mdi:alarm-light",
            "json_attributes_template": "{{ {'alarms': value_json.alarms} | tojson }}",
        },
    ),
)


def device_block(store_id: str, sw_version: str, name: str | None = None) -> dict[str, Any]:
    """Return the ``device`` block every entity of a store shares."""
    return {
        "identifiers": [node_id(store_id)],
        "name": name or f"smartstore {store_id}",
        "manufacturer": MANUFACTURER,
        "model": MODEL,
        "sw_version": sw_version,
    }


def discovery_configs(
    store_id: str, *, prefix: str = DEFAULT_PREFIX, sw_version: str = "0", device_name: str | None = None
) -> dict[str, dict[str, Any]]:
    """Return every discovery config of a store, by topic (publish each retained, as JSON)."""
    state_topic = DOOR_STATE.topic(store_id)
    availability = [
        {"topic": AVAILABILITY.topic(store_id), "payload_available": ONLINE, "payload_not_available": OFFLINE}
    ]
    device = device_block(store_id, sw_version, device_name)
    out: dict[str, dict[str, Any]] = {}
    for spec in ENTITIES:
        config: dict[str, Any] = {
            "name": spec.name,
            "unique_id": f"{node_id(store_id)}_{spec.object_id}",
            "state_topic": state_topic,
            "value_template": spec.value_template,
            "availability": availability,
            "device": device,
            "origin": {"name": MANUFACTURER, "sw_version": sw_version},
            "qos": DOOR_STATE.qos,
            **spec.extra,
        }
        if "json_attributes_template" in config:
            config["json_attributes_topic"] = state_topic
        out[discovery_topic(prefix, spec.component, store_id, spec.object_id)] = config
    return out
