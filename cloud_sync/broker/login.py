"""Give a cloud process's paho client its broker login and TLS settings."""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt

from cloud_sync.config import CloudSettings


def configure_login(client: mqtt.Client, settings: CloudSettings) -> None:
    """Apply ``CLOUD_MQTT_USERNAME/PASSWORD`` and, with ``CLOUD_MQTT_CA_FILE``, verified TLS."""
    if settings.mqtt_username:
        client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
    if settings.mqtt_ca_file:
        client.tls_set(
            ca_certs=settings.mqtt_ca_file,
            certfile=settings.mqtt_cert_file,
            keyfile=settings.mqtt_key_file,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
