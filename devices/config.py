"""The base of every device's config model: the agent's TOML selects a device by catalog name.

Each device package declares its own model in ``profiles.py`` (``type: Literal["<catalog
name>"]``, ``url`` and the device's options) and names it in its catalog entry;
``devices.catalog.config_union`` joins the models of one kind into a discriminated union on
``type`` (Frigate's detector plugins, one ``*DetectorConfig`` per plugin).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class DeviceConfig(BaseModel):
    """One configured serial device: its catalog name (``type``) and its port URL."""

    model_config = ConfigDict(extra="forbid")

    type: str
    url: str

    def driver_options(self) -> dict[str, Any]:
        """Return the driver's keyword arguments this config sets, besides the URL (none here)."""
        return {}
