"""``smartstore agent check``: what a technician runs, alone in the store, before opening it.

Each check answers one question with ok or not and a line saying why: does the config load,
are the cloud's issuer keys and downlink keys there, can the agent write its outbox (and can no
one else read its data directory), does each configured serial port open and speak the protocol
its role expects, does the camera deliver a frame, does the broker accept the store's
credentials. Ports are identified with ``devices.probe``, which only listens and sends harmless
queries (never a relay switch or a Modbus write). Run it with the agent stopped: two programs on
one serial line would each read half of the other's answers.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devices import catalog
from devices.probe import ProbeResult, probe_port
from edge_agent.adapters.private import loose_permissions
from edge_agent.config import AgentSettings
from edge_agent.config_errors import ConfigError

# Protocols ``devices.probe`` may name for a device of each catalog name (the config's ``type``).
# ``None`` means the device may not answer any harmless query (an LCUS-1 relay, an ESC/POS
# display, an idle scanner).
EXPECTED: dict[str, tuple[str | None, ...]] = {spec.name: spec.expected_protocols() for spec in catalog.CATALOG}


@dataclass(frozen=True)
class Check:
    """One answer of the check."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        """Return one line for a terminal."""
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def _ports(settings: AgentSettings) -> list[tuple[str, str, str]]:
    """Return (check name, port URL, catalog name) for every serial device the config names."""
    ports: list[tuple[str, str, str]] = [("lock", settings.lock.url, settings.lock.type)]
    if settings.inputs is not None:
        ports.append(("door inputs", settings.inputs.url, settings.inputs.type))
    if settings.scanner is not None:
        ports.append(("door scanner", settings.scanner.url, settings.scanner.type))
    ports += [(f"door reader-{n} ({r.type})", r.url, r.type) for n, r in enumerate(settings.readers, 1)]
    for station in settings.checkout.stations if settings.checkout else []:
        ports.append((f"{station.station_id} scale", station.scale.url, station.scale.type))
        if station.screen is not None:
            ports.append((f"{station.station_id} screen", station.screen.url, station.screen.type))
        if station.scanner is not None:
            ports.append((f"{station.station_id} scanner", station.scanner.url, station.scanner.type))
        for n, r in enumerate(station.readers, 1):
            ports.append((f"{station.station_id} reader-{n} ({r.type})", r.url, r.type))
    return ports


def check_port(name: str, result: ProbeResult, kind: str) -> Check:
    """Judge what a port turned out to be against the device type the config gives it."""
    if result.error:
        return Check(name, False, result.error if result.port in result.error else f"{result.port}: {result.error}")
    if result.protocol not in EXPECTED[kind]:
        found = result.device or "nothing that answers"
        return Check(name, False, f"{result.port} is configured as {kind} but answers as {found}")
    if result.protocol is None:
        return Check(name, True, f"{result.port} opens; a {kind} device cannot answer a query, so watch it work")
    return Check(name, True, f"{result.port}: {result.device} ({result.settings})")


def _check_keys(settings: AgentSettings) -> Check:
    from edge_agent.bootstrap import load_trusted_keys

    try:
        keys = load_trusted_keys(settings)
    except (OSError, ValueError) as err:
        return Check("issuer keys", False, str(err))
    if not keys:
        return Check("issuer keys", False, f"{settings.issuer_keys_file} holds no key: every code would be refused")
    return Check("issuer keys", True, f"{len(keys)} trusted: {', '.join(sorted(k.hex() for k in keys))}")


def _check_downlink_keys(settings: AgentSettings) -> Check:
    from edge_agent.adapters.downlink_keys import load_pinned

    path = settings.downlink_keys_file
    pinned = load_pinned(path, settings.data_dir)
    if pinned is None:
        where = path if path is not None else "downlink_keys_file is not set"
        return Check("downlink keys", False, f"{where}: no key pinned, every command and sync message would be refused")
    return Check("downlink keys", True, f"version {pinned.version}, pinned: {', '.join(sorted(pinned.keys))}")


def _check_data_dir(settings: AgentSettings) -> Check:
    path = settings.data_dir
    existing = next((p for p in (path, *path.parents) if p.exists()), path)
    if not os.access(existing, os.W_OK):
        return Check("data dir", False, f"{existing} is not writable by this user: the outbox cannot be kept")
    return Check("data dir", True, f"{path} {'exists' if existing == path else 'can be created'} and is writable")


def _check_permissions(settings: AgentSettings) -> list[Check]:
    """One failing line per path of the data directory another local user could read (docs/security.md)."""
    loose = loose_permissions(settings.data_dir)
    if loose:
        return [Check("data permissions", False, line) for line in loose]
    if not settings.data_dir.exists():
        return []
    return [Check("data permissions", True, f"{settings.data_dir} is 0700 and its files 0600")]


def _check_camera(source: str) -> Check:
    import cv2

    from edge_agent.adapters.camera import parse_source

    cap = cv2.VideoCapture(parse_source(source))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
    finally:
        cap.release()
    if not ok or frame is None:
        return Check("door camera", False, f"{source!r} delivers no frame")
    return Check("door camera", True, f"{source!r} delivers {frame.shape[1]}x{frame.shape[0]} frames")


def check_broker(settings: AgentSettings, timeout_s: float) -> Check:
    """Connect to the broker with the store's login and TLS settings; say why it fails."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge_agent.adapters.mqtt import TlsOptions, apply_login

    assert settings.mqtt is not None
    cfg = settings.mqtt
    where = f"{cfg.host}:{cfg.port}"
    answered = threading.Event()
    outcome: list[str] = []

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        outcome.append("" if not rc.is_failure else str(rc))
        answered.set()

    def on_disconnect(*_args: Any) -> None:
        if not answered.is_set():
            hint = "" if cfg.ca_file else " (a TLS listener? set mqtt.ca_file)"
            outcome.append(f"it closed the connection without answering{hint}")
            answered.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{settings.store_id}-check")
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        apply_login(client, cfg.username, cfg.secret(), TlsOptions.from_paths(cfg.ca_file, cfg.cert_file, cfg.key_file))
        client.connect(cfg.host, cfg.port, keepalive=10)
    except ssl.SSLError as err:
        return Check("broker", False, f"{where}: TLS refused: {err.reason or err}")
    except OSError as err:
        return Check("broker", False, f"{where}: {err}")
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            return Check("broker", False, f"{where} accepted the connection but did not answer in {timeout_s:.0f} s")
    finally:
        client.disconnect()
        client.loop_stop()
    if outcome[0]:
        return Check("broker", False, f"{where} refused the store: {outcome[0]}")
    return Check("broker", True, f"{where} accepts the store's credentials")


def run_checks(
    config: Path,
    *,
    probe: Callable[[str], ProbeResult] = probe_port,
    mqtt_timeout_s: float = 5.0,
) -> list[Check]:
    """Run every check the config calls for; a config that does not load is the only answer then."""
    try:
        settings = AgentSettings.from_toml(config)
    except ConfigError as err:  # names the file, the line and the key
        return [Check("config", False, str(err))]
    checks = [Check("config", True, f"{config}: store {settings.store_id}")]
    checks += [
        _check_keys(settings),
        _check_downlink_keys(settings),
        _check_data_dir(settings),
        *_check_permissions(settings),
    ]
    probed: dict[str, ProbeResult] = {}
    for name, url, kind in _ports(settings):
        if url not in probed:  # a Modbus lock and the door inputs may share one module
            probed[url] = probe(url)
        checks.append(check_port(name, probed[url], kind))
    if settings.camera is not None:
        checks.append(_check_camera(settings.camera.source))
    if settings.mqtt is not None:
        checks.append(check_broker(settings, mqtt_timeout_s))
    return checks


def as_json(checks: list[Check]) -> dict[str, object]:
    """Return the report as plain JSON data."""
    return {"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}
