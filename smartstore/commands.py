"""Application-level subcommands that compose several packages: ``smartstore demo``."""

from __future__ import annotations

import argparse
import json
import sys


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``demo``."""
    demo = commands.add_parser("demo", help="Run a simulated night at the store on the whole real system.")
    demo.add_argument("--json", action="store_true", help="print only the JSON summary")
    demo.add_argument("--workdir", help="keep the demo's files here (default: a temporary directory)")
    demo.add_argument(
        "--keep-running", action="store_true", help="leave the system up after the night (dashboard URL, token)"
    )
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from smartstore.demo import run_demo
    from smartstore.stack import StackError, stop_on_signals

    try:
        with stop_on_signals():
            summary = run_demo(quiet=args.json, workdir=args.workdir, keep_running=args.keep_running)
    except StackError as err:
        print(f"demo: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    except Exception as err:  # anything unforeseen: one line, not a traceback (the logs are in --workdir)
        print(f"demo: failed: {err.__class__.__name__}: {err}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0 if summary["lost"] == 0 and summary["ok"] else 1
