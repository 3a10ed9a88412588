"""Line settings of Modbus RTU modules (cheap relay boards default to 9600 8N1)."""

from devices.transport import SerialSettings

MODBUS_9600_8N1 = SerialSettings(baudrate=9600, bytesize=8, parity="N", stopbits=1)
MODBUS_SPEC_DEFAULT = SerialSettings(baudrate=19200, bytesize=8, parity="E", stopbits=1)
