"""The pinned downlink keys on disk: the enrolment file and the rotations the store accepted.

``downlink_keys_file`` (written at enrolment) holds the cloud's downlink public keys, either as
a ``DownlinkKeys`` announcement or a bare ``{kid: key}`` object. A rotation the agent accepted
(signed by a pinned key, ``edge_agent.domain.trust``) is saved as ``downlink-keys.json`` in the
data directory (0600, atomically) and wins over the enrolment file while its version is higher.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from contracts.errors import ContractError
from contracts.messages import dump
from contracts.signing import DownlinkKeys, parse_downlink_keys

log = logging.getLogger(__name__)
ROTATED_NAME = "downlink-keys.json"


def _read(path: Path) -> DownlinkKeys | None:
    try:
        return parse_downlink_keys(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ContractError) as err:
        log.error("ignoring unreadable downlink keys %s: %s", path, err)
        return None


def load_pinned(config_file: Path | None, data_dir: Path) -> DownlinkKeys | None:
    """Return the pinned key set: the newer of the enrolment file and the last accepted rotation."""
    enrolled = _read(config_file) if config_file is not None else None
    rotated = _read(data_dir / ROTATED_NAME)
    if rotated is not None and (enrolled is None or rotated.version > enrolled.version):
        return rotated
    return enrolled


def save_rotated(data_dir: Path, keys: DownlinkKeys) -> None:
    """Persist an accepted rotation (0600, atomic rename)."""
    path = data_dir / ROTATED_NAME
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(dump(keys))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
