"""Product recognition for self-checkout: EfficientNet-Lite0 on ONNX Runtime.

Importing this package is cheap: it never imports torch, and ONNX Runtime / OpenCV are only
imported when a model is loaded or an image is preprocessed.
"""

from __future__ import annotations

from models.errors import ModelError
from models.inference.recognizer import Prediction, ProductRecognizer

__all__ = ["ModelError", "Prediction", "ProductRecognizer"]
