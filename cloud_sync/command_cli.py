"""``smartstore cloud command``: send one signed command to a store from the operator's shell and wait for its reply."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _command_args(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """Map the CLI's words to the contract's command name and arguments."""
    if args.action == "unlock":
        return "unlock", {"duration_s": args.duration}
    if args.action == "lockdown":
        return "lockdown", {"active": not args.lift}
    if args.action == "set-mode":
        return "set_mode", {"mode": args.mode}
    if args.action == "reset-occupancy":
        return "reset_occupancy", {"count": args.count}
    return "resolve_review", {"station_id": args.station, "product_id": args.product, "quantity": args.quantity}


def _command(args: argparse.Namespace) -> int:
    import getpass

    from cloud_sync.cli import DatabaseNotReady, _migrated_engine, _settings
    from cloud_sync.command_link import CommandClient
    from cloud_sync.db.session import make_session_factory
    from cloud_sync.downlink_key import DownlinkKeyError
    from cloud_sync.downlink_key import load as load_keys
    from cloud_sync.services import commands
    from cloud_sync.services.errors import ServiceError

    settings = _settings(args)
    name, values = _command_args(args)
    try:
        engine = _migrated_engine(settings)
    except DatabaseNotReady as err:
        print(f"command: {err}", file=sys.stderr)
        return 2
    actor = f"cli:{getpass.getuser()}"
    sessions = make_session_factory(engine)
    try:
        if settings.downlink_key_file is None:
            raise DownlinkKeyError("CLOUD_DOWNLINK_KEY_FILE is not set: the command could not be signed")
        signer = load_keys(settings.downlink_key_file).active
        with sessions.begin() as session:
            commands.check_store(session, args.store_id)
            cmd = commands.build(
                name, values, reason=args.reason, issued_by=actor, lifetime_s=settings.command_lifetime_s
            )
        link = CommandClient(settings, sessions, signer)
        link.connect()
        with sessions.begin() as session:
            commands.record_sent(session, args.store_id, cmd, role="operator")
        try:
            reply = link.send(args.store_id, cmd, args.wait)
        finally:
            link.close()
    except ServiceError as err:
        print(f"command: {err.detail}", file=sys.stderr)
        return 1
    except (DownlinkKeyError, ConnectionError) as err:
        print(f"command: {err}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    out = {"correlation_id": cmd.correlation_id, "store_id": args.store_id, "name": name}
    out |= {"status": reply.status, "error": reply.error} if reply else {"status": "sent"}
    if args.json:
        print(json.dumps(out))
    elif reply is None:
        print(f"{name} sent to {args.store_id} ({cmd.correlation_id}); no reply within {args.wait:g} s")
    else:
        detail = f": {reply.error}" if reply.error else ""
        print(f"{args.store_id} answered {name} ({cmd.correlation_id}): {reply.status}{detail}")
    if reply is None:
        return 3
    return 0 if reply.status == "ok" else 1


def register_command(sub: argparse._SubParsersAction) -> None:
    """Add ``cloud command STORE ACTION``."""
    from cloud_sync.cli import _add_db, _add_mqtt

    p = sub.add_parser("command", help="Send a signed command to a store and wait for its reply.")
    p.add_argument("store_id")
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = csub.add_parser("unlock", help="Open the door once, remotely.")
    c.add_argument("--duration", type=float, default=5.0, help="seconds the lock stays released (default 5)")
    c = csub.add_parser("lockdown", help="Lock every door and refuse every code (exit stays free).")
    c.add_argument("--lift", action="store_true", help="end the lockdown")
    c = csub.add_parser("set-mode", help="Force day or night mode, or return to the schedule.")
    c.add_argument("mode", choices=["day", "night", "auto"])
    c = csub.add_parser("reset-occupancy", help="Set the occupancy count after a head count.")
    c.add_argument("count", type=int)
    c = csub.add_parser("resolve-review", help="Resolve a checkout's staff review.")
    c.add_argument("station", help="checkout station id, e.g. co1")
    c.add_argument("product", nargs="?", help="product for the held item (omit to clear the holds)")
    c.add_argument("--quantity", type=int)
    for c in csub.choices.values():
        c.add_argument("--reason", required=True, help="why (kept in the audit log and shown to other operators)")
        c.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the store's reply (default 15)")
        c.add_argument("--json", action="store_true")
        _add_db(c)
        _add_mqtt(c)
        c.set_defaults(func=_command)
