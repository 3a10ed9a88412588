"""``smartstore agent enrol``: the agent's half of the enrolment handshake (``contracts.enrolment``).

The agent makes its own key pair (the private key never leaves the device), claims the token,
shows the pairing code on the customer screen and in its log, waits for the operator to confirm
it, collects its bundle, and writes its files: secrets 0600, never inline in the TOML.
"""

from __future__ import annotations

import json
import logging
import os
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import tomli_w
from nacl.signing import SigningKey
from pydantic import BaseModel, ValidationError

from contracts.enrolment import EnrolBundle, EnrolClaimed, EnrolRequest, pairing_code, sign_collect
from contracts.messages import describe_error
from edge_agent.adapters.private import private_dir, write_private
from edge_agent.config import AgentSettings

log = logging.getLogger(__name__)
DEVICE_KEY_FILE = "device.key"


class EnrolFailed(RuntimeError):
    """Enrolment stopped; the message is the one line to show."""


@dataclass(frozen=True)
class EnrolFiles:
    """Where the enrolment writes (all in the config's directory)."""

    config: Path

    @property
    def directory(self) -> Path:
        """Return the directory of the config and its secret files."""
        return self.config.parent

    def path(self, name: str) -> Path:
        """Return one file of the enrolment."""
        return self.directory / name


def parse_token(text: str, cloud: str | None) -> tuple[str, str]:
    """Return (cloud URL, token) from a raw token or the QR's ``smartstore://enrol?cloud=..&token=..``."""
    text = text.strip()
    if text.startswith("smartstore://enrol"):
        query = parse_qs(urlparse(text).query)
        token = (query.get("token") or [""])[0]
        cloud = cloud or (query.get("cloud") or [""])[0]
    else:
        token = text
    if not cloud:
        raise EnrolFailed("no cloud URL: pass --cloud URL")
    if not token:
        raise EnrolFailed("no enrolment token")
    return cloud.rstrip("/"), token


def device_key(files: EnrolFiles) -> SigningKey:
    """Return the device's own key, made on first use."""
    path = files.path(DEVICE_KEY_FILE)
    if path.exists():
        return SigningKey(bytes.fromhex(path.read_text().strip()))
    key = SigningKey.generate()
    write_private(path, (key.encode().hex() + "\n").encode())
    return key


def _post(url: str, body: BaseModel, timeout_s: float) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - the operator's https/http cloud URL
        url, data=body.model_dump_json().encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        try:
            detail = json.loads(err.read()).get("detail")
        except (ValueError, AttributeError):
            detail = None
        raise EnrolFailed(f"the cloud refused: {detail or err.reason} (HTTP {err.code})") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise EnrolFailed(f"cloud unreachable at {url.split('/api/')[0]}: {reason}") from err


def _config(bundle: EnrolBundle, files: EnrolFiles, devices: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    mqtt: dict[str, Any] = {"host": bundle.broker.host, "port": bundle.broker.port}
    if bundle.broker.username:
        mqtt |= {"username": bundle.broker.username, "password_file": str(files.path("mqtt-password"))}
    if bundle.broker.ca_pem:
        mqtt["ca_file"] = str(files.path("ca.crt"))
    config = {
        k: v for k, v in devices.items() if k not in ("store_id", "issuer_keys_file", "downlink_keys_file", "mqtt")
    }
    config |= {
        "store_id": bundle.store_id,
        "data_dir": str(devices.get("data_dir", data_dir)),
        "issuer_keys_file": str(files.path("issuer-keys.json")),
        "downlink_keys_file": str(files.path("downlink-keys.json")),
        "mqtt": devices.get("mqtt", {}) | mqtt,
    }
    return config


def write_bundle(bundle: EnrolBundle, files: EnrolFiles, devices: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    """Write the bundle's files and the agent config; return the config (checked before writing).

    Raises:
        EnrolFailed: the config would not load (a device section of ``devices`` is wrong).
    """
    config = _config(bundle, files, devices, data_dir)
    try:
        AgentSettings.model_validate(config)
    except ValidationError as err:
        raise EnrolFailed(f"the devices file does not make a valid config: {describe_error(err)}") from err
    files.directory.mkdir(parents=True, exist_ok=True)
    if bundle.broker.password:
        write_private(files.path("mqtt-password"), (bundle.broker.password + "\n").encode())
    if bundle.broker.ca_pem:
        files.path("ca.crt").write_text(bundle.broker.ca_pem)
    write_private(files.path("api-token"), (bundle.api_token + "\n").encode())
    files.path("issuer-keys.json").write_text(json.dumps(bundle.issuer_keys, indent=2) + "\n")
    files.path("downlink-keys.json").write_text(json.dumps(bundle.downlink_keys, indent=2) + "\n")
    private_dir(Path(config["data_dir"]))  # ready for the pre-opening check, 0700
    write_private(files.config, tomli_w.dumps(config).encode())
    return config


def load_devices(path: Path | None) -> dict[str, Any]:
    """Read the store's device sections (lock, inputs, scanner, checkout...) from a TOML file."""
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise EnrolFailed(f"cannot read the devices file {path}: {err}") from err


def enrol(
    cloud_text: str | None,
    token_text: str,
    files: EnrolFiles,
    *,
    devices: dict[str, Any],
    data_dir: Path,
    show_code: Callable[[str], None],
    wait_s: float = 900.0,
    poll_s: float = 2.0,
    timeout_s: float = 10.0,
) -> EnrolBundle:
    """Run the handshake to the end and write the files; return the bundle.

    Raises:
        EnrolFailed: a refused token, an unreachable cloud, a burnt enrolment or no confirmation in time.
    """
    cloud, token = parse_token(token_text, cloud_text)
    files.directory.mkdir(parents=True, exist_ok=True)
    key = device_key(files)
    public = key.verify_key.encode().hex()
    hardware = {"machine": os.uname().machine, "node": os.uname().nodename[:200], "agent": "smartstore"}
    request = EnrolRequest(token=token, device_key=public, hardware=hardware)
    _status, body = _post(f"{cloud}/api/v1/enrol", request, timeout_s)
    claimed = EnrolClaimed.model_validate(body)
    code = pairing_code(token, public, claimed.enrolment_id)
    show_code(code)
    log.warning(
        "pairing code %s %s: confirm it in the dashboard or with 'smartstore cloud store confirm %s %s'",
        code[:3],
        code[3:],
        claimed.store_id,
        code,
    )
    deadline = time.monotonic() + wait_s
    url = f"{cloud}/api/v1/enrol/{claimed.enrolment_id}/collect"
    while True:
        status, body = _post(url, sign_collect(key, claimed.enrolment_id), timeout_s)
        if status == 200:
            bundle = EnrolBundle.model_validate(body)
            write_bundle(bundle, files, devices, data_dir)
            return bundle
        if time.monotonic() >= deadline:
            raise EnrolFailed(f"the pairing code was not confirmed within {wait_s:.0f} s; run enrol again")
        time.sleep(poll_s)
