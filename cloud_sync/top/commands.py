"""``smartstore cloud top``: arguments and handler (rich and the poller load only when it runs)."""

from __future__ import annotations

import argparse
import os
import sys


def _top(args: argparse.Namespace) -> int:
    from rich.console import Console

    from cloud_sync.top.live import live, once
    from cloud_sync.top.poll import CloudReader

    token = args.token or os.environ.get("CLOUD_API_TOKEN")
    if not token:
        print("cloud top: give --token or set CLOUD_API_TOKEN (smartstore cloud token create)", file=sys.stderr)
        return 2
    if args.json and not args.once:
        print("cloud top: --json goes with --once", file=sys.stderr)
        return 2
    reader = CloudReader(args.url, token, events=args.events)
    if args.once:
        return once(reader, Console(), as_json=args.json)
    return live(reader, Console(), interval_s=args.interval)


def register_top(sub: argparse._SubParsersAction) -> None:
    """Add ``cloud top``."""
    p = sub.add_parser("top", help="A live terminal view of the fleet: stores, alarms, latest events.")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the cloud's base URL (default %(default)s)")
    p.add_argument("--token", help="API token (default $CLOUD_API_TOKEN)")
    p.add_argument("--once", action="store_true", help="print one frame and exit")
    p.add_argument("--json", action="store_true", help="with --once: print the data as JSON")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
    p.add_argument("--events", type=int, default=20, choices=range(1, 501), metavar="N", help="latest events shown")
    p.set_defaults(func=_top)
