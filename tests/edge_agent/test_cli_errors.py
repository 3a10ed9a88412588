"""Issue 15: a technician's mistakes get one line naming the file, the line and the fix; never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.member_code import encode_public_keys
from tests.edge_agent.conftest import Sims, agent_settings, write_toml
from tests.edge_agent.helpers import Members

REPO = Path(__file__).resolve().parents[2]


def _agent(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartstore", "agent", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1, stderr
    return errors[0]


def _config(tmp_path: Path, sims: Sims, members: Members, **extra: object) -> dict:
    raw = agent_settings(tmp_path, sims, None, members)
    raw["mqtt"] = None
    raw.update(extra)
    return raw


def test_the_keys_file_saved_from_the_api_works_for_check_and_run(tmp_path: Path, sims: Sims, members: Members) -> None:
    raw = _config(tmp_path, sims, members)
    # What `curl .../api/v1/issuer-keys/public > issuer-keys.json` saves: the snapshot envelope.
    envelope = {"schema_version": 1, "channel": "keys", "version": 3, "keys": encode_public_keys(members.trusted)}
    Path(raw["issuer_keys_file"]).write_text(json.dumps(envelope))
    config = write_toml(raw, tmp_path / "agent.toml")
    checked = _agent("check", "--config", str(config), "--json", timeout=120)
    keys = next(c for c in json.loads(checked.stdout)["checks"] if c["name"] == "issuer keys")
    assert keys["ok"] is True and "1 trusted" in keys["detail"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"schema_version": 1, "keys": {"aa": 5}}', "issuer key 'aa' is not a key id with its base64 public key"),
        ("{not json", "is not JSON (Expecting property name enclosed in double quotes at line 1)"),
        ("[1, 2]", "issuer keys must be a JSON object"),
    ],
)
def test_a_malformed_keys_file_is_one_line_for_run_and_check(
    tmp_path: Path, sims: Sims, members: Members, content: str, expected: str
) -> None:
    raw = _config(tmp_path, sims, members)
    Path(raw["issuer_keys_file"]).write_text(content)
    config = write_toml(raw, tmp_path / "agent.toml")
    run = _agent("run", "--config", str(config))
    line = _one_line(run.stderr)
    assert run.returncode == 2 and expected in line and "(the lock was left locked)" in line
    checked = _agent("check", "--config", str(config), "--json", timeout=120)
    keys = next(c for c in json.loads(checked.stdout)["checks"] if c["name"] == "issuer keys")
    assert checked.returncode == 1 and keys["ok"] is False and expected in keys["detail"]


def test_a_typo_in_the_config_names_the_file_the_line_and_the_key_it_meant(
    tmp_path: Path, sims: Sims, members: Members
) -> None:
    raw = _config(tmp_path, sims, members)
    raw["door"] = {"unlok_s": 2.0, "occupancy_cap": 3}
    config = write_toml(raw, tmp_path / "agent.toml")
    line_no = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if text.startswith("unlok_s"))
    run = _agent("run", "--config", str(config))
    line = _one_line(run.stderr)
    assert run.returncode == 2
    assert f"{config}:{line_no}: door.unlok_s: unknown key (did you mean 'unlock_s'?)" in line
    assert "pydantic" not in line and "errors.pydantic.dev" not in run.stderr
    checked = _agent("check", "--config", str(config), timeout=120)
    assert checked.returncode == 1 and "did you mean 'unlock_s'?" in checked.stdout
    assert "Traceback" not in checked.stderr


def test_a_broken_toml_file_or_a_missing_lock_table_is_one_line_and_nothing_is_driven(
    tmp_path: Path, sims: Sims, members: Members
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('store_id = "store-1"\n[door\nunlock_s = 1\n')
    line = _one_line(_agent("run", "--config", str(broken)).stderr)
    assert f"{broken}:2:" in line and "(nothing driven)" in line
    no_lock = tmp_path / "no-lock.toml"
    no_lock.write_text(f'store_id = "store-1"\ndata_dir = "{tmp_path / "data"}"\n')
    line = _one_line(_agent("run", "--config", str(no_lock)).stderr)
    assert "no [lock] table" in line
    bad_lock = write_toml(
        _config(tmp_path, sims, members, lock={"type": "lcus", "ulr": "/dev/null"}), tmp_path / "l.toml"
    )
    line = _one_line(_agent("run", "--config", str(bad_lock)).stderr)
    assert "lock.lcus.ulr: unknown key (did you mean 'url'?)" in line and "lock.lcus.url: required key missing" in line
    assert sims.lcus.history == []  # nothing was ever written to the relay


def test_an_invalid_log_level_is_refused_by_the_parser(tmp_path: Path) -> None:
    run = _agent("run", "--config", str(tmp_path / "agent.toml"), "--log-level", "verbose")
    assert run.returncode == 2 and "invalid choice: 'verbose'" in run.stderr and "Traceback" not in run.stderr
