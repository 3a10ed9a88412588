"""Devices in the agent's TOML are selected by catalog name; the shapes written before still load."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from devices.cas.profiles import CasConfig
from devices.escpos.profiles import EscposConfig
from devices.lcus.profiles import LcusConfig
from devices.modbus.profiles import ModbusConfig
from devices.mtsics.profiles import MtSicsConfig
from devices.nextion.profiles import NextionConfig
from devices.scanner.profiles import AIM_CRLF, ScannerConfig
from devices.toledo8217.profiles import Toledo8217Config
from edge_agent.config import AgentSettings, StationSettings

REPO = Path(__file__).resolve().parents[2]


def test_the_example_config_loads() -> None:
    settings = AgentSettings.from_toml(REPO / "deploy" / "agent.example.toml")
    assert isinstance(settings.lock, LcusConfig)
    assert settings.lock.driver_options() == {"channel": 1}
    assert settings.inputs is not None and settings.inputs.type == "modbus"
    assert isinstance(settings.scanner, ScannerConfig) and settings.scanner.type == "scanner"


def test_locks_by_catalog_name() -> None:
    lcus = AgentSettings.model_validate({"store_id": "s1", "lock": {"type": "lcus", "url": "loop://", "channel": 2}})
    assert isinstance(lcus.lock, LcusConfig) and lcus.lock.channel == 2
    modbus = AgentSettings.model_validate(
        {"store_id": "s1", "lock": {"type": "modbus", "url": "loop://", "unit": 3, "coil": 1}}
    )
    assert isinstance(modbus.lock, ModbusConfig)
    assert modbus.lock.driver_options() == {"unit": 3, "lock_coil": 1, "timed_pulse": False}
    timed = AgentSettings.model_validate(
        {"store_id": "s1", "lock": {"type": "modbus", "url": "x", "timed_pulse": True}}
    )
    assert timed.lock.driver_options()["timed_pulse"] is True  # the board times unlocks ("flash on")
    for bad in ({"url": "loop://"}, {"type": "teleporter", "url": "loop://"}, {"type": "lcus", "url": "x", "coil": 1}):
        with pytest.raises(ValidationError):
            AgentSettings.model_validate({"store_id": "s1", "lock": bad})


@pytest.mark.parametrize(
    ("scale", "model"),
    [
        ({}, MtSicsConfig),
        ({"type": "mtsics"}, MtSicsConfig),
        ({"type": "toledo8217"}, Toledo8217Config),
        ({"type": "cas"}, CasConfig),
    ],
)
def test_scales_by_catalog_name_and_the_old_default(scale: dict[str, str], model: type) -> None:
    station = StationSettings.model_validate({"station_id": "co1", "scale": {"url": "loop://", **scale}})
    assert type(station.scale) is model


def test_screens_scanners_and_unknown_names() -> None:
    station = StationSettings.model_validate(
        {
            "station_id": "co1",
            "scale": {"url": "loop://"},
            "screen": {"url": "loop://"},
            "scanner": {"url": "loop://", "profile": "aim"},
        }
    )
    assert isinstance(station.screen, NextionConfig)
    assert station.scanner is not None and station.scanner.driver_options() == {"profile": AIM_CRLF}
    pole = StationSettings.model_validate(
        {"station_id": "co1", "scale": {"url": "loop://"}, "screen": {"type": "escpos", "url": "loop://"}}
    )
    assert isinstance(pole.screen, EscposConfig)
    with pytest.raises(ValidationError):
        StationSettings.model_validate({"station_id": "co1", "scale": {"type": "nextion", "url": "loop://"}})


def test_readers_of_every_catalog_kind_at_the_door_and_a_station(tmp_path: Path) -> None:
    from devices.osdp.profiles import OsdpConfig, OsdpProfile
    from devices.wiegand.profiles import S4A_DECIMAL, KeypadConfig, WiegandConfig
    from edge_agent.config_errors import ConfigError

    key = tmp_path / "osdp.key"
    key.write_text("30313233343536373839" + "3a3b3c3d3e3f\n")
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""store_id = "s1"
[lock]
type = "lcus"
url = "loop://"
[[readers]]
type = "wiegand"
url = "/dev/store/door-wiegand"
profile = "s4a-decimal"
[[readers]]
type = "osdp"
url = "/dev/store/door-osdp"
scbk_file = "{key}"
baudrate = 115200
[[readers]]
type = "keypad"
url = "/dev/store/door-keypad"
[[readers]]
type = "scanner"
url = "/dev/store/door-scanner-2"
"""
    )
    settings = AgentSettings.from_toml(path)
    wiegand, osdp, keypad, scanner = settings.readers
    assert isinstance(wiegand, WiegandConfig) and wiegand.driver_options() == {"profile": S4A_DECIMAL}
    assert isinstance(osdp, OsdpConfig)
    profile = osdp.driver_options()["profile"]
    assert isinstance(profile, OsdpProfile) and profile.scbk == bytes(range(0x30, 0x40))
    assert profile.serial.baudrate == 115200
    assert isinstance(keypad, KeypadConfig) and isinstance(scanner, ScannerConfig)
    station = StationSettings.model_validate(
        {"station_id": "co1", "scale": {"url": "loop://"}, "readers": [{"type": "keypad", "url": "loop://"}]}
    )
    assert isinstance(station.readers[0], KeypadConfig)

    path.write_text('store_id = "s1"\n[lock]\ntype = "lcus"\nurl = "x"\n[[readers]]\ntype = "osdp"\nurl = "y"\n')
    with pytest.raises(ConfigError) as err:
        AgentSettings.from_toml(path)
    assert "scbk_file" in str(err.value) and "Traceback" not in str(err.value)
    with pytest.raises(ValidationError):
        AgentSettings.model_validate(
            {"store_id": "s1", "lock": {"type": "lcus", "url": "x"}, "readers": [{"url": "z"}]}
        )
