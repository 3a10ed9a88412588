"""``smartstore cloud home-assistant-login``: a read-only broker login for a Home Assistant instance.

Handlers import paho only when they run, so ``smartstore --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys


def _home_assistant_login(args: argparse.Namespace) -> int:
    from cloud_sync.broker.admin import BrokerAdmin
    from cloud_sync.config import CloudSettings
    from contracts.errors import ContractError

    settings = CloudSettings.from_env(mqtt_host=args.mqtt_host, mqtt_port=args.mqtt_port)
    admin = BrokerAdmin.from_settings(settings)
    if admin is None:
        print("home-assistant-login: set CLOUD_BROKER_ADMIN_USERNAME/PASSWORD (credentials/serve.env)", file=sys.stderr)
        return 2
    stores: list[str] = args.store or []
    try:
        with admin:
            if args.delete:
                admin.delete_home_assistant(args.username)
            else:
                identity = admin.create_home_assistant(args.username, stores)
                for store_id in stores:  # stores enrolled before discovery existed
                    admin.grant_discovery(store_id)
    except (RuntimeError, ContractError) as err:  # BrokerAdminError, a bad store id
        print(f"home-assistant-login: {err}", file=sys.stderr)
        return 2
    if args.delete:
        print(f"deleted broker login {args.username}")
    elif args.json:
        print(json.dumps({"username": identity.username, "password": identity.password, "stores": stores}))
    else:
        print(f"read-only broker login {identity.username}: {identity.password}")
        print("give it to Home Assistant's MQTT integration; store it now, it is not kept.", file=sys.stderr)
    return 0


def register_home_assistant_login(sub: argparse._SubParsersAction) -> None:
    """Add ``cloud home-assistant-login``."""
    p = sub.add_parser(
        "home-assistant-login", help="Create a read-only broker login for Home Assistant (discovery, state)."
    )
    p.add_argument("--mqtt-host", help="broker host (default $CLOUD_MQTT_HOST or 127.0.0.1)")
    p.add_argument("--mqtt-port", type=int, help="broker port (default $CLOUD_MQTT_PORT or 1883)")
    p.add_argument("username")
    p.add_argument("--store", action="append", help="only this store (repeat; default every store)")
    p.add_argument("--delete", action="store_true", help="delete the login instead")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_home_assistant_login)
