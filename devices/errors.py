"""Errors raised by device codecs and drivers."""


class DeviceError(Exception):
    """Base class of every device-layer error."""


class DeviceDisconnected(DeviceError):
    """The serial port vanished (unplugged, simulator closed) or could not be opened."""


class PortBusy(DeviceDisconnected):
    """Another process holds the port (ports are opened exclusively: one owner per port)."""


class DeviceTimeoutError(DeviceError):
    """A device did not answer in time."""


class FrameError(DeviceError):
    """Bytes on the line do not form a valid frame (garbage, bad checksum, wrong baud)."""


class NotSupportedError(DeviceError):
    """The device does not speak the protocol it was probed for."""
