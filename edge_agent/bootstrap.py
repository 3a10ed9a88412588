"""Composition root: build drivers, readers, outbox and MQTT link from ``AgentSettings``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.member_code import decode_public_keys
from contracts.payments import pay_reply_topic
from contracts.topics import Topics
from devices.driver import DriverThread
from devices.lcus.driver import LcusDriver
from devices.modbus.driver import ModbusDriver
from devices.scanner import profiles as scanner_profiles
from devices.scanner.driver import ScannerDriver
from devices.scanner.protocol import CodeScanned, Garbage
from edge_agent.adapters.camera import CameraReader
from edge_agent.adapters.mqtt import MqttLink
from edge_agent.adapters.outbox import Outbox
from edge_agent.adapters.vision import Recognizer
from edge_agent.agent import StoreAgent
from edge_agent.checkout_bootstrap import (
    CheckoutParts,
    build_stations,
    catalog_from_sync,
    load_recognizer,
    wire_devices,
)
from edge_agent.config import AgentSettings
from edge_agent.domain.access import AccessPolicy, AccessVerifier, TimeRange
from edge_agent.domain.door import CodePresented, DoorConfig, DoorController, DoorSensor, ExitPressed, Feedback
from edge_agent.domain.ports import Clock, SystemClock
from edge_agent.domain.synced import SyncedData

log = logging.getLogger(__name__)

_SCANNER_PROFILES = {
    "generic": scanner_profiles.GENERIC_CRLF,
    "generic-cr": scanner_profiles.GENERIC_CR,
    "aim": scanner_profiles.AIM_CRLF,
}


class InputMapper:
    """Turn Modbus input bits into door-contact changes and exit-button presses."""

    def __init__(self, submit: Callable[[Any], None], door_input: int, exit_input: int, door_open_level: bool) -> None:
        """Map bit ``door_input`` (open when ``door_open_level``) and bit ``exit_input`` (rising edge)."""
        self.submit = submit
        self.door_input = door_input
        self.exit_input = exit_input
        self.door_open_level = door_open_level
        self._last: tuple[bool, ...] | None = None

    def __call__(self, bits: tuple[bool, ...]) -> None:
        """Handle a new input reading."""
        previous, self._last = self._last, bits
        is_open = bits[self.door_input] == self.door_open_level
        if previous is None or previous[self.door_input] != bits[self.door_input]:
            self.submit(DoorSensor(is_open))
        if previous is not None and bits[self.exit_input] and not previous[self.exit_input]:
            self.submit(ExitPressed())


@dataclass
class RunningAgent:
    """Everything the bootstrap started, so it can be stopped in order."""

    agent: StoreAgent
    outbox: Outbox
    link: MqttLink | None
    drivers: list[DriverThread] = field(default_factory=list)
    camera: CameraReader | None = None
    checkout: CheckoutParts | None = None

    def stop(self) -> None:
        """Stop readers first, then lock the door, then the broker link and the lock driver."""
        if self.camera is not None:
            self.camera.stop()
        if self.checkout is not None:
            for cam in self.checkout.cameras:
                cam.stop()
            if self.checkout.evidence is not None:
                self.checkout.evidence.close()
        for driver in self.drivers:
            if not isinstance(driver, (LcusDriver, ModbusDriver)):
                driver.stop()
        self.agent.stop()  # writes "locked"
        if self.link is not None:
            self.link.stop()
        for driver in self.drivers:
            if isinstance(driver, (LcusDriver, ModbusDriver)):
                driver.wait_online(0.1)
                driver.stop(timeout=1.0)
        self.outbox.close()


def load_synced(path: Path) -> SyncedData:
    """Load the downlink state saved by the last run, or start empty."""
    try:
        return SyncedData.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return SyncedData()
    except (ValueError, KeyError, TypeError) as err:
        log.error("ignoring unreadable %s (%s); waiting for fresh snapshots", path, err)
        return SyncedData()


def save_synced(path: Path, data: SyncedData) -> None:
    """Save the downlink state atomically."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data.to_json()))
    os.replace(tmp, path)


def load_trusted_keys(settings: AgentSettings) -> dict[bytes, bytes]:
    """Read the issuer public keys the store trusts."""
    with open(settings.issuer_keys_file) as fh:
        return decode_public_keys(json.load(fh))


def build_controller(settings: AgentSettings, trusted: dict[bytes, bytes], clock: Clock) -> DoorController:
    """Build the door controller and its verifier from settings."""
    door = settings.door
    policy = AccessPolicy(
        timezone=door.timezone,
        tier_hours={tier: tuple(TimeRange.parse(r) for r in ranges) for tier, ranges in door.tier_hours.items()},
        occupancy_cap=door.occupancy_cap,
    )
    verifier = AccessVerifier(settings.store_id, trusted, policy)
    config = DoorConfig(
        store_id=settings.store_id,
        door_id=door.door_id,
        unlock_s=door.unlock_s,
        held_open_s=door.held_open_s,
        rex_mask_s=door.rex_mask_s,
        fail_mode=door.fail_mode,
        day_hours=TimeRange.parse(door.day_hours) if door.day_hours else None,
        timezone=door.timezone,
        passback_s=door.passback_s,
    )
    return DoorController(config, verifier, clock)


def build_agent(
    settings: AgentSettings,
    *,
    clock: Clock | None = None,
    trusted: dict[bytes, bytes] | None = None,
    on_feedback: Callable[[Feedback], None] | None = None,
    start: bool = True,
    recognizer: Recognizer | None = None,
) -> RunningAgent:
    """Build (and by default start) a store agent from its settings."""
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    controller = build_controller(settings, trusted if trusted is not None else load_trusted_keys(settings), clock)
    topics = Topics(settings.store_id)
    outbox = Outbox(settings.data_dir / "outbox.db", max_rows=settings.outbox_max_rows)

    # The lock output first: its driver writes "locked" as soon as the port opens.
    drivers: list[DriverThread] = []
    lock_cfg = settings.lock
    io_driver: ModbusDriver | None = None
    lock_driver: LcusDriver | ModbusDriver
    agent_ref: list[StoreAgent] = []

    def status(role: str, kind: str) -> Callable[[str, str, str], None]:
        def cb(name: str, state: str, detail: str) -> None:
            if agent_ref:
                agent_ref[0].on_device_status(name, kind, role, state != "disconnected", detail)

        return cb

    if lock_cfg.type == "lcus":
        lock_driver = LcusDriver(lock_cfg.url, channel=lock_cfg.channel, name="lock", on_status=status("lock", "lcus"))
    else:
        same_port = settings.inputs is not None and settings.inputs.url == lock_cfg.url
        lock_driver = io_driver = ModbusDriver(
            lock_cfg.url,
            unit=lock_cfg.unit,
            lock_coil=lock_cfg.coil,
            name="io" if same_port else "lock",
            on_status=status("inputs" if same_port else "lock", "modbus"),
        )
    drivers.append(lock_driver)

    link: MqttLink | None = None
    synced_path = settings.data_dir / "synced.json"
    synced = load_synced(synced_path)
    checkout: CheckoutParts | None = None
    if settings.checkout is not None and settings.checkout.stations:
        checkout = build_stations(
            settings.checkout,
            store_id=settings.store_id,
            door_verifier=controller.verifier,
            synced=synced,
            clock=clock,
            data_dir=settings.data_dir,
            recognizer=recognizer if recognizer is not None else load_recognizer(settings.checkout),
        )
    agent = StoreAgent(
        controller,
        lock_driver,
        outbox,
        topics,
        on_feedback=on_feedback,
        synced=synced,
        on_synced=lambda data: save_synced(synced_path, data),
        stations=checkout.stations if checkout else None,
        ledger=checkout.ledger if checkout else None,
        catalog_from_sync=catalog_from_sync,
        on_sale=checkout.journal.append if checkout else None,
    )
    agent_ref.append(agent)
    if settings.mqtt is not None:
        m = settings.mqtt
        link = MqttLink(
            topics,
            outbox,
            host=m.host,
            port=m.port,
            keepalive=m.keepalive,
            username=m.username,
            password=m.password,
            on_command=agent.on_command,
            on_sync=agent.on_sync,
        )
        agent.publisher = link
        link.on_connection = agent.on_connection

    if settings.inputs is not None:
        inputs = settings.inputs
        mapper = InputMapper(agent.submit, inputs.door_input, inputs.exit_input, inputs.door_open_level)
        count = max(inputs.door_input, inputs.exit_input) + 1
        if io_driver is not None and inputs.url == io_driver.link.url:
            io_driver.on_inputs = mapper
            io_driver.input_count = count
        else:
            drivers.append(
                ModbusDriver(
                    inputs.url,
                    unit=inputs.unit,
                    inputs=count,
                    name="io",
                    on_inputs=mapper,
                    on_status=status("inputs", "modbus"),
                )
            )

    if settings.scanner is not None:

        def on_scan(scan: CodeScanned) -> None:
            agent.submit(CodePresented(scan.text, reader="scanner"))

        def on_garbage(garbage: Garbage) -> None:
            log.warning("scanner sent a line that is not a code (%s): %r", garbage.reason, garbage.data[:40])

        drivers.append(
            ScannerDriver(
                settings.scanner.url,
                profile=_SCANNER_PROFILES[settings.scanner.profile],
                name="scanner",
                on_scan=on_scan,
                on_garbage=on_garbage,
                on_status=status("reader", "scanner"),
            )
        )

    camera: CameraReader | None = None
    if settings.camera is not None:
        camera = CameraReader(
            settings.camera.source,
            on_code=lambda text: agent.submit(CodePresented(text, reader="camera")),
            on_status=lambda online, detail: agent.on_device_status("camera", "camera", "reader", online, detail),
            max_fps=settings.camera.max_fps,
        )

    if checkout is not None and settings.checkout is not None:
        wire_devices(
            checkout,
            settings.checkout,
            store_id=settings.store_id,
            submit=agent.submit_station,
            publisher=link,
            status=status,
        )
        agent.checkout_io = checkout.io
        if link is not None and checkout.io is not None:
            link.route(pay_reply_topic(settings.store_id), checkout.io.payments.on_reply)
        drivers.extend(checkout.drivers)

    running = RunningAgent(agent, outbox, link, drivers, camera, checkout)
    if start:
        lock_driver.start()
        agent.start()
        for driver in drivers[1:]:
            driver.start()
        if link is not None:
            link.start()
        if camera is not None:
            camera.start()
        for cam in checkout.cameras if checkout else []:
            cam.start()
    return running
