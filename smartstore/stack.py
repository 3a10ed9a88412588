"""The whole system as processes on one machine: broker, cloud database, serve, ingest, enrolled agents.

Used by ``smartstore demo`` and the end-to-end tests. Every child runs in its own process group and
``Stack.close`` terminates (then kills) all of them, so nothing outlives the stack on any exit path.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import tomli_w
from sqlalchemy import Engine, text

from cloud_sync.db.migrate import upgrade
from cloud_sync.db.session import make_engine
from smartstore.testing.broker import MosquittoBroker, free_port

REPO = Path(__file__).resolve().parents[1]


class StackError(RuntimeError):
    """A step of the stack failed; the message is the one line to show."""


class ApiError(StackError):
    """The cloud API answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the HTTP status beside the one-line message."""
        super().__init__(message)
        self.status = status


INTERRUPTED = threading.Event()  # set by ``stop_on_signals``; every wait turns it into KeyboardInterrupt


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy and return it.

    Raises:
        StackError: it stayed falsy for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Api:
    """A small JSON client of the cloud's REST API with one bearer token."""

    def __init__(self, base_url: str, token: str) -> None:
        """Call ``base_url``/api/v1 as the holder of ``token``."""
        self.base_url = base_url
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request and return the decoded JSON answer.

        Raises:
            ApiError: the API answered 4xx/5xx, or did not answer.
        """
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the stack's own http://127.0.0.1 URL
            f"{self.base_url}/api/v1{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:300]
            raise ApiError(err.code, f"{method} {path} -> {err.code}: {detail}") from err
        except OSError as err:
            raise ApiError(0, f"{method} {path}: the cloud API did not answer ({err})") from err
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        """GET ``path``."""
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        """POST ``body`` to ``path``."""
        return self.call("POST", path, {} if body is None else body)


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m smartstore ARGV`` in its own process group, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "smartstore", *argv],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM the process group of ``proc``, then SIGKILL it if it has not exited in ``timeout`` s."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


class Stack:
    """A private broker with logins, a migrated cloud database, ``cloud serve`` and ``cloud ingest``."""

    def __init__(self, root: Path, *, database_url: str | None = None) -> None:
        """Prepare (not start) the stack in ``root`` (logs, broker state, SQLite database by default)."""
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url or f"sqlite:///{root / 'cloud.db'}"
        self.broker = MosquittoBroker(workdir=root / "mosquitto")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.engine: Engine | None = None
        self.procs: list[subprocess.Popen[Any]] = []
        self._api: Api | None = None

    # ------------------------------------------------------------------ processes

    @property
    def shopper_codes(self) -> Path:
        """Return the file the cloud's development sender writes shoppers' one-time codes to."""
        return self.root / "shopper-codes.jsonl"

    def env(self, role: str) -> dict[str, str]:
        """Return the environment of a cloud process playing ``role`` (downlink for serve/CLI, or ingest)."""
        files = self.broker.files
        env = os.environ | {
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
            "CLOUD_DATABASE_URL": self.database_url,
            "CLOUD_DOWNLINK_KEY_FILE": str(self.root / "cloud-downlink-key.json"),
            "CLOUD_PUBLIC_URL": self.url,
            "CLOUD_SHOPPER_CODE_FILE": str(self.shopper_codes),  # the phone app's one-time codes (log sender)
        }
        env |= self.broker.cloud_env(role)
        if role != "ingest":
            env |= {
                "CLOUD_BROKER_ADMIN_USERNAME": files.admin.username,
                "CLOUD_BROKER_ADMIN_PASSWORD": files.admin.password,
            }
        else:
            env["CLOUD_INGEST_BATCH_WAIT_MS"] = "5"
        return env

    def agent_env(self) -> dict[str, str]:
        """Return the environment of an agent process."""
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        return os.environ | {"PYTHONPATH": path}

    def start(self) -> Stack:
        """Start the broker, migrate the database, start serve and ingest and wait until the API answers.

        Raises:
            StackError: a part did not start (the message says which).
        """
        self.broker.start()
        self.engine = make_engine(self.database_url)
        try:
            upgrade(self.engine)
        except Exception as err:  # any driver error: one line
            raise StackError(f"cannot migrate the cloud database {self.database_url}: {err}") from err
        serve_log, ingest_log = self.root / "serve.log", self.root / "ingest.log"
        self.procs.append(spawn(["cloud", "serve", "--port", str(self.port)], self.env("downlink"), serve_log))
        self.procs.append(spawn(["cloud", "ingest", "--client-id", "stack-ingest"], self.env("ingest"), ingest_log))
        try:
            wait_for(self._healthy, 60, f"the cloud API at {self.url} (see {serve_log})")
        except StackError:
            self._check_alive()
            raise
        self._check_alive()
        return self

    def _check_alive(self) -> None:
        for proc, name in zip(self.procs[:2], ("cloud serve", "cloud ingest"), strict=False):
            if proc.poll() is not None:
                raise StackError(f"{name} exited with {proc.returncode}; see {self.root / name.split()[1]}.log")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:  # noqa: S310
                return bool(r.status == 200)
        except OSError:
            return False

    def cli(self, *argv: str) -> str:
        """Run ``smartstore cloud ARGV`` as an operator on this database and broker; return its output.

        Raises:
            StackError: it failed (its last line of output).
        """
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "smartstore", "cloud", *argv],
            env=self.env("downlink"),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
        )
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StackError(f"'cloud {' '.join(argv[:2])}' failed: {last[0]}")
        return done.stdout

    @property
    def api(self) -> Api:
        """Return the API client of an operator (the token is created once, with the CLI)."""
        if self._api is None:
            made = json.loads(self.cli("token", "create", "--name", "operator", "--role", "operator", "--json"))
            self._api = Api(self.url, str(made["token"]))
        return self._api

    # ------------------------------------------------------------------ stores and agents

    def enrol(
        self, store_id: str, devices: dict[str, Any], pairing_code: Callable[[], str | None], etc: Path, data: Path
    ) -> Path:
        """Enrol an agent as a technician does; return the config it wrote.

        ``cloud store create`` makes the token, ``agent enrol`` shows the pairing code on the
        store's screen (``pairing_code`` reads it off), the operator confirms it through the API.

        Raises:
            StackError: a step failed.
        """
        created = json.loads(self.cli("store", "create", store_id, "--json"))
        devices_file = etc.parent / f"{store_id}-devices.toml"
        etc.parent.mkdir(parents=True, exist_ok=True)
        devices_file.write_text(tomli_w.dumps(devices))
        log = self.root / f"enrol-{store_id}.log"
        argv = ["agent", "enrol", "--token", str(created["enrol_uri"]), "--config-out", str(etc / "agent.toml")]
        argv += ["--devices", str(devices_file), "--data-dir", str(data)]
        proc = spawn(argv, self.agent_env(), log)
        self.procs.append(proc)

        def shown() -> str | None:
            if proc.poll() is not None:
                raise StackError(f"agent enrol exited with {proc.returncode} before a pairing code; see {log}")
            return pairing_code()

        try:
            code = wait_for(shown, 60, "the pairing code on the screen")
        except StackError as err:
            stop_process(proc)
            self.procs.remove(proc)
            raise StackError(f"{err} (agent enrol, see {log})") from None
        self.api.post(f"/stores/{store_id}/enrolments/confirm", {"code": code})
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            raise StackError(f"agent enrol did not finish after the confirmation; see {log}") from None
        finally:
            stop_process(proc)
            self.procs.remove(proc)
        if proc.returncode != 0:
            raise StackError(f"agent enrol failed; see {log}")
        return etc / "agent.toml"

    def start_agent(self, config: Path, name: str = "agent") -> subprocess.Popen[Any]:
        """Start ``smartstore agent run --config CONFIG`` (log in the stack's directory)."""
        proc = spawn(["agent", "run", "--config", str(config)], self.agent_env(), self.root / f"{name}.log")
        self.procs.append(proc)
        return proc

    def stop_agent(self, proc: subprocess.Popen[Any]) -> None:
        """Stop an agent started by ``start_agent`` (gracefully: it closes its outbox)."""
        stop_process(proc, timeout=20)
        if proc in self.procs:
            self.procs.remove(proc)

    # ------------------------------------------------------------------ the cloud's truth

    def scalar(self, sql: str, **params: Any) -> Any:
        """Run one SQL query on the cloud database and return its first column of the first row."""
        assert self.engine is not None, "start the stack first"
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        """Run one SQL query on the cloud database and return its rows."""
        assert self.engine is not None, "start the stack first"
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def event_seqs(self, store_id: str) -> set[int]:
        """Return the outbox sequence numbers of the store's events the cloud holds."""
        return {int(r[0]) for r in self.rows("SELECT seq FROM events WHERE store_id = :s", s=store_id)}

    def synced_version(self, store_id: str, channel: str) -> int:
        """Return the version of ``channel`` the store reported applied (0 if none)."""
        sql = "SELECT version FROM store_sync WHERE store_id = :s AND channel = :c"
        return int(self.scalar(sql, s=store_id, c=channel) or 0)

    # ------------------------------------------------------------------ teardown

    def close(self) -> None:
        """Stop every process this stack started (newest first) and the broker."""
        while self.procs:
            stop_process(self.procs.pop())
        self.broker.stop()
        if self.engine is not None:
            self.engine.dispose()

    def __enter__(self) -> Stack:
        """Start the stack (it is closed even if starting fails)."""
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop everything."""
        self.close()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into ``KeyboardInterrupt`` at the next wait, so ``finally`` blocks stop the children."""

    def handler(signum: int, frame: Any) -> None:
        # Only a flag: an exception raised here could land inside a native library's callback (zxing's
        # nanobind aborts the process) or a __del__ (swallowed). The next wait raises KeyboardInterrupt.
        INTERRUPTED.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM while open (a second Ctrl-C must not cut a clean-up short)."""
    try:
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals go to the main thread anyway
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
