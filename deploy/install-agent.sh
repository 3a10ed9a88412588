#!/usr/bin/env bash
# Install the smartstore agent on a Raspberry Pi (Raspberry Pi OS / Debian 12), as root:
#   sudo deploy/install-agent.sh
# Creates the `smartstore` user, /etc/smartstore and /var/lib/smartstore with their owners and
# modes, a virtual environment with the agent's dependencies only (no web, database or training
# stack), the systemd unit, the udev rules and /usr/local/bin/smartstore, so that the commands in
# docs/deployment-pi.md work as written. Safe to run again (upgrades the package in place).
#
# For tests and image builds: SMARTSTORE_ROOT=/path installs under that prefix and touches
# neither users nor running services; SMARTSTORE_SKIP_VENV=1 skips the virtual environment;
# SMARTSTORE_USER / SMARTSTORE_GROUP name an existing account instead of creating `smartstore`.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=${SMARTSTORE_ROOT:-}
RUN_AS=${SMARTSTORE_USER:-smartstore}
RUN_GROUP=${SMARTSTORE_GROUP:-$RUN_AS}
PREFIX=$ROOT/opt/smartstore
ETC=$ROOT/etc/smartstore
STATE=$ROOT/var/lib/smartstore
UNITS=$ROOT/etc/systemd/system
UDEV=$ROOT/etc/udev/rules.d
BIN=$ROOT/usr/local/bin

say() { printf 'install-agent: %s\n' "$*"; }
die() { printf 'install-agent: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || [ -n "$ROOT" ] || die "run as root (sudo $0)"
command -v python3 >/dev/null || die "python3 is missing: apt-get install -y python3-venv"

if [ -z "$ROOT" ] && [ -z "${SMARTSTORE_USER:-}" ] && ! id -u smartstore >/dev/null 2>&1; then
  say "creating system user smartstore (groups dialout, video)"
  useradd --system --home-dir /var/lib/smartstore --no-create-home --shell /usr/sbin/nologin \
    --groups dialout,video smartstore
fi
id -u "$RUN_AS" >/dev/null 2>&1 || die "user $RUN_AS does not exist"

# The agent writes its config, secrets and keys here at enrolment: its own, nobody else's.
install -d -m 0700 -o "$RUN_AS" -g "$RUN_GROUP" "$ETC" "$STATE"
install -d -m 0755 "$PREFIX" "$UNITS" "$UDEV" "$BIN"

if [ -z "${SMARTSTORE_SKIP_VENV:-}" ]; then
  say "installing the agent into $PREFIX/.venv (agent dependencies only)"
  python3 -m venv "$PREFIX/.venv"
  "$PREFIX/.venv/bin/pip" install -q --upgrade pip
  "$PREFIX/.venv/bin/pip" install -q "$SRC[agent]"
fi
ln -sfn /opt/smartstore/.venv/bin/smartstore "$BIN/smartstore"

install -m 0644 "$SRC/deploy/smartstore-agent.service" "$UNITS/smartstore-agent.service"
install -m 0644 "$SRC/deploy/99-smartstore.rules" "$UDEV/99-smartstore.rules"
install -m 0640 -o root -g "$RUN_GROUP" "$SRC/deploy/agent.example.toml" "$ETC/agent.example.toml"
install -d -m 0755 "$PREFIX/docs"
cp -r "$SRC/docs/." "$PREFIX/docs/"

if [ -z "$ROOT" ]; then
  systemctl daemon-reload
  udevadm control --reload-rules && udevadm trigger --subsystem-match=tty || true
fi
say "done. Next: describe the devices in $ETC/devices.toml, then"
say "  sudo -u $RUN_AS smartstore agent enrol --cloud URL --token TOKEN --devices $ETC/devices.toml"
say "  sudo -u $RUN_AS smartstore agent check --config $ETC/agent.toml"
say "  sudo systemctl enable --now smartstore-agent"
