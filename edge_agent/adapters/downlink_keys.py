"""The pinned downlink keys on disk: the enrolment file and the rotations the store accepted.

``downlink_keys_file`` (written at enrolment) holds the cloud's downlink public keys, either as
a ``DownlinkKeys`` announcement or a bare ``{kid: key}`` object. A rotation the agent accepted
(signed by a pinned key, ``edge_agent.domain.trust``) is saved as ``downlink-keys.json`` in the
data directory (0600, atomically) and wins over the enrolment file while its version is higher.
"""

from __future__ import annotations

import logging
from pathlib import Path

from contracts.errors import ContractError
from contracts.messages import dump
from contracts.signing import DownlinkKeys, parse_downlink_keys
from edge_agent.adapters.private import write_private

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
    write_private(data_dir / ROTATED_NAME, dump(keys))
