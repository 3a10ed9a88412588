"""Serial device layer: sans-IO protocol codecs, drivers (host role) and simulators (device role).

Each protocol is a package with the same files: ``protocol.py`` (the codec, stdlib only),
``driver.py`` (a ``DriverThread`` over a reconnecting ``SerialLink``), ``simulator.py`` (the
device side, served on a pty by ``devices.pty.PtySimulatorHost``) and ``profiles.py`` (line
settings and framing as data).

Scales: ``mtsics``, ``toledo8217``, ``cas`` (shared settle rule and ``ScaleDriver`` interface in
``scales``). Displays: ``escpos``, ``nextion``. Readers: ``scanner``, ``wiegand``, ``osdp``.
Locks and IO: ``lcus``, ``modbus``. Tools: ``discovery`` (``usb:VID:PID`` ports), ``probe``,
``registry`` (simulators by name), ``selftest``, ``bench``, ``cli``. See docs/devices.md.
"""

from devices.errors import (
    DeviceDisconnected,
    DeviceError,
    DeviceTimeoutError,
    FrameError,
    NotSupportedError,
)

__all__ = ["DeviceDisconnected", "DeviceError", "DeviceTimeoutError", "FrameError", "NotSupportedError"]
