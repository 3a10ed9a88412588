"""``smartstore agent`` and ``smartstore member`` subcommands."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contracts.logformat import FORMATS, LEVELS


def register(commands: argparse._SubParsersAction) -> None:
    """Add the agent's subcommands."""
    agent = commands.add_parser("agent", help="Run the store agent.")
    agent_sub = agent.add_subparsers(dest="agent_command", required=True)
    run = agent_sub.add_parser("run", help="Run the door agent from a TOML config until stopped.")
    run.add_argument("--config", required=True, type=Path, help="agent TOML file (see docs/operations.md)")
    run.add_argument("--log-level", choices=LEVELS, default="info", type=str.lower, help="default info")
    run.add_argument("--log-format", choices=FORMATS, default="text", help="text (journald, default) or json lines")
    run.set_defaults(func=_agent_run)
    check = agent_sub.add_parser(
        "check",
        help="Before opening: config, keys, outbox dir, each serial port's protocol, camera, broker (agent stopped).",
    )
    check.add_argument("--config", required=True, type=Path, help="agent TOML file (see docs/operations.md)")
    check.add_argument("--json", action="store_true", help="print JSON instead of one line per check")
    check.set_defaults(func=_agent_check)

    enrol = agent_sub.add_parser(
        "enrol", help="Enrol this device with the cloud: one-time token, pairing code, then its own config."
    )
    enrol.add_argument("--cloud", help="the cloud's URL (or inside the token's smartstore://enrol QR text)")
    enrol.add_argument("--token", required=True, help="the enrolment token, or the QR's smartstore://enrol text")
    enrol.add_argument("--config-out", type=Path, default=Path("/etc/smartstore/agent.toml"))
    enrol.add_argument("--devices", type=Path, help="TOML with the store's devices (lock, inputs, scanner, checkout)")
    enrol.add_argument("--data-dir", type=Path, default=Path("/var/lib/smartstore"))
    enrol.add_argument("--wait-min", type=float, default=15.0, help="how long to wait for the operator (minutes)")
    enrol.set_defaults(func=_agent_enrol)

    member = commands.add_parser("member", help="Member keys, passes and codes (plays the cloud and the phone).")
    msub = member.add_subparsers(dest="member_command", required=True)
    keygen = msub.add_parser("keygen", help="Create an issuer key (cloud) or a phone key.")
    keygen.add_argument("--kind", choices=["issuer", "phone"], default="issuer")
    keygen.add_argument("--out", required=True, type=Path, help="private key file to write")
    keygen.set_defaults(func=_keygen)
    issue = msub.add_parser("issue-pass", help="Sign a member pass for a phone key.")
    issue.add_argument("--issuer-key", required=True, type=Path)
    issue.add_argument(
        "--phone-key", required=True, type=Path, help="the phone's private key file (its public half is used)"
    )
    issue.add_argument("--member", required=True)
    issue.add_argument("--tier", default="standard")
    issue.add_argument("--valid-hours", type=float, default=24.0)
    issue.add_argument("--out", required=True, type=Path)
    issue.set_defaults(func=_issue_pass)
    show = msub.add_parser("show-code", help="Play the phone: print the current QR payload, optionally as PNG.")
    show.add_argument("--pass", dest="pass_file", required=True, type=Path)
    show.add_argument("--phone-key", required=True, type=Path)
    show.add_argument("--store", required=True)
    show.add_argument("--png", type=Path, help="also write the QR code as a PNG image")
    show.set_defaults(func=_show_code)


def _agent_check(args: argparse.Namespace) -> int:
    from edge_agent.preflight import as_json, run_checks

    checks = run_checks(args.config)
    if args.json:
        print(json.dumps(as_json(checks), indent=2))
    else:
        print("\n".join(c.line() for c in checks))
    return 0 if all(c.ok for c in checks) else 1


def _agent_enrol(args: argparse.Namespace) -> int:
    from edge_agent.enrol import EnrolFailed, EnrolFiles, enrol, load_devices

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    files = EnrolFiles(args.config_out)
    screen_stop: list[Callable[[], None]] = []
    try:
        devices = load_devices(args.devices)
        bundle = enrol(
            args.cloud,
            args.token,
            files,
            devices=devices,
            data_dir=args.data_dir,
            show_code=lambda code: screen_stop.append(_show_on_screen(devices, code)),
            wait_s=args.wait_min * 60,
        )
    except EnrolFailed as err:
        print(f"enrol: {err}", file=sys.stderr)
        return 2
    finally:
        for stop in screen_stop:
            stop()
    print(f"enrolled as store {bundle.store_id}: wrote {files.config}")
    print(f"next: smartstore agent check --config {files.config}", file=sys.stderr)
    return 0


def _show_on_screen(devices: dict[str, Any], code: str) -> Callable[[], None]:
    """Show the pairing code on the first checkout screen the devices file names; return its stop."""
    from edge_agent.config import StationSettings

    for station in (devices.get("checkout") or {}).get("stations", []):
        try:
            settings = StationSettings.model_validate(station)
        except ValueError:
            continue
        if settings.screen is None:
            continue
        from edge_agent import hardware
        from edge_agent.domain.checkout.outputs import ShowMessage

        driver, screen = hardware.station_screen(
            settings.screen, "enrol-screen", lambda _input: None, lambda _role, _kind: lambda *_status: None
        )
        driver.start()
        if driver.wait_online(5.0):
            screen.render(ShowMessage(f"Pairing code {code[:3]} {code[3:]}"))
        return lambda: driver.stop()
    return lambda: None


def _agent_run(args: argparse.Namespace) -> int:
    from contracts.logformat import configure
    from edge_agent.adapters.systemd import Notifier
    from edge_agent.bootstrap import build_agent, describe
    from edge_agent.config import AgentSettings
    from edge_agent.config_errors import ConfigError
    from edge_agent.safe_start import StartupError, secure_lock_first

    configure(args.log_level, args.log_format)
    log = logging.getLogger("edge_agent")
    systemd = Notifier()
    try:
        safe = secure_lock_first(args.config)  # the data directory, then "locked": before anything that can fail
    except StartupError as err:  # names the file and line itself
        print(f"error: cannot start the agent: {err}", file=sys.stderr)
        return 2
    try:
        settings = AgentSettings.from_toml(args.config)
        log.info("starting: %s", describe(settings, args.config))
        running = build_agent(settings, notifier=systemd)
    except Exception as err:  # missing files, bad TOML, invalid settings, bad keys, anything: one line, lock safe
        log.debug("start-up failed", exc_info=True)
        kind = "" if isinstance(err, (OSError, ValueError)) else f"{type(err).__name__}: "
        locked = "the lock was left locked" if safe.locked else "the lock port did not open"
        where = "" if isinstance(err, ConfigError) else f" with {args.config}"
        print(f"error: cannot start the agent{where}: {kind}{err} ({locked})", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    systemd.send("READY=1", f"STATUS=store {settings.store_id}: door locked, agent running")
    log.info("ready: store %s (lock set to its safe state first)", settings.store_id)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        systemd.send("STOPPING=1")
        log.info("stopping: locking the door")
        running.stop()
        safe.lock_file.release()
        log.info("stopped")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from contracts.member_code import IssuerKey, PhoneKey, encode_public_keys

    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.kind == "issuer":
        key = IssuerKey.generate()
        args.out.write_bytes(key.to_pem())
        public = args.out.with_suffix(".public.json")
        public.write_text(json.dumps(encode_public_keys({key.kid: key.public_raw}), indent=2) + "\n")
        print(json.dumps({"kid": key.kid.hex(), "private": str(args.out), "public": str(public)}))
    else:
        phone = PhoneKey.generate()
        args.out.write_text(phone.private_raw().hex() + "\n")
        print(json.dumps({"phone_public_key": phone.public_raw.hex(), "private": str(args.out)}))
    args.out.chmod(0o600)
    return 0


def _issue_pass(args: argparse.Namespace) -> int:
    from contracts.member_code import IssuerKey, PhoneKey

    issuer = IssuerKey.from_pem(args.issuer_key.read_bytes())
    phone = PhoneKey.from_raw(bytes.fromhex(args.phone_key.read_text().strip()))
    signed = issuer.issue_pass(
        member_id=args.member,
        tier=args.tier,
        phone_key=phone.public_raw,
        now=time.time(),
        valid_s=int(args.valid_hours * 3600),
    )
    args.out.write_text(base64.b64encode(signed).decode() + "\n")
    print(
        json.dumps({"member": args.member, "tier": args.tier, "pass": str(args.out), "valid_hours": args.valid_hours})
    )
    return 0


def _show_code(args: argparse.Namespace) -> int:
    from contracts.member_code import PhoneKey

    phone = PhoneKey.from_raw(bytes.fromhex(args.phone_key.read_text().strip()))
    signed = base64.b64decode(args.pass_file.read_text().strip())
    text = phone.show_code(signed, store_id=args.store, now=time.time())
    if args.png:
        import cv2

        from edge_agent.adapters.camera import qr_image

        if not cv2.imwrite(str(args.png), qr_image(text, scale=6)):
            print(f"error: could not write {args.png}", file=sys.stderr)
            return 1
    print(text)
    return 0
