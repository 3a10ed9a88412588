"""Shipped model files (ONNX, classes.json, model.json); data only."""
