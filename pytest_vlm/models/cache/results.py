"""Model answers served from the on-disk result cache (store.py); only misses reach the model.

A request's key is the sha256 of: the model's fingerprint (backend, resolved revision or the hash
of every file of a local checkpoint, processor and chat template, dtype, greedy decoding, library
versions, and the backend's own source code), the hash of the image's content (file bytes, or
decoded pixels for generated images; never its id or name), the exact prompt (which holds the
strategy's parameters, e.g. the class order) and the decoding length or the scored continuations.
A model without a fingerprint, or whose fingerprint is None (it samples), is never cached.

The misses of one call are sent to the model in chunks of a few batches, and each chunk is written
as soon as it is answered, so a run killed midway keeps everything it finished. The same chunks
drive the progress callback.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pytest_vlm.models.base import (
    ContinuationScore,
    Fingerprints,
    GenerationRequest,
    ImageSource,
    ScoreRequest,
    ScoresContinuations,
    VisionLanguageModel,
)
from pytest_vlm.models.cache.store import ResultStore

KEY_VERSION = 1  # bump when the key's recipe changes, so old entries are never misread
Progress = Callable[[int], None]  # called with the number of requests just answered (hits included)


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResultCache:
    """The session's cache: the store, plus in-process memos of model and image hashes."""

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        self._models: dict[int, str | None] = {}
        self._images: dict[Any, str] = {}

    def model_key(self, model: VisionLanguageModel) -> str | None:
        """The hash of what the model's answers depend on, or None when they must not be cached."""
        if id(model) not in self._models:
            fingerprint = self.fingerprint(model)
            key = _sha256_json(fingerprint) if fingerprint is not None else None
            if key is not None:
                self.store.remember_model(key, fingerprint)  # type: ignore[arg-type]
            self._models[id(model)] = key
        return self._models[id(model)]

    def fingerprint(self, model: VisionLanguageModel) -> dict[str, Any] | None:
        if not isinstance(model, Fingerprints):
            return None
        fingerprint = model.fingerprint()
        if fingerprint is None:
            return None
        fingerprint = dict(fingerprint)
        folder = fingerprint.pop("files", None)
        if folder is not None:
            root = Path(folder)
            fingerprint["files"] = {
                f.relative_to(root).as_posix(): self.store.file_sha256(f)
                for f in sorted(root.rglob("*"))
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(root).parts)
            }
        # The backend's code decides how a prompt becomes tokens: a changed backend is a changed model.
        source = inspect.getsourcefile(type(model))
        fingerprint["backend_code"] = hashlib.sha256(Path(source).read_bytes()).hexdigest() if source else None
        fingerprint["key_version"] = KEY_VERSION
        return fingerprint

    def image_key(self, image: ImageSource) -> str:
        """Hash of the image's content: the file's bytes when it is a file, else the decoded pixels."""
        try:
            memo = self._images.get(image)
        except TypeError:  # an unhashable image source: no memo
            return self._hash_image(image)
        if memo is None:
            memo = self._images[image] = self._hash_image(image)
        return memo

    def _hash_image(self, image: ImageSource) -> str:
        path = getattr(image, "path", None)
        if isinstance(path, Path):
            try:
                return f"file:{self.store.file_sha256(path)}"
            except OSError:
                pass  # let load() report the unreadable file the way it always does
        return self._pixels(image)

    @staticmethod
    def _pixels(image: ImageSource) -> str:
        pixels = image.load()
        digest = hashlib.sha256(f"{pixels.mode}\x1f{pixels.size}\x1f".encode())
        digest.update(pixels.tobytes())
        return f"pixels:{digest.hexdigest()}"


class CachingModel:
    """Wraps a model for one item: answers from the cache, misses from the model in written chunks.

    With ``cache`` None (or a model that cannot be cached) it only chunks and reports progress.
    Counts ``requests``, cache ``hits`` and the ``model_seconds`` spent on the misses, for the report.
    """

    def __init__(
        self,
        model: VisionLanguageModel,
        cache: ResultCache | None = None,
        *,
        progress: Progress | None = None,
        chunk_size: int | None = None,
    ) -> None:
        self.model = model
        self.name = model.name
        self.cache = cache
        self.model_key = cache.model_key(model) if cache is not None else None
        self.progress = progress
        self.chunk_size = chunk_size or 4 * max(1, int(getattr(model, "batch_size", 16)))
        self.requests = 0
        self.hits = 0
        self.model_seconds = 0.0  # spent in the model's own calls, on the requests the cache missed

    @property
    def cached(self) -> bool:
        return self.model_key is not None

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        # The choices decide where early stopping ends an answer, so they are part of the question.
        keyed = [("generate", r.prompt, r.max_new_tokens, list(r.choices)) for r in requests]
        return self._answer(requests, keyed, self.model.generate, encode=str, decode=str)

    def close(self) -> None:
        """The pool owns the model; closing one item's view of it does nothing."""

    def _answer(
        self,
        requests: Sequence[Any],
        keyed: list[tuple[Any, ...]],
        call: Callable[[list[Any]], list[Any]],
        *,
        encode: Callable[[Any], Any],
        decode: Callable[[Any], Any],
    ) -> list[Any]:
        self.requests += len(requests)
        results: list[Any] = [None] * len(requests)
        keys: list[str] | None = None
        misses = list(range(len(requests)))
        if self.cache is not None and self.model_key is not None:
            cache = self.cache
            keys = [
                _sha256_json([self.model_key, cache.image_key(r.image), *parts]) for r, parts in zip(requests, keyed)
            ]
            found = cache.store.get_many(keys)
            misses = [i for i, key in enumerate(keys) if key not in found]
            for i, key in enumerate(keys):
                if key in found:
                    results[i] = decode(found[key])
            self.hits += len(requests) - len(misses)
            self._report(len(requests) - len(misses))
        for start in range(0, len(misses), self.chunk_size):
            chunk = misses[start : start + self.chunk_size]
            began = time.perf_counter()
            answers = call([requests[i] for i in chunk])
            self.model_seconds += time.perf_counter() - began
            for i, answer in zip(chunk, answers):
                results[i] = answer
            if keys is not None and self.cache is not None:
                self.cache.store.put_many({keys[i]: encode(results[i]) for i in chunk}, model=str(self.model_key))
            self._report(len(chunk))
        return results

    def _report(self, done: int) -> None:
        if self.progress is not None and done:
            self.progress(done)


class CachingScoringModel(CachingModel):
    """The same for a model that also scores continuations (the likelihood strategy)."""

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[ContinuationScore]]:
        keyed = [("score", r.prompt, list(r.continuations)) for r in requests]
        model = self.model
        assert isinstance(model, ScoresContinuations)
        return self._answer(
            requests,
            keyed,
            model.score,
            encode=lambda scores: [[s.logprob, s.tokens] for s in scores],
            decode=lambda rows: [ContinuationScore(float(lp), int(n)) for lp, n in rows],
        )


def wrap(
    model: VisionLanguageModel,
    cache: ResultCache | None = None,
    *,
    progress: Progress | None = None,
    chunk_size: int | None = None,
) -> CachingModel:
    """The caching view of ``model``; it can score exactly when the model can."""
    cls = CachingScoringModel if isinstance(model, ScoresContinuations) else CachingModel
    return cls(model, cache, progress=progress, chunk_size=chunk_size)
