"""Application-level subcommands that compose several packages: ``smartstore demo``."""

from __future__ import annotations

import argparse
import json


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``demo``."""
    demo = commands.add_parser("demo", help="Run a simulated night at the store (private broker, simulated devices).")
    demo.add_argument("--json", action="store_true", help="print only the JSON summary")
    demo.add_argument("--workdir", help="keep the demo's files here (default: a temporary directory)")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from smartstore.demo import run_demo

    summary = run_demo(quiet=args.json, workdir=args.workdir)
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0 if summary["lost"] == 0 and summary["ok"] else 1
