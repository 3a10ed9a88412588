"""Turn any OpenCV BGR image into the network input tensor (no torch).

The same functions are used by the training-time eval transform, so train and runtime
preprocessing cannot drift apart:

1. coerce the image to 3-channel BGR uint8 (grayscale and BGRA are converted),
2. resize so the short side equals ``size`` (area interpolation when shrinking, bilinear
   when enlarging), centre-crop ``size`` x ``size``,
3. BGR -> RGB, ``(x - 127) / 128`` (EfficientNet-Lite normalisation), HWC -> CHW float32.
"""

from __future__ import annotations

import numpy as np

from models.errors import ModelError

MEAN = 127.0
STD = 128.0


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Coerce an OpenCV image to contiguous 3-channel BGR uint8.

    Args:
        image: ``HxW`` grayscale, ``HxWx1``, ``HxWx3`` BGR or ``HxWx4`` BGRA, dtype uint8.

    Returns:
        A ``HxWx3`` uint8 array.

    Raises:
        ModelError: If the array is not a uint8 image of a supported shape.
    """
    import cv2

    if not isinstance(image, np.ndarray):
        raise ModelError(f"expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ModelError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif not (image.ndim == 3 and image.shape[2] == 3):
        raise ModelError(f"expected HxW, HxWx1, HxWx3 or HxWx4 image, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ModelError(f"empty image of shape {image.shape}")
    return np.ascontiguousarray(image)


def resize_center_crop(bgr: np.ndarray, size: int) -> np.ndarray:
    """Resize the short side to ``size`` and centre-crop a ``size`` x ``size`` square.

    Args:
        bgr: ``HxWx3`` uint8 image.
        size: Output side length in pixels.

    Returns:
        A ``size x size x 3`` uint8 array.
    """
    import cv2

    h, w = bgr.shape[:2]
    scale = size / min(h, w)
    new_w = max(size, round(w * scale))
    new_h = max(size, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(bgr, (new_w, new_h), interpolation=interp)
    top = (new_h - size) // 2
    left = (new_w - size) // 2
    return resized[top : top + size, left : left + size]


def normalize(bgr: np.ndarray) -> np.ndarray:
    """Convert a ``HxWx3`` BGR uint8 crop to a normalised ``3xHxW`` RGB float32 array.

    OpenCV's ``blobFromImage`` does the channel swap, ``(x - 127) / 128`` and the HWC -> CHW
    transpose in one native pass (``1 / 128`` is exact in float32, so the result is bit-identical
    to the NumPy formula, in half the time).
    """
    import cv2

    blob = cv2.dnn.blobFromImage(bgr, scalefactor=1.0 / STD, mean=(MEAN, MEAN, MEAN), swapRB=True)
    return np.asarray(blob[0], dtype=np.float32)


def preprocess(image: np.ndarray, size: int) -> np.ndarray:
    """Preprocess one BGR image into a ``1x3xSxS`` float32 batch.

    Args:
        image: Any OpenCV image accepted by :func:`to_bgr`.
        size: Network input side length.

    Returns:
        The network input batch of one image.
    """
    return normalize(resize_center_crop(to_bgr(image), size))[None]
