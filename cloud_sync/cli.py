"""``smartstore cloud ...``: argument declarations and handlers.

Handlers import SQLAlchemy, FastAPI and paho only when they run, so ``smartstore --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from cloud_sync.broker.commands import register_home_assistant_login
from cloud_sync.command_cli import register_command
from cloud_sync.top.commands import register_top
from contracts.logformat import FORMATS, LEVELS, configure


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from cloud_sync.config import CloudSettings

    overrides = {
        "database_url": getattr(args, "database_url", None),
        "mqtt_host": getattr(args, "mqtt_host", None),
        "mqtt_port": getattr(args, "mqtt_port", None),
    }
    overrides.update(extra)
    return CloudSettings.from_env(**overrides)


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--database-url", help="SQLAlchemy URL (default $CLOUD_DATABASE_URL or sqlite:///./smartstore-cloud.db)"
    )


def _add_mqtt(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mqtt-host", help="broker host (default $CLOUD_MQTT_HOST or 127.0.0.1)")
    p.add_argument("--mqtt-port", type=int, help="broker port (default $CLOUD_MQTT_PORT or 1883)")


class DatabaseNotReady(RuntimeError):
    """The database is missing, unreachable or not at the shipped schema revision (``retryable``: unreachable)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        """Keep the one-line message and whether waiting could help."""
        super().__init__(message)
        self.retryable = retryable


def _migrated_engine(settings: Any) -> Any:
    """Return an engine on a database at the shipped schema revision.

    Raises:
        DatabaseNotReady: with one line that says what to do (never an empty SQLite file left behind).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from cloud_sync.db.migrate import current_revision, head_revision
    from cloud_sync.db.session import make_engine

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        from pathlib import Path

        if not Path(url.database).exists():
            raise DatabaseNotReady(f"no database at {url.database}: run 'smartstore cloud migrate' first")
    engine = make_engine(settings.database_url)
    try:
        at = current_revision(engine)
    except SQLAlchemyError as err:
        engine.dispose()
        raise DatabaseNotReady(
            f"database unreachable: {str(getattr(err, 'orig', None) or err).splitlines()[0]}", retryable=True
        ) from err
    if at != head_revision():
        engine.dispose()
        raise DatabaseNotReady(f"database at revision {at or 'none'}: run 'smartstore cloud migrate' first")
    return engine


def _database_ready(settings: Any, command: str) -> None:
    """Check the database before a long-running process starts; wait (bounded, logged) only while it is unreachable.

    Raises:
        DatabaseNotReady: not migrated (at once), or still unreachable after ``CLOUD_DB_WAIT_S``.
    """
    import logging
    import time

    log = logging.getLogger("cloud_sync")
    delay, deadline = 1.0, time.monotonic() + settings.db_wait_s
    while True:
        try:
            _migrated_engine(settings).dispose()
            return
        except DatabaseNotReady as err:
            if not err.retryable or time.monotonic() + delay > deadline:
                raise
            log.warning("%s: %s; retrying in %.0f s", command, err, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _migrate(args: argparse.Namespace) -> int:
    from cloud_sync.db.migrate import current_revision, head_revision, upgrade
    from cloud_sync.db.session import make_engine

    settings = _settings(args)
    engine = make_engine(settings.database_url)
    try:
        before = current_revision(engine)
        upgrade(engine, args.revision)
        after = current_revision(engine)
    finally:
        engine.dispose()
    print(f"database at revision {after} (was {before}; newest shipped {head_revision()})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cloud_sync.main import create_app

    settings = _settings(
        args,
        downlink_enabled=False if args.no_downlink else None,
        notify_enabled=False if args.no_watcher else None,
    )
    if args.migrate:
        from cloud_sync.db.migrate import upgrade
        from cloud_sync.db.session import make_engine

        engine = make_engine(settings.database_url)
        upgrade(engine)
        engine.dispose()
    configure(args.log_level if args.log_level != "trace" else "debug", args.log_format)
    try:
        _database_ready(settings, "serve")
    except DatabaseNotReady as err:
        print(f"serve: {err}", file=sys.stderr)
        return 2
    logging.getLogger("cloud_sync").info(
        "serve: %s on %s:%d, downlink %s",
        _summary(settings),
        args.host,
        args.port,
        "on" if settings.downlink_enabled else "off (run 'cloud downlink')",
    )
    logging.getLogger("cloud_sync").info("shopper app: http://%s:%d/app/ (docs/shopper-app.md)", args.host, args.port)
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_config=None,  # uvicorn's loggers go through the root handler: one format for everything
        proxy_headers=True,
    )
    return 0


def _summary(settings: Any) -> str:
    """Return version, database (no password) and broker of a cloud process, for its first log line."""
    from importlib.metadata import PackageNotFoundError, version

    from sqlalchemy.engine import make_url

    try:
        release = version("smartstore")
    except PackageNotFoundError:
        release = "unknown"
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    tls = "TLS" if settings.mqtt_ca_file else "plain"
    return f"smartstore {release}, database {database}, broker {settings.mqtt_host}:{settings.mqtt_port} ({tls})"


def _ingest(args: argparse.Namespace) -> int:
    from cloud_sync.ingest.worker import IngestWorker

    configure(args.log_level, args.log_format)
    settings = _settings(
        args,
        ingest_group=args.group,
        ingest_client_id=args.client_id,
        ingest_clean_start=True if args.clean_start else None,
        ingest_batch_size=args.batch_size,
        ingest_writers=args.writers,
        ingest_state=False if args.no_state else None,
        ingest_payments=False if args.no_payments else None,
        ingest_metrics_port=args.metrics_port,
    )
    try:
        _database_ready(settings, "ingest")
    except DatabaseNotReady as err:
        print(f"ingest: {err}", file=sys.stderr)
        return 2
    worker = IngestWorker(settings)
    if settings.ingest_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.ingest_metrics_port, registry=worker.metrics.registry)
    logging.getLogger("cloud_sync").info(
        "ingest worker %s: %s, group %s", worker.client_id, _summary(settings), settings.ingest_group
    )
    return worker.run_forever()


def _downlink(args: argparse.Namespace) -> int:
    import signal
    import threading

    from cloud_sync.db.session import make_engine, make_session_factory
    from cloud_sync.downlink import DownlinkPublisher

    settings = _settings(args)
    try:
        _database_ready(settings, "downlink")
    except DatabaseNotReady as err:
        print(f"downlink: {err}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    publisher = DownlinkPublisher(settings, make_session_factory(engine))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    publisher.start()
    print(f"downlink publisher -> {settings.mqtt_host}:{settings.mqtt_port}", flush=True)
    done.wait()
    publisher.stop()
    engine.dispose()
    return 0


def _token(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from cloud_sync.db.models import ApiToken
    from cloud_sync.db.session import make_session_factory
    from cloud_sync.services.errors import ServiceError
    from cloud_sync.services.tokens import Role, create_token, revoke_token

    settings = _settings(args)
    try:
        engine = _migrated_engine(settings)
    except DatabaseNotReady as err:
        print(f"token {args.token_command}: {err}", file=sys.stderr)
        return 2
    try:
        with make_session_factory(engine)() as session, session.begin():
            if args.token_command == "create":  # noqa: S105 - a subcommand name
                try:
                    row, secret = create_token(session, name=args.name, role=Role(args.role), store_id=args.store)
                except ServiceError as err:
                    print(f"token create: {err.detail}", file=sys.stderr)
                    return 2
                if args.json:
                    print(
                        json.dumps(
                            {
                                "id": row.id,
                                "name": row.name,
                                "role": row.role,
                                "store_id": row.store_id,
                                "token": secret,
                            }
                        )
                    )
                else:
                    print(f"token {row.id} ({row.role}{', store ' + row.store_id if row.store_id else ''}): {secret}")
                    print("store it now: only its hash is kept.", file=sys.stderr)
            elif args.token_command == "list":  # noqa: S105 - a subcommand name
                for t in session.scalars(select(ApiToken).order_by(ApiToken.id)):
                    state = "revoked" if t.revoked_at else "active"
                    print(f"{t.id}\t{t.role}\t{t.store_id or '-'}\t{state}\t{t.name}")
            elif not revoke_token(session, args.id):
                print(f"no token {args.id}", file=sys.stderr)
                return 1
    finally:
        engine.dispose()
    return 0


def enrol_uri(cloud_url: str, token: str) -> str:
    """Return what the enrolment QR says: the cloud to enrol with and the one-time token."""
    from urllib.parse import urlencode

    return "smartstore://enrol?" + urlencode({"cloud": cloud_url, "token": token})


def _store(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from cloud_sync.api.routes.enrolment import make_provisioner
    from cloud_sync.db.models import Store
    from cloud_sync.db.session import make_session_factory
    from cloud_sync.services import enrolment
    from cloud_sync.services.errors import ServiceError

    settings = _settings(args)
    try:
        engine = _migrated_engine(settings)
    except DatabaseNotReady as err:
        print(f"store {args.store_command}: {err}", file=sys.stderr)
        return 2
    out: dict[str, Any] = {}
    try:
        with make_session_factory(engine)() as session, session.begin():
            if args.store_command == "create":
                store = session.get(Store, args.store_id)
                if store is None:
                    session.add(Store(id=args.store_id, name=args.name or args.store_id, registered=True))
                    session.flush()
                issued = enrolment.issue(
                    session, args.store_id, ttl=timedelta(hours=args.ttl_hours), replace=args.replace
                )
                uri = enrol_uri(settings.public_url or "", issued.token)
                out = {
                    "store_id": args.store_id,
                    "token": issued.token,
                    "expires_at": issued.enrolment.expires_at.isoformat(),
                    "enrol_uri": uri,
                }
                if args.qr:
                    import segno

                    segno.make(uri, error="m").save(args.qr, scale=8, border=4)
                    out["qr"] = args.qr
            elif args.store_command == "confirm":
                result = enrolment.confirm(session, args.store_id, args.code, make_provisioner(settings))
                out = {"store_id": args.store_id, "confirmed": result.accepted, "detail": result.detail}
            else:
                enrolment.retire(session, args.store_id)
                from cloud_sync.broker.admin import BrokerAdmin

                admin = BrokerAdmin.from_settings(settings)
                if admin is not None:
                    with admin:
                        admin.retire_store(args.store_id)
                out = {"store_id": args.store_id, "retired": True}
    except ServiceError as err:
        print(f"store {args.store_command}: {err.detail}", file=sys.stderr)
        return 1
    except (RuntimeError, OSError) as err:  # broker or QR file
        print(f"store {args.store_command}: {err}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(out))
    elif args.store_command == "create":
        print(f"enrolment token for {args.store_id} (valid until {out['expires_at']}): {out['token']}")
        print(f"on the Pi: smartstore agent enrol --cloud URL --token {out['token']}", file=sys.stderr)
    else:
        print(out.get("detail") or f"store {args.store_id} retired")
    return 0 if out.get("confirmed", True) else 1


def _broker_config(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cloud_sync.broker.files import BrokerSetupError, TlsFiles, write_broker_config

    out = Path(args.out)
    tls = None
    try:
        if args.tls:
            from cloud_sync.broker.pki import CertPair, issue, make_ca

            pki = out / "pki"
            ca = CertPair(pki / "ca.crt", pki / "ca.key")
            if not ca.cert.exists():
                ca = make_ca(pki)
            names = tuple(args.server_name or [args.host, "localhost"])
            server = issue(ca, pki, "broker", server_names=names)
            tls = TlsFiles(ca.cert, server.cert, server.key, require_certificate=args.require_client_cert)
        files = write_broker_config(out, port=args.port, host=args.host, tls=tls, user=args.user)
    except (BrokerSetupError, OSError) as err:
        print(f"broker-config: {err}", file=sys.stderr)
        return 2
    summary = {
        "conf": str(files.conf),
        "listener": f"{files.host}:{files.port}",
        "tls": tls is not None,
        "env_files": {k: str(v) for k, v in files.env_files.items()},
        "ca_file": str(tls.cafile) if tls else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {files.conf}: start the broker with 'mosquitto -c {files.conf}'")
        for name, path in files.env_files.items():
            print(f"  cloud {name}: EnvironmentFile={path}")
    return 0


def _downlink_key(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cloud_sync import downlink_key
    from contracts.messages import dump

    settings = _settings(args)
    path = Path(args.file) if args.file else settings.downlink_key_file
    if path is None:
        print("error: give --file or set CLOUD_DOWNLINK_KEY_FILE", file=sys.stderr)
        return 2
    try:
        if args.key_command == "create":
            keys = downlink_key.create(path)
        elif args.key_command == "rotate":
            keys = downlink_key.rotate(path)
        else:
            keys = downlink_key.load(path)
    except downlink_key.DownlinkKeyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    pinned = keys.announcement()
    if args.json:
        print(dump(pinned).decode())  # the agent's downlink_keys_file
    else:
        print(f"{path}: version {keys.version}, signing key {keys.active.kid}")
        if keys.previous is not None:
            print(f"  previous key {keys.previous.kid} signs the announcement until the next rotation")
        print(f"  stores pin: {', '.join(pinned.keys)} (`--json` prints their downlink_keys_file)")
    return 0


def _register_processes(sub: argparse._SubParsersAction) -> None:
    """Add the long-running processes: ``serve`` and ``ingest``."""
    p = sub.add_parser("serve", help="Run the REST API, dashboard and downlink publisher (uvicorn).")
    _add_db(p)
    _add_mqtt(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug", "trace"])
    p.add_argument("--log-format", choices=FORMATS, default="text", help="text (journald, default) or json lines")
    p.add_argument("--no-downlink", action="store_true", help="do not publish the downlink from this process")
    p.add_argument(
        "--no-watcher", action="store_true", help="no store_offline alerts or webhook notifications from this process"
    )
    p.add_argument("--migrate", action="store_true", help="upgrade the database before serving")
    p.set_defaults(func=_serve)

    p = sub.add_parser("ingest", help="Run an MQTT ingest worker (shared subscription; run several).")
    _add_db(p)
    _add_mqtt(p)
    p.add_argument("--group", help="shared subscription group (default cloud-ingest)")
    p.add_argument("--client-id", help="stable MQTT client id of this worker (its persistent session)")
    p.add_argument(
        "--clean-start", action="store_true", help="no persistent session (brokers that redispatch, e.g. EMQX)"
    )
    p.add_argument("--batch-size", type=int, help="messages per transaction (default 500)")
    p.add_argument("--writers", type=int, help="parallel writer threads (default 2)")
    p.add_argument("--no-state", action="store_true", help="leave availability/state topics to another worker")
    p.add_argument("--no-payments", action="store_true", help="do not answer pay/request")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--log-level", choices=LEVELS, default="info", type=str.lower)
    p.add_argument("--log-format", choices=FORMATS, default="text", help="text (journald, default) or json lines")
    p.set_defaults(func=_ingest)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``cloud`` (serve, ingest, migrate, token, downlink, downlink-key)."""
    cloud = commands.add_parser("cloud", help="Cloud service: REST API, MQTT ingest, migrations, API tokens.")
    sub = cloud.add_subparsers(dest="cloud_command", metavar="SUBCOMMAND", required=True)

    _register_processes(sub)

    p = sub.add_parser("migrate", help="Upgrade the database schema (Alembic, shipped in the package).")
    _add_db(p)
    p.add_argument("--revision", default="head")
    p.set_defaults(func=_migrate)

    p = sub.add_parser("downlink", help="Run only the downlink publisher (when 'serve' runs with --no-downlink).")
    _add_db(p)
    _add_mqtt(p)
    p.set_defaults(func=_downlink)

    p = sub.add_parser("store", help="Create a store with an enrolment token, confirm its pairing code, retire it.")
    ssub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    c = ssub.add_parser("create", help="Register a store (if new) and print a one-time enrolment token.")
    c.add_argument("store_id")
    c.add_argument("--name")
    c.add_argument("--ttl-hours", type=int, default=24, help="token lifetime (default 24)")
    c.add_argument("--replace", action="store_true", help="a replacement Pi: retire the current agent on confirmation")
    c.add_argument("--qr", metavar="FILE", help="also write the enrolment as a QR PNG")
    c = ssub.add_parser("confirm", help="Confirm the pairing code shown on the store's screen.")
    c.add_argument("store_id")
    c.add_argument("code")
    c = ssub.add_parser("retire", help="Retire a store's agent: broker login and API tokens stop working.")
    c.add_argument("store_id")
    for c in ssub.choices.values():
        _add_db(c)
        c.add_argument("--json", action="store_true")
        c.set_defaults(func=_store)

    register_command(sub)

    p = sub.add_parser("broker-config", help="Write the fleet broker's Mosquitto configuration and cloud logins.")
    p.add_argument("--out", required=True, help="directory for mosquitto.conf, its security state and credentials")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--host", default="127.0.0.1", help="address the listener binds (default 127.0.0.1)")
    p.add_argument("--tls", action="store_true", help="TLS listener with a fleet CA generated in OUT/pki")
    p.add_argument("--server-name", action="append", help="name or address in the broker's certificate (repeat)")
    p.add_argument("--require-client-cert", action="store_true", help="clients must present a certificate")
    p.add_argument("--user", help="user mosquitto switches to (it must own OUT)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_broker_config)
    register_top(sub)
    register_home_assistant_login(sub)
    p = sub.add_parser("downlink-key", help="Create, rotate or show the key that signs everything sent to stores.")
    ksub = p.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    for action, text in (
        ("create", "Create the key file (0600); refuses to overwrite."),
        ("rotate", "Make a new signing key; the old one announces it to stores."),
        ("show", "Print the key ids stores pin (--json: their downlink_keys_file)."),
    ):
        c = ksub.add_parser(action, help=text)
        c.add_argument("--file", help="key file (default $CLOUD_DOWNLINK_KEY_FILE)")
        c.add_argument("--json", action="store_true", help="print the public key set as JSON")
        c.set_defaults(func=_downlink_key)

    p = sub.add_parser("token", help="Create, list or revoke API tokens.")
    tsub = p.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    c = tsub.add_parser("create", help="Create a token and print its secret once.")
    _add_db(c)
    c.add_argument("--name", required=True)
    c.add_argument("--role", required=True, choices=["operator", "technician", "device"])
    c.add_argument("--store", help="bind a device token to one store")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_token)
    c = tsub.add_parser("list", help="List tokens.")
    _add_db(c)
    c.set_defaults(func=_token)
    c = tsub.add_parser("revoke", help="Revoke a token by id.")
    _add_db(c)
    c.add_argument("id", type=int)
    c.set_defaults(func=_token)
