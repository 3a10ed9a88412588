"""Serial device layer: sans-IO protocol codecs, drivers (host role) and simulators (device role).

Each protocol is a package with the same files: ``protocol.py`` (the codec, stdlib only, and the
probe's query and ``identify``), ``driver.py`` (a ``DriverThread`` over a reconnecting
``SerialLink``), ``simulator.py`` (the device side, served on a pty by
``devices.pty.PtySimulatorHost``), ``selftest.py`` (driver against simulator) and ``profiles.py``
(line settings, framing and the config model, as data). ``catalog`` lists every device as data
(``DeviceSpec``); ``registry`` (simulators by name), ``probe``, ``selftest`` and ``cli`` read it.

Scales: ``mtsics``, ``toledo8217``, ``cas`` (shared settle rule and ``ScaleDriver`` interface in
``scales``). Displays: ``escpos``, ``nextion``. Readers: ``scanner``, ``wiegand``, ``osdp``.
Locks and IO: ``lcus``, ``modbus``. Tools: ``discovery`` (``usb:VID:PID`` ports). See docs/devices.md.
"""

from devices.errors import (
    DeviceDisconnected,
    DeviceError,
    DeviceTimeoutError,
    FrameError,
    NotSupportedError,
)

__all__ = ["DeviceDisconnected", "DeviceError", "DeviceTimeoutError", "FrameError", "NotSupportedError"]
