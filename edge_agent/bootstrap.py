"""Composition root: build drivers, readers, outbox and MQTT link from ``AgentSettings``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from contracts.member_code import decode_public_keys
from contracts.payments import pay_reply_topic
from contracts.topics import Topics
from devices.driver import DriverThread
from edge_agent import hardware
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
from edge_agent.domain.door import CodePresented, DoorConfig, DoorController, Feedback
from edge_agent.domain.ports import Clock, SystemClock
from edge_agent.domain.synced import SyncedData

log = logging.getLogger(__name__)


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
            if not hardware.is_lock_driver(driver):
                driver.stop()
        self.agent.stop()  # writes "locked"
        if self.link is not None:
            self.link.stop()
        for driver in self.drivers:
            if hardware.is_lock_driver(driver):
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
    agent_ref: list[StoreAgent] = []

    def status(role: str, kind: str) -> Callable[[str, str, str], None]:
        def cb(name: str, state: str, detail: str) -> None:
            if agent_ref:
                agent_ref[0].on_device_status(name, kind, role, state != "disconnected", detail)

        return cb

    lock_driver, io_driver = hardware.door_lock(settings.lock, settings.inputs, status)
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
        inputs_driver = hardware.door_inputs(settings.inputs, io_driver, agent.submit, status)
        if inputs_driver is not None:
            drivers.append(inputs_driver)

    if settings.scanner is not None:

        def code_presented(text: str) -> None:
            agent.submit(CodePresented(text, reader="scanner"))

        drivers.append(hardware.door_scanner(settings.scanner, code_presented, status))

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
