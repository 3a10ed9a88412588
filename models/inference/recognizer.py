"""ONNX Runtime product recogniser: classifier scores merged with an embedding gallery.

Scoring rule (documented in MODEL_CARD.md). For a query image with classifier logits ``l``
(one per trained class) and L2-normalised embedding ``e``:

* trained class ``c`` gets the logit ``l_c / T`` (``T``: temperature fitted on val);
* enrolled product ``p`` gets the logit ``kappa * max_i cos(e, g_{p,i}) + beta`` where
  ``g_{p,i}`` are its gallery embeddings and ``kappa, beta`` were fitted on val so that the
  cosine similarity to class prototypes predicts the classifier's calibrated logits;
* an enrolled id equal to a trained class name keeps the larger of the two logits;
* ``Prediction.score`` is the softmax over all these logits, so scores are probabilities
  over the union of trained classes and enrolled products.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import ModelError
from models.inference.gallery import Gallery
from models.inference.preprocess import preprocess

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "shipped"
METADATA_FILE = "model.json"
CLASSES_FILE = "classes.json"


@dataclass(frozen=True)
class Prediction:
    """One ranked answer: a fine class name (as in classes.csv) or an enrolled product id."""

    label: str
    score: float


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return np.asarray(e / e.sum(), dtype=np.float64)


class ProductRecognizer:
    """Classify product crops and embed them, using only ONNX Runtime, OpenCV and numpy."""

    def __init__(
        self,
        session: Any,
        metadata: dict[str, Any],
        labels: list[str],
        gallery: Gallery | None = None,
        gallery_path: Path | None = None,
    ) -> None:
        """Wrap a loaded ONNX Runtime session; use :meth:`load` instead of calling this."""
        self._session = session
        self._input = session.get_inputs()[0].name
        self.metadata = metadata
        self.labels = labels
        self.input_size = int(metadata["input_size"])
        self.temperature = float(metadata.get("temperature", 1.0))
        self.gallery_scale = float(metadata.get("gallery_scale", 10.0))
        self.gallery_bias = float(metadata.get("gallery_bias", 0.0))
        self.tta_flip = bool(metadata.get("tta_flip", False))
        self.embedding_dim = int(metadata["embedding_dim"])
        self.gallery = gallery if gallery is not None else Gallery(self.embedding_dim)
        self.gallery_path = gallery_path
        self._label_index = {name: i for i, name in enumerate(labels)}

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        gallery: str | Path | Gallery | None = None,
        threads: int = 1,
    ) -> ProductRecognizer:
        """Load a model directory (``model.json`` + ONNX + ``classes.json``) or an ONNX file.

        Args:
            path: Model directory or ``.onnx`` file (its directory must hold ``model.json`` and
                ``classes.json``); default: the model shipped in ``models/shipped``.
            gallery: Gallery ``.npz`` path (created on first :meth:`save_gallery` if missing)
                or a :class:`Gallery`; default: an empty in-memory gallery.
            threads: ONNX Runtime intra-op threads.

        Raises:
            ModelError: If the files are missing or inconsistent.
        """
        import onnxruntime as ort

        target = Path(path) if path is not None else SHIPPED_DIR
        model_dir = target if target.is_dir() else target.parent
        meta_path = model_dir / METADATA_FILE
        if not meta_path.is_file():
            raise ModelError(f"no {METADATA_FILE} in {model_dir}")
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        onnx_path = target if target.is_file() else model_dir / metadata["model_file"]
        if not onnx_path.is_file():
            raise ModelError(f"model file {onnx_path} not found")
        classes = json.loads((model_dir / CLASSES_FILE).read_text(encoding="utf-8"))
        labels = [str(c["name"]) for c in classes]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        outputs = [o.name for o in session.get_outputs()]
        if outputs[:2] != ["logits", "embedding"]:
            raise ModelError(f"{onnx_path} must output ['logits', 'embedding'], has {outputs}")
        dim = int(metadata["embedding_dim"])
        gal: Gallery | None
        gal_path: Path | None = None
        if isinstance(gallery, Gallery):
            gal = gallery
        elif gallery is not None:
            gal_path = Path(gallery)
            gal = Gallery.load(gal_path, dim=dim)
        else:
            gal = None
        rec = cls(session, metadata, labels, gal, gal_path)
        n_out = session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(labels):
            raise ModelError(f"model has {n_out} outputs but {len(labels)} labels")
        return rec

    @property
    def auto_accept_threshold(self) -> float:
        """Top-1 score at or above which a prediction may be accepted without review."""
        return float(self.metadata["auto_accept_threshold"])

    def run(self, bgr_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return raw classifier logits and the L2-normalised embedding of one image."""
        x = preprocess(bgr_image, self.input_size)
        if self.tta_flip:
            x = np.concatenate([x, x[:, :, :, ::-1]])
        logits, emb = self._session.run(["logits", "embedding"], {self._input: np.ascontiguousarray(x)})
        logit = np.asarray(logits, np.float64).mean(0)
        vec = np.asarray(emb, np.float32).mean(0)
        vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
        return logit, vec.astype(np.float32)

    def scores(self, bgr_image: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Return all labels, their merged probabilities and the embedding of one image."""
        logit, emb = self.run(bgr_image)
        labels, probs = self.merge(logit, emb)
        return labels, probs, emb

    def merge(self, logit: np.ndarray, emb: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Merge classifier logits and gallery similarities into probabilities (module rule)."""
        z = np.asarray(logit, np.float64) / self.temperature
        labels = list(self.labels)
        extra: list[float] = []
        for pid, sim in self.gallery.similarities(emb).items():
            g = self.gallery_scale * sim + self.gallery_bias
            idx = self._label_index.get(pid)
            if idx is not None:
                z[idx] = max(z[idx], g)
            else:
                labels.append(pid)
                extra.append(g)
        zz = np.concatenate([z, np.asarray(extra, np.float64)]) if extra else z
        return labels, _softmax(zz)

    def classify(self, bgr_image: np.ndarray, k: int = 5) -> list[Prediction]:
        """Return the ``k`` most likely products, sorted by probability (descending).

        Raises:
            ModelError: If ``k`` < 1 or the image is not a supported uint8 image.
        """
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ModelError(f"k must be a positive integer, got {k!r}")
        labels, probs, _ = self.scores(bgr_image)
        order = np.argsort(-probs, kind="stable")[: int(k)]
        return [Prediction(labels[i], float(probs[i])) for i in order]

    def embed(self, bgr_image: np.ndarray) -> np.ndarray:
        """Return the L2-normalised 1-D float32 embedding of one image."""
        return self.run(bgr_image)[1]

    def enrol(self, product_id: str, images: list[np.ndarray]) -> int:
        """Add the embeddings of ``images`` to the gallery under ``product_id``."""
        if not images:
            raise ModelError("enrol needs at least one image")
        return self.gallery.add(product_id, np.stack([self.embed(img) for img in images]))

    def remove(self, product_id: str) -> int:
        """Remove ``product_id`` from the gallery; return how many embeddings were dropped."""
        return self.gallery.remove(product_id)

    def save_gallery(self, path: str | Path | None = None) -> Path:
        """Write the gallery to ``path`` (default: the path it was loaded from).

        Raises:
            ModelError: If no path is known.
        """
        target = Path(path) if path is not None else self.gallery_path
        if target is None:
            raise ModelError("no gallery path given")
        self.gallery.save(target)
        self.gallery_path = target
        return target
