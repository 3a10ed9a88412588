"""Agent settings: one pydantic model, loaded from a TOML file, handed down by the bootstrap."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from contracts.topics import STORE_ID_RE
from edge_agent.domain.access import TimeRange


def _time_range(text: str) -> str:
    TimeRange.parse(text)  # a bad range fails when the file is loaded, naming the field
    return text


TimeRangeText = Annotated[str, AfterValidator(_time_range)]


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LcusLockConfig(_Cfg):
    """LCUS USB relay as the lock output."""

    type: Literal["lcus"] = "lcus"
    url: str
    channel: int = Field(default=1, ge=1, le=8)


class ModbusLockConfig(_Cfg):
    """A Modbus RTU module's coil as the lock output (may share the inputs' port)."""

    type: Literal["modbus"] = "modbus"
    url: str
    unit: int = Field(default=1, ge=1, le=247)
    coil: int = Field(default=0, ge=0)


class InputsConfig(_Cfg):
    """Modbus RTU discrete inputs: door contact and exit button."""

    url: str
    unit: int = Field(default=1, ge=1, le=247)
    door_input: int = 0
    exit_input: int = 1
    door_open_level: bool = True  # input state that means "door open"


class ScannerConfig(_Cfg):
    """Serial QR/barcode reader at the door."""

    url: str
    profile: Literal["generic", "generic-cr", "aim"] = "generic"


class CameraConfig(_Cfg):
    """Camera reader: VideoCapture index, file or RTSP URL."""

    source: str
    max_fps: float = 15.0


class ScaleConfig(_Cfg):
    """The checkout scale."""

    type: Literal["mtsics", "toledo8217", "cas"] = "mtsics"
    url: str


class ScreenConfig(_Cfg):
    """The customer screen of a checkout."""

    type: Literal["nextion", "escpos"] = "nextion"
    url: str


class StationSettings(_Cfg):
    """One self-checkout station."""

    station_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    scale: ScaleConfig
    screen: ScreenConfig | None = None
    scanner: ScannerConfig | None = None
    camera: CameraConfig | None = None


class CheckoutSettings(_Cfg):
    """Self-checkout stations and their payment rules (see docs/checkout.md)."""

    stations: list[StationSettings] = Field(default_factory=list)
    floor_limit_cents: int = Field(default=3000, ge=0)
    night_reset_hour: int = Field(default=12, ge=0, le=23)
    timezone: str = "UTC"
    model: str | None = "shipped"  # "shipped", a path to an .onnx file, or None for barcode-only
    auto_accept_threshold: float | None = None  # default: the model card's threshold
    auth_timeout_s: float = Field(default=10.0, gt=0)  # online payment answer, then the offline rule


class DoorSettings(_Cfg):
    """Door rules (see docs/door.md)."""

    door_id: str = "main"
    unlock_s: float = Field(default=5.0, gt=0, le=60)
    held_open_s: float = Field(default=15.0, gt=0)
    rex_mask_s: float = Field(default=10.0, ge=0)
    fail_mode: Literal["secure", "safe"] = "secure"
    day_hours: TimeRangeText | None = None  # "07:00-22:00"; None: night all day unless an operator says
    timezone: str = "UTC"
    occupancy_cap: int = Field(default=4, ge=0)
    passback_s: float = Field(default=120.0, ge=0, le=24 * 3600)  # timed anti-passback; 0 = off
    tier_hours: dict[str, list[TimeRangeText]] = Field(default_factory=dict)


class MqttSettings(_Cfg):
    """Broker connection."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    keepalive: int = 15


class AgentSettings(_Cfg):
    """Everything one store agent needs."""

    store_id: Annotated[str, Field(pattern=STORE_ID_RE.pattern)]
    data_dir: Path = Path("/var/lib/smartstore")
    issuer_keys_file: Path = Path("/etc/smartstore/issuer-keys.json")
    door: DoorSettings = Field(default_factory=DoorSettings)
    mqtt: MqttSettings | None = Field(default_factory=MqttSettings)
    lock: LcusLockConfig | ModbusLockConfig = Field(discriminator="type")
    inputs: InputsConfig | None = None
    scanner: ScannerConfig | None = None
    camera: CameraConfig | None = None
    checkout: CheckoutSettings | None = None
    outbox_max_rows: int = Field(default=1_000_000, ge=100)

    @classmethod
    def from_toml(cls, path: str | Path) -> AgentSettings:
        """Load settings from a TOML file."""
        with open(path, "rb") as fh:
            return cls.model_validate(tomllib.load(fh))
