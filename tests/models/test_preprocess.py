"""Runtime preprocessing: geometry, colour order, normalisation and input coercion."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models import ModelError
from models.evaluate import read_bgr
from models.inference.preprocess import preprocess, resize_center_crop, to_bgr


def _reference(bgr: np.ndarray, size: int) -> np.ndarray:
    """Independent re-implementation of the documented transform."""
    h, w = bgr.shape[:2]
    s = size / min(h, w)
    nw, nh = max(size, round(w * s)), max(size, round(h * s))
    r = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    t, left = (nh - size) // 2, (nw - size) // 2
    crop = r[t : t + size, left : left + size]
    return ((crop[:, :, [2, 1, 0]].astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]


@pytest.mark.parametrize("shape", [(348, 348, 3), (480, 320, 3), (100, 700, 3), (20, 30, 3)])
def test_matches_reference_transform(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    out = preprocess(img, 64)
    assert out.shape == (1, 3, 64, 64) and out.dtype == np.float32
    np.testing.assert_allclose(out, _reference(img, 64), atol=1e-6)


def test_colour_order_is_rgb_and_normalised() -> None:
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, :, 2] = 255  # pure red in BGR
    out = preprocess(img, 32)[0]
    assert np.allclose(out[0], (255 - 127) / 128) and np.allclose(out[2], -127 / 128)


def test_center_crop_keeps_the_middle() -> None:
    img = np.zeros((100, 300, 3), np.uint8)
    img[:, 100:200] = 200  # middle third bright
    crop = resize_center_crop(img, 50)
    assert crop.shape == (50, 50, 3)
    assert crop.min() >= 190  # only the bright middle survives the crop


def test_grayscale_and_bgra_equal_their_bgr_version() -> None:
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (50, 60), dtype=np.uint8)
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    np.testing.assert_array_equal(preprocess(gray, 32), preprocess(bgr, 32))
    np.testing.assert_array_equal(preprocess(gray[:, :, None], 32), preprocess(bgr, 32))
    bgra = np.dstack([bgr, np.full(gray.shape, 7, np.uint8)])
    np.testing.assert_array_equal(preprocess(bgra, 32), preprocess(bgr, 32))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10, 2), np.uint8),
        np.zeros((0, 10, 3), np.uint8),
        np.zeros((2, 10, 10, 3), np.uint8),
    ],
)
def test_rejects_unsupported_images(bad: np.ndarray) -> None:
    with pytest.raises(ModelError):
        to_bgr(bad)


def test_rejects_non_arrays() -> None:
    with pytest.raises(ModelError):
        to_bgr([[1, 2, 3]])  # type: ignore[arg-type]


def test_training_eval_transform_parity(data_dir: Path) -> None:
    pytest.importorskip("torch")
    from models.labels import read_split
    from models.training.data import ImageSet, eval_tensor, load_image

    samples = read_split(data_dir, "val")[:3]
    images = ImageSet(samples)
    batch = images.eval_batch([0, 1, 2], 224).numpy()
    for i, s in enumerate(samples):
        runtime = preprocess(read_bgr(s.path), 224)[0]
        np.testing.assert_array_equal(eval_tensor(load_image(str(s.path)), 224).numpy(), runtime)
        np.testing.assert_array_equal(batch[i], runtime)
