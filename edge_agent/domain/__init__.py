"""Pure domain core: no I/O, no paho, serial, OpenCV, ONNX Runtime or SQL; time comes in."""
