"""Settings of the cloud service, read from ``CLOUD_*`` environment variables when asked."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

ENV_PREFIX = "CLOUD_"
DEFAULT_DATABASE_URL = "sqlite:///./smartstore-cloud.db"


class SettingsError(ValueError):
    """An environment variable holds an invalid setting."""


class CloudSettings(BaseModel):
    """Every knob of the cloud service; ``CloudSettings.from_env()`` reads ``CLOUD_<FIELD>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    db_echo: bool = False
    db_pool_size: int = Field(default=5, ge=1, le=100)
    # MQTT broker (Mosquitto for one machine, EMQX/HiveMQ cluster for fleets).
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_keepalive_s: int = Field(default=30, ge=5, le=3600)
    # TLS to the broker: the fleet CA, and a client pair where the broker requires one.
    mqtt_ca_file: str | None = None
    mqtt_cert_file: str | None = None
    mqtt_key_file: str | None = None
    # The broker login that manages store identities (dynamic security), used by enrolment and
    # decommissioning; ``cloud broker-config`` writes it to credentials/serve.env.
    broker_admin_username: str | None = None
    broker_admin_password: SecretStr | None = None
    # Stores may publish their Home Assistant discovery configs under this prefix (docs/mqtt.md).
    home_assistant_prefix: str = Field(default="homeassistant", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    # What an enrolled agent is told: the broker address stores reach (when it differs from the
    # cloud's own view of it) and the cloud's public URL.
    broker_public_host: str | None = None
    broker_public_port: int | None = Field(default=None, ge=1, le=65535)
    public_url: str | None = None
    # Ingest worker.
    ingest_group: str = Field(default="cloud-ingest", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    ingest_client_id: str | None = None
    ingest_clean_start: bool = False
    ingest_session_expiry_s: int = Field(default=3600, ge=0, le=7 * 24 * 3600)
    ingest_batch_size: int = Field(default=500, ge=1, le=10_000)
    ingest_batch_wait_ms: int = Field(default=20, ge=0, le=10_000)
    ingest_writers: int = Field(default=2, ge=1, le=16)
    ingest_state: bool = True
    ingest_payments: bool = True
    ingest_metrics_port: int | None = None
    # A gap in a store's event sequence open this long raises a delivery_gap alert.
    ingest_gap_alert_s: float = Field(default=300.0, gt=0, le=7 * 24 * 3600)
    # Downlink publisher (started by ``serve`` unless disabled).
    downlink_enabled: bool = True
    downlink_interval_s: float = Field(default=0.5, gt=0, le=60)
    # How long an operator command may be acted on; unanswered by then, it reads "unanswered".
    command_lifetime_s: float = Field(default=60.0, ge=5, le=600)
    # How long serve, ingest and downlink wait at start for an unreachable database (then exit 2).
    db_wait_s: float = Field(default=30.0, ge=0, le=3600)
    # Per-store series on /metrics for at most this many stores (label cardinality stays bounded).
    metrics_max_stores: int = Field(default=1000, ge=0, le=100_000)
    # The downlink signing key (cloud_sync/downlink_key.py); created on first use when missing.
    downlink_key_file: Path | None = None
    # Raise after restoring the database from a backup: stores accept the (lower) versions of a higher epoch.
    downlink_epoch: int = Field(default=0, ge=0, le=2**31)
    # The watcher (started by ``serve`` unless disabled): store_offline alerts and webhook notifications.
    notify_enabled: bool = True
    notify_interval_s: float = Field(default=2.0, gt=0, le=300)
    # A store with no message for this long (its state/delivery heartbeat comes every 5 s) is offline.
    store_offline_after_s: float = Field(default=180.0, gt=0, le=7 * 24 * 3600)
    notify_webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    notify_webhook_secret: SecretStr | None = None
    notify_min_severity: Literal["info", "warning", "critical"] = "warning"
    notify_timeout_s: float = Field(default=10.0, gt=0, le=120)
    notify_max_attempts: int = Field(default=6, ge=1, le=100)
    notify_backoff_s: float = Field(default=5.0, gt=0, le=3600)
    notify_backoff_max_s: float = Field(default=900.0, gt=0, le=24 * 3600)
    # Alarms raised and alerts created this long before a pass still become notifications (downtime).
    notify_lookback_s: float = Field(default=24 * 3600.0, gt=0, le=30 * 24 * 3600)
    # API / dashboard.
    api_title: str = "smartstore cloud"
    dashboard_interval_s: float = Field(default=1.0, gt=0, le=60)
    low_stock_default: int = Field(default=5, ge=0, le=1_000_000)
    order_hold_hours: int = Field(default=24, ge=1, le=24 * 14)
    cookie_secure: bool = False
    # The shopper's phone app (/app/, docs/shopper-app.md): how one-time codes are sent, the payment
    # provider of wallet top-ups, and how long codes, sessions and passes last.
    shopper_sender: Literal["log", "webhook"] = "log"
    shopper_code_file: Path | None = None
    shopper_webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    shopper_payment_provider: Literal["test"] = "test"
    shopper_code_ttl_s: int = Field(default=600, ge=60, le=3600)
    shopper_session_hours: int = Field(default=24 * 30, ge=1, le=24 * 365)
    shopper_pass_valid_s: int = Field(default=24 * 3600, ge=60, le=24 * 3600)
    shopper_codes_per_contact: int = Field(default=3, ge=1, le=100)
    shopper_codes_per_client: int = Field(default=10, ge=1, le=10_000)
    shopper_vendor_dir: Path | None = None
    # Passphrase that encrypts the member-pass signing keys in the database (PKCS#8, PBES2 + AES-256).
    key_passphrase: SecretStr | None = None

    def key_passphrase_bytes(self) -> bytes | None:
        """Return the key passphrase as bytes (None when not configured)."""
        return self.key_passphrase.get_secret_value().encode() if self.key_passphrase else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> CloudSettings:
        """Build settings from ``CLOUD_*`` variables of ``env`` (default ``os.environ``).

        Raises:
            SettingsError: a variable does not parse.
        """
        env = os.environ if env is None else env
        data: dict[str, Any] = {}
        for name in cls.model_fields:
            key = ENV_PREFIX + name.upper()
            if key in env:
                data[name] = env[key]
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ENV_PREFIX + ".".join(str(p) for p in first.get("loc", ())).upper()
            raise SettingsError(f"{where}: {first.get('msg')}") from err
