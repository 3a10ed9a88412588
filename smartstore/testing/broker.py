"""Run a private Mosquitto broker on a free loopback port (tests, demo and benchmarks).

The broker gets a generated config in its own directory, persistence on (so a graceful restart
keeps queued QoS 1 messages of persistent sessions), and ``max_queued_messages`` raised far above
Mosquitto's default of 1000, past which it silently drops QoS 1 messages for slow subscribers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from cloud_sync.broker.acl import store_role
from cloud_sync.broker.admin import BrokerAdmin, StoreIdentity, store_username
from cloud_sync.broker.files import BrokerFiles, Identity, TlsFiles, dynsec_client, new_password, write_broker_config

HARNESS_ROLE = "test-harness"

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class BrokerError(RuntimeError):
    """The broker could not be found or started."""


def find_mosquitto() -> str:
    """Return the path of the mosquitto binary.

    Raises:
        BrokerError: mosquitto is not installed (``apt-get install mosquitto``).
    """
    for candidate in MOSQUITTO_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise BrokerError("mosquitto not found: install it with 'apt-get install -y mosquitto'")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MosquittoBroker:
    """A mosquitto process bound to 127.0.0.1 on its own port, stoppable and restartable.

    It is configured as the fleet's broker is (``cloud broker-config``): no anonymous access,
    dynamic security with the cloud's logins (``files``), TLS with ``tls``. Tests and tools log
    in as a cloud role, as a store (``store_login``), or as the ``harness``: a login allowed
    everything, which only this test broker has, for injecting traffic of many stores at once.
    """

    def __init__(
        self,
        port: int | None = None,
        workdir: Path | None = None,
        *,
        max_queued_messages: int = 1_000_000,
        persistence: bool = True,
        tls: TlsFiles | None = None,
    ) -> None:
        """Prepare (not start) a broker; the port stays the same across restarts."""
        self.port = port or free_port()
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="smartstore-mosquitto-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._stores: dict[str, StoreIdentity] = {}
        self.files: BrokerFiles = write_broker_config(
            self.workdir,
            port=self.port,
            tls=tls,
            # As root, mosquitto switches to user "mosquitto", which cannot write our directory.
            user="root" if os.geteuid() == 0 else None,
            max_queued_messages=max_queued_messages,
            persistence=persistence,
        )
        self.harness = _add_harness(self.workdir)
        logs = [f"log_dest file {self.log_path}", "log_type error", "log_type warning", "log_type notice"]
        self.config_path.write_text(self.files.conf.read_text() + "\n".join(logs) + "\n")

    def store_login(self, store_id: str) -> StoreIdentity:
        """Return the login of ``store_id``, created the first time (as enrolment would)."""
        if store_id not in self._stores:
            if self.running:
                admin = self.files.admin
                ca = str(self.files.tls.cafile) if self.files.tls else None
                with BrokerAdmin(self.host, self.port, admin.username, admin.password, ca_file=ca) as a:
                    self._stores[store_id] = a.create_store(store_id)
            else:  # not started yet: write it into the state the broker will load
                identity = StoreIdentity(store_id, store_username(store_id), new_password())
                _add_client(self.workdir, identity.username, identity.password, store_role(store_id).to_json())
                self._stores[store_id] = identity
        return self._stores[store_id]

    def login(self, client: Any, identity: Identity | StoreIdentity | None = None) -> Any:
        """Give a paho client a login (the harness by default) and return it."""
        who = identity or self.harness
        client.username_pw_set(who.username, who.password)
        return client

    def cloud(self, role: str = "ingest") -> dict[str, Any]:
        """Return ``CloudSettings`` fields for a cloud process of ``role`` (ingest or downlink) here."""
        who: Identity = getattr(self.files, role)
        return {
            "mqtt_host": self.host,
            "mqtt_port": self.port,
            "mqtt_username": who.username,
            "mqtt_password": who.password,
        }

    def cloud_env(self, role: str = "ingest") -> dict[str, str]:
        """Return the ``CLOUD_*`` variables of ``cloud(role)`` for a cloud subprocess."""
        return {f"CLOUD_{k.upper()}": str(v) for k, v in self.cloud(role).items()}

    @property
    def host(self) -> str:
        """Return the host clients connect to."""
        return "127.0.0.1"

    @property
    def running(self) -> bool:
        """Return whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts TCP connections."""
        if self.running:
            return
        self._proc = subprocess.Popen(  # noqa: S603 - fixed binary, generated config
            [find_mosquitto(), "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise BrokerError(f"mosquitto exited with {self._proc.returncode}: {err.strip()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the broker (SIGTERM, or SIGKILL with ``kill``) and wait for it to exit."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stderr:
            proc.stderr.close()

    def restart(self, *, kill: bool = False, down_s: float = 0.0) -> None:
        """Stop the broker, stay down for ``down_s`` seconds, then start it again."""
        self.stop(kill=kill)
        time.sleep(down_s)
        self.start()

    def close(self) -> None:
        """Stop the broker and remove its directory if this object created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> MosquittoBroker:
        """Start the broker."""
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the broker and clean up."""
        self.close()


def _add_client(directory: Path, username: str, password: str, role: dict[str, Any]) -> None:
    """Add a login and its role to a stopped broker's dynamic-security state."""
    state_path = directory / "dynamic-security.json"
    state = json.loads(state_path.read_text())
    state["roles"].append(role)
    state["clients"].append(dynsec_client(username, password, [str(role["rolename"])]))
    state_path.write_text(json.dumps(state, indent=2))


def _add_harness(directory: Path) -> Identity:
    """Add the all-allowed harness login to a test broker's security state (once) and return it."""
    saved = directory / "credentials" / "harness.json"
    if saved.exists():
        return Identity(**json.loads(saved.read_text()))
    harness = Identity("harness", new_password())
    acls = [
        {"acltype": kind, "topic": topic, "allow": True, "priority": 0}
        for topic in ("#", "$share/#")
        for kind in ("publishClientSend", "publishClientReceive", "subscribePattern", "unsubscribePattern")
    ]
    _add_client(directory, harness.username, harness.password, {"rolename": HARNESS_ROLE, "acls": acls})
    saved.write_text(json.dumps({"username": harness.username, "password": harness.password}))
    return harness
