"""Generate a fleet broker's configuration: ``mosquitto.conf``, its dynamic-security state, credentials.

``write_broker_config(out_dir)`` writes everything ``mosquitto -c out_dir/mosquitto.conf`` needs:
no anonymous access, one listener (TLS when certificate files are given), Mosquitto's
dynamic-security plugin with the cloud's roles (``acl.py``) and one identity per cloud process
(admin for the API, ingest, downlink), whose credentials go to ``credentials/*.env`` files (mode
0600) in the ``CLOUD_*`` form ``smartstore cloud serve/ingest`` read (a systemd
``EnvironmentFile``). Stores get their identities at enrolment, over the plugin's control topic
while the broker runs (``admin.py``).
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cloud_sync.broker.acl import ADMIN_ROLE, DOWNLINK_ROLE, INGEST_ROLE, admin_role, downlink_role, ingest_role

PLUGIN_GLOBS = (
    "/usr/lib/*/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto/mosquitto_dynamic_security.so",
)
DYNSEC_FILE = "dynamic-security.json"
CONF_FILE = "mosquitto.conf"
PBKDF2_ITERATIONS = 101  # the plugin's own default; passwords here are 256-bit random tokens


class BrokerSetupError(RuntimeError):
    """The broker's files cannot be generated (plugin missing, unwritable directory)."""


def find_dynsec_plugin() -> str:
    """Return the path of Mosquitto's dynamic-security plugin.

    Raises:
        BrokerSetupError: the plugin is not installed (it ships in Debian's ``mosquitto``).
    """
    for pattern in PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    raise BrokerSetupError("Mosquitto's dynamic-security plugin was not found: apt-get install -y mosquitto")


def new_password() -> str:
    """Return a fresh broker password (256 random bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def dynsec_client(username: str, password: str, roles: Sequence[str], text_name: str = "") -> dict[str, object]:
    """Return a client entry of the plugin's JSON state, with its password hashed as the plugin does."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return {
        "username": username,
        "textName": text_name or username,
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": PBKDF2_ITERATIONS,
        "roles": [{"rolename": r} for r in roles],
    }


@dataclass(frozen=True)
class TlsFiles:
    """A TLS listener's files: the CA clients are checked against, and the broker's own pair.

    With ``require_certificate`` a client must also present a certificate signed by ``cafile``.
    """

    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False


@dataclass(frozen=True)
class Identity:
    """One broker login."""

    username: str
    password: str


@dataclass(frozen=True)
class BrokerFiles:
    """What ``write_broker_config`` wrote."""

    directory: Path
    conf: Path
    port: int
    host: str
    admin: Identity
    ingest: Identity
    downlink: Identity
    env_files: dict[str, Path] = field(default_factory=dict)
    tls: TlsFiles | None = None


def conf_lines(
    directory: Path,
    *,
    port: int,
    host: str = "127.0.0.1",
    tls: TlsFiles | None = None,
    user: str | None = None,
    max_queued_messages: int = 1_000_000,
    persistence: bool = True,
) -> list[str]:
    """Return the lines of ``mosquitto.conf`` for a broker whose state lives in ``directory``."""
    lines = [
        "per_listener_settings false",
        "allow_anonymous false",
        f"plugin {find_dynsec_plugin()}",
        f"plugin_opt_config_file {directory / DYNSEC_FILE}",
        f"listener {port} {host}",
    ]
    if tls is not None:
        lines += [f"cafile {tls.cafile}", f"certfile {tls.certfile}", f"keyfile {tls.keyfile}", "tls_version tlsv1.2"]
        if tls.require_certificate:
            lines += ["require_certificate true"]
    lines += [
        f"max_queued_messages {max_queued_messages}",
        "max_inflight_messages 0",
        "max_queued_bytes 0",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {directory}/",
        "autosave_interval 1",
    ]
    if user:
        lines.append(f"user {user}")
    return lines


def dynsec_state(admin: Identity, ingest: Identity, downlink: Identity, group: str) -> dict[str, object]:
    """Return the plugin's initial state: the cloud's roles and identities; everything else denied."""
    return {
        "clients": [
            dynsec_client(admin.username, admin.password, [ADMIN_ROLE], "smartstore cloud API (identity admin)"),
            dynsec_client(ingest.username, ingest.password, [INGEST_ROLE], "smartstore ingest workers"),
            dynsec_client(downlink.username, downlink.password, [DOWNLINK_ROLE], "smartstore downlink publisher"),
        ],
        "roles": [admin_role().to_json(), ingest_role(group).to_json(), downlink_role().to_json()],
        "groups": [],
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": False,
        },
    }


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (created 0600, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def _env(identity: Identity, port: int, host: str, tls: TlsFiles | None, admin: Identity | None = None) -> str:
    lines = [
        f"CLOUD_MQTT_HOST={host}",
        f"CLOUD_MQTT_PORT={port}",
        f"CLOUD_MQTT_USERNAME={identity.username}",
        f"CLOUD_MQTT_PASSWORD={identity.password}",
    ]
    if tls is not None:
        lines.append(f"CLOUD_MQTT_CA_FILE={tls.cafile}")
    if admin is not None:
        lines += [f"CLOUD_BROKER_ADMIN_USERNAME={admin.username}", f"CLOUD_BROKER_ADMIN_PASSWORD={admin.password}"]
    return "\n".join(lines) + "\n"


def write_broker_config(
    out_dir: Path,
    *,
    port: int = 1883,
    host: str = "127.0.0.1",
    tls: TlsFiles | None = None,
    user: str | None = None,
    group: str = "cloud-ingest",
    max_queued_messages: int = 1_000_000,
    persistence: bool = True,
) -> BrokerFiles:
    """Write a complete broker configuration into ``out_dir`` (0700) and return what it holds.

    An existing dynamic-security state is kept (it holds the enrolled stores); only a missing
    one is created, with fresh cloud identities.

    Raises:
        BrokerSetupError: the plugin is missing or ``out_dir`` cannot be written.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(out_dir, 0o700)
        (out_dir / "credentials").mkdir(exist_ok=True, mode=0o700)
    except OSError as err:
        raise BrokerSetupError(f"cannot write {out_dir}: {err.strerror}") from err
    out_dir = out_dir.resolve()
    conf = out_dir / CONF_FILE
    lines = conf_lines(
        out_dir,
        port=port,
        host=host,
        tls=tls,
        user=user,
        max_queued_messages=max_queued_messages,
        persistence=persistence,
    )
    state_path = out_dir / DYNSEC_FILE
    creds_path = out_dir / "credentials" / "cloud.json"
    if state_path.exists() and creds_path.exists():
        saved = json.loads(creds_path.read_text())
        admin, ingest, downlink = (Identity(**saved[k]) for k in ("admin", "ingest", "downlink"))
    else:
        admin, ingest, downlink = (
            Identity(name, new_password()) for name in ("cloud-admin", "cloud-ingest", "cloud-downlink")
        )
        _write_private(state_path, json.dumps(dynsec_state(admin, ingest, downlink, group), indent=2))
        creds = {
            k: {"username": i.username, "password": i.password}
            for k, i in zip(("admin", "ingest", "downlink"), (admin, ingest, downlink), strict=True)
        }
        _write_private(creds_path, json.dumps(creds, indent=2))
    env_files: dict[str, Path] = {}
    # ``cloud ingest`` logs in as the ingest; ``cloud serve`` as the downlink publisher, and it
    # manages store identities with the admin login.
    for name, text in (
        ("ingest", _env(ingest, port, host, tls)),
        ("serve", _env(downlink, port, host, tls, admin=admin)),
    ):
        path = out_dir / "credentials" / f"{name}.env"
        _write_private(path, text)
        env_files[name] = path
    _write_private(conf, "\n".join(lines) + "\n")
    return BrokerFiles(out_dir, conf, port, host, admin, ingest, downlink, env_files, tls)
