"""Agent settings: one pydantic model, loaded from a TOML file, handed down by the bootstrap."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.errors import ContractError
from contracts.home_assistant import DEFAULT_PREFIX, check_prefix
from contracts.topics import STORE_ID_RE
from devices import catalog
from devices.catalog import config_union
from devices.config import DeviceConfig
from devices.scanner.profiles import ScannerConfig
from edge_agent.config_errors import ConfigError, explain, read_toml
from edge_agent.domain.access import TimeRange
from edge_agent.domain.barcodes import EmbeddedLayout

__all__ = [
    "AgentSettings",
    "BarcodeLabel",
    "BarcodeSettings",
    "CameraConfig",
    "CheckoutSettings",
    "DeviceConfig",
    "DoorSettings",
    "HomeAssistantSettings",
    "InputsConfig",
    "KeypadConfig",
    "LockConfig",
    "MqttSettings",
    "ReaderConfig",
    "ScaleConfig",
    "ScannerConfig",
    "ScreenConfig",
    "StationSettings",
]

# Devices are selected by catalog name (``type``): one config model per catalog entry, joined
# per kind into a discriminated union (devices/catalog.py). A scale or screen without ``type``
# is the default model, as in settings files written before the catalog.
if TYPE_CHECKING:  # mypy sees the common base; pydantic validates the union
    LockConfig = DeviceConfig
    ReaderConfig = DeviceConfig
    ScaleConfig = DeviceConfig
    ScreenConfig = DeviceConfig
else:
    LockConfig = config_union("lock")
    ReaderConfig = config_union("reader")  # scanner, wiegand, keypad, osdp (docs/door.md, "Readers")
    ScaleConfig = config_union("scale", default="mtsics")
    ScreenConfig = config_union("display", default="nextion")


def _time_range(text: str) -> str:
    TimeRange.parse(text)  # a bad range fails when the file is loaded, naming the field
    return text


TimeRangeText = Annotated[str, AfterValidator(_time_range)]


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputsConfig(_Cfg):
    """Modbus RTU discrete inputs: door contact and exit button."""

    type: Literal["modbus"] = "modbus"  # the catalog device that reads them
    url: str
    unit: int = Field(default=1, ge=1, le=247)
    door_input: int = 0
    exit_input: int = 1
    door_open_level: bool = True  # input state that means "door open"
    # Passage sensor (docs/door.md), off by default: a counting beam (one pulse per passage) or a
    # pair of beams, outer and inner, whose breaking order gives the direction.
    beam_input: int | None = Field(default=None, ge=0)
    beam_outer_input: int | None = Field(default=None, ge=0)
    beam_inner_input: int | None = Field(default=None, ge=0)
    beam_broken_level: bool = True  # input state that means "beam broken"

    @model_validator(mode="after")
    def _one_passage_sensor(self) -> InputsConfig:
        pair = (self.beam_outer_input, self.beam_inner_input)
        if (pair[0] is None) != (pair[1] is None):
            raise ValueError("beam_outer_input and beam_inner_input go together")
        if self.beam_input is not None and pair[0] is not None:
            raise ValueError("give either beam_input (a counter) or the beam pair, not both")
        used = [i for i in (self.door_input, self.exit_input, self.beam_input, *pair) if i is not None]
        if len(used) != len(set(used)):
            raise ValueError(f"each input number may be used once, got {used}")
        return self

    @property
    def passage_sensor(self) -> Literal["none", "counter", "pair"]:
        """Return which passage sensor is fitted."""
        if self.beam_outer_input is not None:
            return "pair"
        return "counter" if self.beam_input is not None else "none"


class CameraConfig(_Cfg):
    """Camera reader: VideoCapture index, file or RTSP URL."""

    source: str
    max_fps: float = 15.0


class KeypadConfig(_Cfg):
    """A keypad at a checkout station (Wiegand): one key pays, another cancels."""

    type: Literal["keypad", "wiegand"] = "keypad"  # catalog device: 8-bit or 4-bit keys
    url: str
    pay_key: Literal["#", "*", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] = "#"
    cancel_key: Literal["#", "*", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] = "*"

    @model_validator(mode="after")
    def _two_keys(self) -> KeypadConfig:
        if self.pay_key == self.cancel_key:
            raise ValueError("pay_key and cancel_key must differ")
        return self


StationCode = Annotated[str, Field(min_length=4, max_length=64, pattern=r"^[\x21-\x7e]+$")]


class StationSettings(_Cfg):
    """One self-checkout station (docs/checkout.md lists how each hardware combination pays)."""

    station_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    scale: ScaleConfig
    screen: ScreenConfig | None = None
    scanner: ScannerConfig | None = None
    camera: CameraConfig | None = None
    readers: list[ReaderConfig] = Field(default_factory=list)  # cards/PINs: a manager resolves a held review
    keypad: KeypadConfig | None = None
    # Codes printed on the station: scanning one pays or cancels (needs the station's scanner).
    pay_codes: list[StationCode] = Field(default_factory=list)
    cancel_codes: list[StationCode] = Field(default_factory=list)
    pay_by_member_code: bool = True  # the shopper's member code shown again pays
    auto_zero_g: float = Field(default=20.0, ge=0)  # zero drift up to this on an empty platter; 0 = off
    clear_timeout_s: float = Field(default=30.0, gt=0)  # goods left this long after a basket: scale_not_empty

    @model_validator(mode="after")
    def _codes(self) -> StationSettings:
        if set(self.pay_codes) & set(self.cancel_codes):
            raise ValueError("a code cannot both pay and cancel")
        if (self.pay_codes or self.cancel_codes) and not self.reads_codes():
            raise ValueError("pay_codes and cancel_codes need a scanner at the station")
        return self

    def reads_codes(self) -> bool:
        """Return whether a scanner at the station reads codes (its ``scanner`` or a scanner in ``readers``)."""
        return self.scanner is not None or any(r.type == "scanner" for r in self.readers)

    def pay_inputs(self) -> list[str]:
        """Return what can confirm a payment at this station (empty: nothing can)."""
        inputs = []
        if self.screen is not None and "touch" in catalog.get(self.screen.type).traits:
            inputs.append("touch")
        if self.keypad is not None:
            inputs.append("keypad")
        if self.reads_codes() and self.pay_codes:
            inputs.append("scanner")
        if self.reads_codes() and self.pay_by_member_code:
            inputs.append("member_code")
        return inputs


class BarcodeLabel(_Cfg):
    """One weight- or price-embedded label layout (GS1 prefixes 20-29), as a pattern or as fields.

    ``pattern = "21PPPPPWWWWWC"`` (see edge_agent/domain/barcodes.py), or ``prefix``, ``kind``,
    ``item_digits``, ``value_digits`` and ``value_check`` (a price/weight check digit before the value).
    """

    pattern: str | None = None
    prefix: Annotated[str, Field(pattern=r"^\d{1,3}$")] | None = None
    kind: Literal["weight", "price"] | None = None
    item_digits: int = Field(default=5, ge=1, le=8)
    value_digits: int = Field(default=5, ge=1, le=8)
    value_check: bool = False
    decimals: int | None = Field(default=None, ge=0, le=5)  # weight: kg (3), price: currency units (2)

    def to_pattern(self) -> str:
        """Return the layout as a pattern such as ``21PPPPPWWWWWC``."""
        if self.pattern is not None:
            return self.pattern
        assert self.prefix is not None
        assert self.kind is not None
        value = ("W" if self.kind == "weight" else "$") * self.value_digits
        return self.prefix + "P" * self.item_digits + ("V" if self.value_check else "") + value + "C"

    @model_validator(mode="after")
    def _layout(self) -> BarcodeLabel:
        if (self.pattern is None) == (self.prefix is None or self.kind is None):
            raise ValueError("give either pattern, or prefix and kind (with the field lengths)")
        pattern = self.to_pattern()
        if self.pattern is None and len(pattern) != 13:
            raise ValueError(f"prefix + item + value digits + check digit make {len(pattern)} digits, not 13")
        EmbeddedLayout.parse(pattern, decimals=self.decimals)  # raises ValueError naming the problem
        return self


class BarcodeSettings(_Cfg):
    """The store's weight/price-embedded label scheme (``[[checkout.barcodes.labels]]``)."""

    labels: list[BarcodeLabel] = Field(default_factory=list)
    label_tolerance_g: float = Field(default=10.0, ge=0)  # the scale vs a printed weight
    label_tolerance_rel: float = Field(default=0.03, ge=0, le=1)

    @model_validator(mode="after")
    def _one_layout_per_prefix(self) -> BarcodeSettings:
        prefixes = [EmbeddedLayout.parse(label.to_pattern()).prefix for label in self.labels]
        for i, a in enumerate(prefixes):
            for j, b in enumerate(prefixes):
                if i != j and b.startswith(a):
                    raise ValueError(f"label prefixes {a} and {b} overlap: a code would match both")
        return self


class CheckoutSettings(_Cfg):
    """Self-checkout stations and their payment rules (see docs/checkout.md)."""

    stations: list[StationSettings] = Field(default_factory=list)
    floor_limit_cents: int = Field(default=3000, ge=0)
    night_reset_hour: int = Field(default=12, ge=0, le=23)
    timezone: str = "UTC"
    model: str | None = "shipped"  # "shipped", a path to an .onnx file, or None for barcode-only
    auto_accept_threshold: float | None = None  # default: the model card's threshold
    auth_timeout_s: float = Field(default=10.0, gt=0)  # online payment answer, then the offline rule
    journal_prune_s: float = Field(default=60.0, gt=0)  # how often acknowledged sales leave sales.jsonl
    barcodes: BarcodeSettings = Field(default_factory=BarcodeSettings)


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
    password: str | None = None  # prefer password_file: secrets do not belong in the TOML
    password_file: Path | None = None
    # TLS: the fleet CA the broker's certificate is checked against; a client pair where the
    # broker requires one.
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive: int = 15
    # "cloud": keep each event until the cloud acknowledges that it committed it (end to end);
    # "broker": forget it at the broker's PUBACK (only for a consumer that sends no acknowledgements).
    delivery: Literal["cloud", "broker"] = "cloud"
    ack_timeout_s: float = Field(default=10.0, ge=0.2, le=3600)
    max_unacked: int = Field(default=10_000, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _one_password_source(self) -> MqttSettings:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give the broker password as password or password_file, not both")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self

    def secret(self) -> str | None:
        """Return the broker password, read from ``password_file`` when that is how it is given.

        Raises:
            OSError: the password file cannot be read.
        """
        if self.password_file is not None:
            return self.password_file.read_text().strip()
        return self.password


def _discovery_prefix(text: str) -> str:
    try:
        return check_prefix(text)
    except ContractError as err:
        raise ValueError(str(err)) from err


class HomeAssistantSettings(_Cfg):
    """Home Assistant MQTT discovery of the store's read-only entities (docs/mqtt.md)."""

    enabled: bool = False
    discovery_prefix: Annotated[str, AfterValidator(_discovery_prefix)] = DEFAULT_PREFIX
    device_name: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # default "smartstore <store>"


class AgentSettings(_Cfg):
    """Everything one store agent needs."""

    store_id: Annotated[str, Field(pattern=STORE_ID_RE.pattern)]
    data_dir: Path = Path("/var/lib/smartstore")
    issuer_keys_file: Path = Path("/etc/smartstore/issuer-keys.json")
    # The cloud's downlink public keys (enrolment writes it); without it every command and sync
    # message is refused. Rotations the agent accepts are kept in data_dir/downlink-keys.json.
    downlink_keys_file: Path | None = Path("/etc/smartstore/downlink-keys.json")
    # Operator commands: good for at most this long from issued_at; issued_at at most this far ahead.
    command_lifetime_s: float = Field(default=120.0, gt=0, le=3600)
    command_skew_s: float = Field(default=30.0, ge=0, le=600)
    door: DoorSettings = Field(default_factory=DoorSettings)
    mqtt: MqttSettings | None = Field(default_factory=MqttSettings)
    lock: LockConfig
    inputs: InputsConfig | None = None
    scanner: ScannerConfig | None = None
    camera: CameraConfig | None = None
    readers: list[ReaderConfig] = Field(default_factory=list)  # [[readers]]: more door readers, any catalog reader
    checkout: CheckoutSettings | None = None
    outbox_max_rows: int = Field(default=1_000_000, ge=100)
    # Prometheus metrics on 127.0.0.1:<port> (outbox depth, oldest unacknowledged age, ...); off when unset.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    home_assistant: HomeAssistantSettings = Field(default_factory=HomeAssistantSettings)

    @classmethod
    def from_toml(cls, path: str | Path) -> AgentSettings:
        """Load settings from a TOML file.

        Raises:
            ConfigError: naming the file, the line and the key, with a "did you mean" for a typo.
        """
        raw, text = read_toml(Path(path))
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            raise ConfigError(explain(err, Path(path), text, cls)) from None
