"""Line settings of LCUS relay boards."""

from devices.transport import SerialSettings

LCUS = SerialSettings(baudrate=9600, bytesize=8, parity="N", stopbits=1)
USB_IDS = ((0x1A86, 0x7523),)  # CH340, the usual bridge on LCUS boards
