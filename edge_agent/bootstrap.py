"""Composition root: build drivers, readers, outbox and MQTT link from ``AgentSettings``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from contracts.errors import ContractError
from contracts.member_code import decode_public_keys
from contracts.messages import AlarmKind, AlarmRaised
from contracts.topics import Topics
from devices.driver import DriverThread
from edge_agent import hardware
from edge_agent.adapters import door_state
from edge_agent.adapters.camera import CameraReader
from edge_agent.adapters.command_log import CommandLog
from edge_agent.adapters.downlink_keys import load_pinned, save_rotated
from edge_agent.adapters.home_assistant import HomeAssistantDiscovery
from edge_agent.adapters.metrics import MetricsServer
from edge_agent.adapters.mqtt import MqttLink, TlsOptions
from edge_agent.adapters.outbox import Outbox
from edge_agent.adapters.outbox_recovery import open_outbox
from edge_agent.adapters.private import private_dir, write_private
from edge_agent.adapters.replay import SqliteReplayStore
from edge_agent.adapters.systemd import HealthCheck, Notifier, Watchdog
from edge_agent.adapters.vision import Recognizer
from edge_agent.agent import Inbox, StoreAgent
from edge_agent.checkout_bootstrap import (
    CheckoutParts,
    build_stations,
    catalog_from_sync,
    load_recognizer,
    wire_devices,
)
from edge_agent.config import AgentSettings
from edge_agent.domain.access import AccessPolicy, AccessVerifier, ReplayCache, TimeRange
from edge_agent.domain.actions import Feedback
from edge_agent.domain.door import CodePresented, DoorConfig, DoorController
from edge_agent.domain.ports import Clock, SystemClock
from edge_agent.domain.staff import CredentialPresented, StaffDirectory
from edge_agent.domain.synced import SyncedData
from edge_agent.domain.trust import PinnedKeys
from edge_agent.services.checkout import CheckoutService
from edge_agent.services.door import DoorService
from edge_agent.services.downlink import Downlink
from edge_agent.services.events import EventEmitter
from edge_agent.services.stats import AgentStats
from edge_agent.services.sync import SyncService

LOCK_STUCK_S = 10.0  # one relay write or poll never takes this long
OUTBOX_ANSWER_S = 5.0  # the outbox answers a trivial query within this, unless a write hangs

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
    metrics: MetricsServer | None = None
    replay: SqliteReplayStore | None = None
    command_log: CommandLog | None = None
    watchdog: Watchdog | None = None

    def start(self) -> None:
        """Start the lock driver first (it writes "locked"), then the decision loop, devices, link and readers."""
        self.drivers[0].start()
        self.agent.start()
        for driver in self.drivers[1:]:
            driver.start()
        if self.link is not None:
            self.link.start()
        if self.camera is not None:
            self.camera.start()
        for cam in self.checkout.cameras if self.checkout else []:
            cam.start()
        if self.metrics is not None:
            self.metrics.start()
        if self.watchdog is not None:
            self.watchdog.start()

    def stop(self) -> None:
        """Stop readers first, then lock the door, then the broker link and the lock driver."""
        if self.watchdog is not None:
            self.watchdog.stop()
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
        if self.metrics is not None:
            self.metrics.stop()
        if self.checkout is not None:  # the decision thread has stopped: the last acknowledgements are in
            try:
                self.checkout.journal.prune(self.checkout.ledger, self.outbox.holds, time.time())
            except OSError as err:
                log.error("sales journal not pruned at stop: %s", err)
        self.outbox.close()
        if self.replay is not None:
            self.replay.close()
        if self.command_log is not None:
            self.command_log.close()


def describe(settings: AgentSettings, config: Path) -> str:
    """Return the one-line start-up summary: version, store, config file, devices, broker (no secrets)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("smartstore")
    except PackageNotFoundError:
        release = "unknown"
    devices = [name for name in ("lock", "inputs", "scanner", "camera") if getattr(settings, name) is not None]
    devices += [f"{r.type} reader" for r in settings.readers]
    stations = len(settings.checkout.stations) if settings.checkout is not None else 0
    m = settings.mqtt
    broker = f"{m.host}:{m.port} ({'TLS' if m.ca_file else 'plain'}, delivery {m.delivery})" if m else "none"
    return (
        f"smartstore {release}, store {settings.store_id}, config {config}, data {settings.data_dir}, "
        f"door devices {', '.join(devices) or 'none'}, {stations} checkout station(s), broker {broker}"
    )


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
    write_private(path, json.dumps(data.to_json()).encode())


def load_trusted_keys(settings: AgentSettings) -> dict[bytes, bytes]:
    """Read the issuer public keys the store trusts."""
    path = settings.issuer_keys_file
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"issuer keys file {path} is not JSON ({err.msg} at line {err.lineno})") from err
    try:
        return decode_public_keys(data)
    except ContractError as err:
        raise ValueError(f"issuer keys file {path}: {err}") from err


def build_controller(
    settings: AgentSettings, trusted: dict[bytes, bytes], clock: Clock, replay: ReplayCache | None = None
) -> DoorController:
    """Build the door controller and its verifier (with the store's replay cache) from settings."""
    door = settings.door
    policy = AccessPolicy(
        timezone=door.timezone,
        tier_hours={tier: tuple(TimeRange.parse(r) for r in ranges) for tier, ranges in door.tier_hours.items()},
        occupancy_cap=door.occupancy_cap,
    )
    verifier = AccessVerifier(settings.store_id, trusted, policy, replay=replay)
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
        passage_sensor=settings.inputs.passage_sensor if settings.inputs else "none",
        command_lifetime_s=settings.command_lifetime_s,
        command_skew_s=settings.command_skew_s,
    )
    return DoorController(config, verifier, clock)


def restore_door(settings: AgentSettings, controller: DoorController) -> Callable[[bool, str | None], None]:
    """Give the controller the lockdown and mode override saved by the last run; return the saver."""
    path = settings.data_dir / door_state.FILE_NAME
    memory = door_state.load_door_state(path)
    controller.lockdown = memory.lockdown
    controller.mode_override = memory.mode_override
    if memory.lockdown or memory.mode_override is not None:
        log.warning("restored from %s: lockdown=%s mode_override=%s", path.name, memory.lockdown, memory.mode_override)
    return lambda lockdown, override: door_state.save_door_state(path, lockdown, override)


def report_damaged_outbox(emitter: EventEmitter, store_id: str, damaged: tuple[Path, str] | None) -> None:
    """Raise ``outbox_damaged`` in the fresh outbox when the old one had to be moved aside."""
    if damaged is None:
        return
    moved, why = damaged
    detail = f"unreadable outbox moved aside to {moved.name} ({why}); its undelivered events are in that file"
    emitter.append(
        AlarmRaised(
            store_id=store_id, alarm=AlarmKind.OUTBOX_DAMAGED, source="outbox", severity="critical", detail=detail[:500]
        )
    )
    emitter.flush()


StatusCallback = Callable[[str, str, str], None]


def _status_reporter(inbox: Inbox) -> Callable[[str, str], StatusCallback]:
    """Return ``status(role, kind)``: the ``on_status`` callback a driver of that role and kind reports with."""

    def status(role: str, kind: str) -> StatusCallback:
        def cb(name: str, state: str, detail: str) -> None:
            inbox.device_status(name, kind, role, state != "disconnected", detail)

        return cb

    return status


def _build_lock(settings: AgentSettings, status: Callable[[str, str], StatusCallback]) -> tuple[Any, Any | None]:
    """Build the lock output driver (and say which driver also reads the door inputs, if any)."""
    return hardware.door_lock(settings.lock, settings.inputs, status)


def _build_door_readers(
    settings: AgentSettings,
    inbox: Inbox,
    io_driver: Any | None,
    status: Callable[[str, str], StatusCallback],
    drivers: list[DriverThread],
) -> CameraReader | None:
    """Build the door's input and reader drivers (appended to ``drivers``) and its camera reader."""
    if settings.inputs is not None:
        inputs_driver = hardware.door_inputs(settings.inputs, io_driver, inbox.submit, status)
        if inputs_driver is not None:
            drivers.append(inputs_driver)

    if settings.scanner is not None:

        def code_presented(text: str) -> None:
            inbox.submit(CodePresented(text, reader="scanner"))

        drivers.append(hardware.door_scanner(settings.scanner, code_presented, status))
    for number, config in enumerate(settings.readers, 1):  # [[readers]]: codes to the verifier, cards/PINs to staff
        drivers.append(_door_reader(config, f"reader-{number}", inbox, status))

    camera: CameraReader | None = None
    if settings.camera is not None:
        camera = CameraReader(
            settings.camera.source,
            on_code=lambda text: inbox.submit(CodePresented(text, reader="camera")),
            on_status=lambda online, detail: inbox.device_status("camera", "camera", "reader", online, detail),
            max_fps=settings.camera.max_fps,
        )
    return camera


def _door_reader(config: Any, name: str, inbox: Inbox, status: Callable[[str, str], StatusCallback]) -> Any:
    """Return one configured door reader's driver, delivering into the decision loop."""
    return hardware.reader(
        config,
        name,
        on_code=lambda text: inbox.submit(CodePresented(text, reader=name)),
        on_credential=lambda kind, value: inbox.submit(CredentialPresented(kind, value, reader=name)),  # type: ignore[arg-type]
        status=status,
    )


def _build_link(settings: AgentSettings, topics: Topics, outbox: Outbox, downlink: Downlink) -> MqttLink | None:
    """Build the broker link (not started), or None when the agent runs without MQTT.

    Home Assistant discovery configs (or the clearing of old ones) go out after its every connect.
    """
    if settings.mqtt is None:
        return None
    m = settings.mqtt
    link = MqttLink(
        topics,
        outbox,
        host=m.host,
        port=m.port,
        keepalive=m.keepalive,
        username=m.username,
        password=m.secret(),
        tls=TlsOptions.from_paths(m.ca_file, m.cert_file, m.key_file),
        on_command=downlink.on_command,
        on_sync=downlink.on_sync,
        on_connection=downlink.on_connection,
        verify=downlink.verified,
        delivery=m.delivery,
        ack_timeout_s=m.ack_timeout_s,
        max_unacked=m.max_unacked,
    )
    HomeAssistantDiscovery(settings.store_id, settings.home_assistant, settings.data_dir).attach(link)
    return link


def _build_checkout(
    settings: AgentSettings,
    parts: CheckoutParts | None,
    inbox: Inbox,
    link: MqttLink | None,
    status: Callable[[str, str], StatusCallback],
    emitter: EventEmitter,
    prune_journal: Callable[[], object] | None = None,
    staff: StaffDirectory | None = None,
) -> CheckoutService | None:
    """Wire the stations' devices and effects, and build the checkout service (None without stations)."""
    if parts is None or settings.checkout is None:
        return None
    wire_devices(
        parts,
        settings.checkout,
        store_id=settings.store_id,
        submit=inbox.submit_station,
        publisher=link,
        status=status,
        reviews_dir=settings.data_dir / "reviews",
    )
    if link is not None and parts.io is not None:
        link.route(Topics(settings.store_id).pay_reply, parts.io.payments.on_reply)
    return CheckoutService(
        parts.stations,
        emitter,
        effects=parts.io,
        publisher=link,
        ledger=parts.ledger,
        catalog_from_sync=catalog_from_sync,
        on_sale=parts.journal.append,
        housekeeping=prune_journal,
        housekeeping_s=settings.checkout.journal_prune_s,
        staff=staff,
        on_hold=parts.review_frames,
    )


def _prune_journal(parts: CheckoutParts, outbox: Outbox, clock: Clock) -> int:
    return parts.journal.prune(parts.ledger, outbox.holds, clock.time())


def build_agent(
    settings: AgentSettings,
    *,
    clock: Clock | None = None,
    trusted: dict[bytes, bytes] | None = None,
    on_feedback: Callable[[Feedback], None] | None = None,
    start: bool = True,
    recognizer: Recognizer | None = None,
    notifier: Notifier | None = None,
) -> RunningAgent:
    """Build (and by default start) a store agent from its settings (``notifier``: systemd, from the environment)."""
    clock = clock or SystemClock()
    private_dir(settings.data_dir)
    replay_store = SqliteReplayStore(settings.data_dir / "replay.db")  # codes used before a restart stay used
    replay = ReplayCache(store=replay_store, now=clock.time(), mono=clock.monotonic())
    trusted = trusted if trusted is not None else load_trusted_keys(settings)
    controller = build_controller(settings, trusted, clock, replay)
    save_door = restore_door(settings, controller)  # before any code is accepted
    topics = Topics(settings.store_id)
    outbox, damaged = open_outbox(settings.data_dir / "outbox.db", max_rows=settings.outbox_max_rows, factory=Outbox)
    inbox = Inbox()
    stats = AgentStats()
    status = _status_reporter(inbox)

    # The lock output first: its driver writes "locked" as soon as the port opens.
    lock_driver, io_driver = _build_lock(settings, status)
    drivers: list[DriverThread] = [lock_driver]

    synced_path = settings.data_dir / "synced.json"
    synced = load_synced(synced_path)
    parts: CheckoutParts | None = None
    if settings.checkout is not None and settings.checkout.stations:
        parts = build_stations(
            settings.checkout,
            store_id=settings.store_id,
            door_verifier=controller.verifier,
            synced=synced,
            clock=clock,
            data_dir=settings.data_dir,
            recognizer=recognizer if recognizer is not None else load_recognizer(settings.checkout),
        )
    downlink = Downlink(
        topics,
        inbox.submit,
        station_ids=list(parts.stations) if parts else [],
        stats=stats,
        keys=PinnedKeys(settings.store_id, load_pinned(settings.downlink_keys_file, settings.data_dir)),
        on_keys=lambda keys: save_rotated(settings.data_dir, keys),
        clock=clock,
    )
    link = _build_link(settings, topics, outbox, downlink)
    camera = _build_door_readers(settings, inbox, io_driver, status, drivers)
    emitter = EventEmitter(outbox, topics, link)
    report_damaged_outbox(emitter, settings.store_id, damaged)
    prune = None
    if parts is not None:  # sales the cloud acknowledged (no longer in the outbox) leave the journal
        prune = partial(_prune_journal, parts, outbox, clock)
    checkout = _build_checkout(settings, parts, inbox, link, status, emitter, prune, controller.staff)
    if parts is not None:
        drivers.extend(parts.drivers)

    command_log = CommandLog(settings.data_dir / "commands.db")
    door = DoorService(
        controller,
        lock_driver,
        emitter,
        publisher=link,
        on_feedback=on_feedback,
        stats=stats,
        on_persist=save_door,
        command_log=command_log,
        on_review=checkout.resolve_review if checkout else None,
    )
    sync = SyncService(
        synced,
        emitter,
        verifiers=[controller.verifier, *(checkout.verifiers() if checkout else [])],
        on_synced=lambda data: save_synced(synced_path, data),
        on_catalog=checkout.apply_synced if checkout else None,
        clock=clock,
        stats=stats,
        staff=controller.staff,
    )
    agent = StoreAgent(inbox, door=door, checkout=checkout, sync=sync, stats=stats, emitter=emitter)

    metrics = MetricsServer(settings.metrics_port, outbox, link, agent) if settings.metrics_port else None
    watchdog = Watchdog(notifier or Notifier(), _health_checks(agent, lock_driver, outbox))
    running = RunningAgent(agent, outbox, link, drivers, camera, parts, metrics, replay_store, command_log, watchdog)
    if start:
        running.start()
    return running


def _health_checks(agent: StoreAgent, lock: DriverThread, outbox: Outbox) -> list[tuple[str, HealthCheck]]:
    """What must make progress for the watchdog to be fed: the decision loop, the lock driver, the outbox."""

    def loop() -> str | None:
        stuck = agent.stalled_for()
        return None if stuck is None else f"stuck in one input for {stuck:.0f} s"

    def lock_driver() -> str | None:
        stuck = lock.stuck_for(LOCK_STUCK_S)
        return None if stuck is None else f"stuck in one relay operation for {stuck:.0f} s"

    def events() -> str | None:
        return None if outbox.responsive(OUTBOX_ANSWER_S) else f"no answer within {OUTBOX_ANSWER_S:g} s"

    return [("decision loop", loop), ("lock driver", lock_driver), ("outbox", events)]
