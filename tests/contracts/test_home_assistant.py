"""The discovery configs fit Home Assistant's MQTT discovery schema, encoded here as data.

The schema is read from home-assistant/core (2024-2025):
- homeassistant/components/mqtt/schemas.py: MQTT_AVAILABILITY_SINGLE/LIST_SCHEMA (``availability``
  is a list of {topic, payload_available, payload_not_available, value_template}, exclusive with
  ``availability_topic``), MQTT_ENTITY_DEVICE_INFO_SCHEMA (``identifiers`` or ``connections``
  required) and MQTT_ENTITY_COMMON_SCHEMA (device, origin with a required name, icon,
  json_attributes_*, unique_id, ...);
- homeassistant/components/mqtt/config.py: MQTT_RO_SCHEMA (``state_topic`` required,
  ``value_template``, qos, encoding);
- homeassistant/components/mqtt/binary_sensor.py and sensor.py: each platform's extra keys;
- homeassistant/components/binary_sensor/__init__.py (BinarySensorDeviceClass) and
  homeassistant/components/sensor/const.py (SensorDeviceClass, SensorStateClass).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from contracts.errors import ContractError
from contracts.home_assistant import ENTITIES, check_prefix, discovery_configs, discovery_filter, discovery_topic
from contracts.messages import DoorState, Mode
from contracts.topics import Topics

AVAILABILITY_ITEM_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}
DEVICE_KEYS = {
    "identifiers",
    "connections",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "hw_version",
    "serial_number",
    "sw_version",
    "via_device",
    "suggested_area",
    "configuration_url",
}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
COMMON_KEYS = {
    # MQTT_AVAILABILITY_SCHEMA
    "availability_topic",
    "availability_template",
    "payload_available",
    "payload_not_available",
    "availability_mode",
    "availability",
    # MQTT_ENTITY_COMMON_SCHEMA
    "device",
    "origin",
    "enabled_by_default",
    "entity_category",
    "icon",
    "json_attributes_topic",
    "json_attributes_template",
    "object_id",
    "unique_id",
    # MQTT_RO_SCHEMA / MQTT_BASE_SCHEMA
    "state_topic",
    "value_template",
    "qos",
    "encoding",
    "name",
}
PLATFORM_KEYS = {
    "binary_sensor": {"device_class", "expire_after", "force_update", "off_delay", "payload_off", "payload_on"},
    "sensor": {
        "device_class",
        "expire_after",
        "force_update",
        "last_reset_value_template",
        "options",
        "state_class",
        "suggested_display_precision",
        "unit_of_measurement",
    },
}
REQUIRED = {"state_topic"}
BINARY_SENSOR_DEVICE_CLASSES = set(
    "battery battery_charging carbon_monoxide cold connectivity door garage_door gas heat light lock moisture "
    "motion moving occupancy opening plug power presence problem running safety smoke sound tamper update "
    "vibration window".split()
)
SENSOR_DEVICE_CLASSES = set(
    "date enum timestamp apparent_power aqi area atmospheric_pressure battery blood_glucose_concentration "
    "carbon_monoxide carbon_dioxide conductivity current data_rate data_size distance duration energy "
    "energy_distance energy_storage frequency gas humidity illuminance irradiance moisture monetary "
    "nitrogen_dioxide nitrogen_monoxide nitrous_oxide ozone ph pm1 pm10 pm25 power_factor power precipitation "
    "precipitation_intensity pressure reactive_power signal_strength sound_pressure speed sulphur_dioxide "
    "temperature temperature_delta volatile_organic_compounds volatile_organic_compounds_parts voltage volume "
    "volume_storage volume_flow_rate water weight wind_direction wind_speed".split()
)
SENSOR_STATE_CLASSES = {"measurement", "total", "total_increasing"}
DISCOVERY_TOPIC_RE = re.compile(
    r"^homeassistant/(?P<component>\w+)/(?P<node>[a-zA-Z0-9_-]+)/(?P<object>[a-zA-Z0-9_-]+)/config$"
)


def schema_problems(component: str, config: dict[str, Any]) -> list[str]:
    """Return every way ``config`` breaks the discovery schema of ``component`` (empty: valid)."""
    problems: list[str] = []
    allowed = COMMON_KEYS | PLATFORM_KEYS[component]
    problems += [f"unknown key {k}" for k in sorted(set(config) - allowed)]
    problems += [f"missing {k}" for k in sorted(REQUIRED - set(config))]
    if "command_topic" in config:
        problems.append("command_topic: entities must be read-only")
    if "availability" in config and "availability_topic" in config:
        problems.append("availability and availability_topic are exclusive")
    for item in config.get("availability", []):
        if "topic" not in item or set(item) - AVAILABILITY_ITEM_KEYS:
            problems.append(f"bad availability item {item}")
    device = config.get("device")
    if device is not None and (
        set(device) - DEVICE_KEYS or not (device.get("identifiers") or device.get("connections"))
    ):
        problems.append(f"bad device {device}")
    if "origin" in config and ("name" not in config["origin"] or set(config["origin"]) - ORIGIN_KEYS):
        problems.append("bad origin")
    device_class = config.get("device_class")
    classes = BINARY_SENSOR_DEVICE_CLASSES if component == "binary_sensor" else SENSOR_DEVICE_CLASSES
    if device_class is not None and device_class not in classes:
        problems.append(f"device_class {device_class!r} is not a {component} class")
    if component == "sensor":
        if config.get("state_class") not in (None, *SENSOR_STATE_CLASSES):
            problems.append("bad state_class")
        if "options" in config and (
            device_class != "enum" or "state_class" in config or "unit_of_measurement" in config
        ):
            problems.append("options need device_class enum, no state_class and no unit")  # sensor.py validation
        if device_class == "enum" and not config.get("options"):
            problems.append("an enum sensor lists its options")
    if config.get("qos", 0) not in (0, 1, 2):
        problems.append("bad qos")
    return problems


def test_a_config_that_breaks_the_schema_is_caught() -> None:
    bad = {"state_topic": "x", "command_topic": "y", "device_class": "locked", "device": {"name": "n"}, "colour": 1}
    assert schema_problems("binary_sensor", bad) == [
        "unknown key colour",
        "unknown key command_topic",
        "command_topic: entities must be read-only",
        "bad device {'name': 'n'}",
        "device_class 'locked' is not a binary_sensor class",
    ]
    assert schema_problems("sensor", {"state_topic": "x", "device_class": "enum"}) == [
        "an enum sensor lists its options"
    ]


def test_every_discovery_config_fits_home_assistants_schema() -> None:
    configs = discovery_configs("s1", sw_version="1.2.3")
    assert len(configs) == len(ENTITIES) == 6
    for topic, config in configs.items():
        match = DISCOVERY_TOPIC_RE.fullmatch(topic)
        assert match, topic
        assert match["node"] == "smartstore_s1"
        assert schema_problems(match["component"], config) == [], topic
        assert config["value_template"]
        assert config["state_topic"] == Topics("s1").base + "/state/door"
        assert config["availability"] == [
            {"topic": Topics("s1").availability, "payload_available": "online", "payload_not_available": "offline"}
        ]
        assert config["unique_id"] == f"smartstore_s1_{match['object']}"
    json.dumps(configs)  # the payloads are JSON


def test_the_entities_are_read_only_and_the_lock_is_a_binary_sensor() -> None:
    configs = discovery_configs("s1")
    components = {t.split("/")[1] for t in configs}
    assert components == {"binary_sensor", "sensor"}  # no lock, switch, button or select
    lock = configs["homeassistant/binary_sensor/smartstore_s1/lock/config"]
    assert lock["device_class"] == "lock"
    assert not any(k.startswith("command") for c in configs.values() for k in c)
    assert configs["homeassistant/sensor/smartstore_s1/mode/config"]["options"] == [m.value for m in Mode]


def test_every_entity_shares_one_device_block() -> None:
    devices = [c["device"] for c in discovery_configs("s1", sw_version="9", device_name="Corner shop").values()]
    assert all(d == devices[0] for d in devices)
    assert devices[0] == {
        "identifiers": ["smartstore_s1"],
        "name": "Corner shop",
        "manufacturer": "smartstore",
        "model": "smartstore store agent",
        "sw_version": "9",
    }


def render(template: str, value_json: dict[str, Any]) -> str:
    """Render the small Jinja subset the configs use (if/elif/else, ``| length``, plain fields)."""
    jinja2 = pytest.importorskip("jinja2")
    env = jinja2.Environment(autoescape=False)
    env.filters.setdefault("tojson", json.dumps)
    return str(env.from_string(template).render(value_json=value_json)).strip()


def test_the_value_templates_read_the_door_state() -> None:
    state = DoorState(
        door_id="main",
        mode="night",
        lockdown=False,
        lock="unlocked",
        door="closed",
        occupancy=2,
        occupancy_cap=4,
        alarms=["door_held_open"],
    ).model_dump(mode="json")
    configs = {t.split("/")[3]: c for t, c in discovery_configs("s1").items()}
    assert render(configs["lock"]["value_template"], state) == "ON"  # on means unlocked
    assert render(configs["lock"]["value_template"], {**state, "lock": "locked"}) == "OFF"
    assert render(configs["lock"]["value_template"], {**state, "lock": "unknown"}) == "None"  # HA: unknown
    assert render(configs["door"]["value_template"], state) == "OFF"
    assert render(configs["occupancy"]["value_template"], state) == "2"
    assert json.loads(render(configs["occupancy"]["json_attributes_template"], state)) == {"occupancy_cap": 4}
    assert render(configs["mode"]["value_template"], state) == "night"
    assert render(configs["lockdown"]["value_template"], state) == "OFF"
    assert render(configs["lockdown"]["value_template"], {**state, "lockdown": True}) == "ON"
    assert render(configs["alarms"]["value_template"], state) == "1"


def test_topics_and_prefixes() -> None:
    assert discovery_topic("ha", "sensor", "s1", "mode") == "ha/sensor/smartstore_s1/mode/config"
    assert discovery_filter("homeassistant", "s1") == "homeassistant/+/smartstore_s1/+/config"
    assert check_prefix("site/ha") == "site/ha"
    for bad in ("", "ha/#", "+", "$SYS", "ha/", "/ha"):
        with pytest.raises(ContractError):
            check_prefix(bad)
