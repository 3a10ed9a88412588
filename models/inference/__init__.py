"""Torch-free runtime: preprocessing, ONNX Runtime recogniser and embedding gallery."""
