"""Run a private Mosquitto broker on a free loopback port (tests, demo and benchmarks).

The broker gets a generated config in its own directory, persistence on (so a graceful restart
keeps queued QoS 1 messages of persistent sessions), and ``max_queued_messages`` raised far above
Mosquitto's default of 1000, past which it silently drops QoS 1 messages for slow subscribers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from cloud_sync.broker.files import BrokerFiles, TlsFiles, write_broker_config

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
    """A mosquitto process bound to 127.0.0.1 on its own port, stoppable and restartable."""

    def __init__(
        self,
        port: int | None = None,
        workdir: Path | None = None,
        *,
        max_queued_messages: int = 1_000_000,
        persistence: bool = True,
        secured: bool = False,
        tls: TlsFiles | None = None,
    ) -> None:
        """Prepare (not start) a broker; the port stays the same across restarts.

        ``secured`` runs it as the fleet's broker is configured (``cloud broker-config``): no
        anonymous access, dynamic security with the cloud's identities (``self.files``), and TLS
        with ``tls``.
        """
        self.port = port or free_port()
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="smartstore-mosquitto-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.files: BrokerFiles | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        if secured or tls is not None:
            self.files = write_broker_config(
                self.workdir,
                port=self.port,
                tls=tls,
                user="root" if os.geteuid() == 0 else None,
                max_queued_messages=max_queued_messages,
                persistence=persistence,
            )
            logs = [f"log_dest file {self.log_path}", "log_type error", "log_type warning", "log_type notice"]
            self.config_path.write_text(self.files.conf.read_text() + "\n".join(logs) + "\n")
            return
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            f"max_queued_messages {max_queued_messages}",
            "max_inflight_messages 0",
            "max_queued_bytes 0",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            # As root, mosquitto switches to user "mosquitto", which cannot write our directory.
            lines.append("user root")
        self.config_path.write_text("\n".join(lines) + "\n")

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
