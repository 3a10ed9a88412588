"""In-memory dataset with the training augmentation and the eval transform."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from models.errors import ModelError
from models.inference.preprocess import normalize, resize_center_crop, to_bgr
from models.labels import Sample

# Images are cached with this short side; every augmentation crops/resizes from it.
CACHE_SIDE = 352


def load_image(path: str) -> np.ndarray:
    """Read an image file as BGR uint8.

    Raises:
        ModelError: If OpenCV cannot decode the file.
    """
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ModelError(f"cannot read image {path}")
    return img


def _cache_resize(bgr: np.ndarray, side: int) -> np.ndarray:
    h, w = bgr.shape[:2]
    scale = side / min(h, w)
    if scale >= 1.0:
        return bgr
    return cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def eval_tensor(bgr: np.ndarray, size: int) -> torch.Tensor:
    """Apply the eval transform (identical to the runtime preprocessing) to one image."""
    return torch.from_numpy(normalize(resize_center_crop(to_bgr(bgr), size)))


def random_resized_crop(
    bgr: np.ndarray,
    size: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> np.ndarray:
    """Crop a random area/aspect patch and resize it to ``size`` x ``size``."""
    h, w = bgr.shape[:2]
    area = h * w
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw = round(math.sqrt(target * aspect))
        ch = round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(rng.integers(0, h - ch + 1))
            left = int(rng.integers(0, w - cw + 1))
            patch = bgr[top : top + ch, left : left + cw]
            interp = cv2.INTER_AREA if cw > size else cv2.INTER_LINEAR
            return cv2.resize(patch, (size, size), interpolation=interp)
    return resize_center_crop(bgr, size)


def color_jitter(bgr: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Jitter brightness, contrast and saturation (no hue: colour separates varieties)."""
    if strength <= 0:
        return bgr
    img = bgr.astype(np.float32)
    b = 1.0 + rng.uniform(-strength, strength)
    c = 1.0 + rng.uniform(-strength, strength)
    s = 1.0 + rng.uniform(-strength, strength)
    gray = img @ np.array([0.114, 0.587, 0.299], dtype=np.float32)
    img = img * b
    mean = float(gray.mean()) * b
    img = (img - mean) * c + mean
    g = (gray * b - mean) * c + mean
    img = (img - g[:, :, None]) * s + g[:, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


class ImageSet:
    """Decoded images of a sample list kept in RAM, with train/eval views."""

    def __init__(self, samples: Sequence[Sample], cache_side: int = CACHE_SIDE) -> None:
        """Decode every image once (short side capped at ``cache_side``)."""
        self.samples = list(samples)
        self.images = [_cache_resize(load_image(str(s.path)), cache_side) for s in self.samples]
        self.fine = np.array([s.fine_id for s in self.samples], dtype=np.int64)
        self.coarse = np.array([s.coarse_id for s in self.samples], dtype=np.int64)

    def __len__(self) -> int:
        """Return the number of samples."""
        return len(self.samples)

    def train_batch(
        self,
        indices: Sequence[int],
        size: int,
        rng: np.random.Generator,
        crop_scale: tuple[float, float] = (0.25, 1.0),
        jitter: float = 0.2,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Build an augmented batch (random resized crop, h-flip, colour jitter)."""
        arrays = []
        for i in indices:
            img = random_resized_crop(self.images[i], size, rng, crop_scale)
            if rng.random() < 0.5:
                img = img[:, ::-1]
            img = color_jitter(img, rng, jitter)
            arrays.append(normalize(img))
        x = torch.from_numpy(np.stack(arrays))
        idx = np.asarray(indices)
        return x, torch.from_numpy(self.fine[idx]), torch.from_numpy(self.coarse[idx])

    def eval_batch(self, indices: Sequence[int], size: int) -> torch.Tensor:
        """Build an eval batch with the runtime preprocessing."""
        return torch.stack([eval_tensor(self.images[i], size) for i in indices])
