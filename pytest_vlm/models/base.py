"""The model protocol: one required batched method; optional capabilities as separate protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL import Image


class ImageSource(Protocol):
    """An image a model can be asked about: a stable id and a way to read the pixels."""

    @property
    def id(self) -> str: ...

    def load(self) -> Image.Image: ...


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt about one image, answered by greedy decoding of at most ``max_new_tokens``.

    ``choices`` are the answers the strategy can read (class names, or yes and no). A backend may
    stop decoding as soon as the text so far reads as exactly one of them and as the start of no
    other (see ``strategies.answers.settled``); without choices it decodes to the end.

    ``shared`` is how many leading characters of ``prompt`` every question of the strategy shares
    (the template's text before its first placeholder): a backend may encode the image and that
    text once and reuse it for every question about the image.
    """

    image: ImageSource
    prompt: str
    max_new_tokens: int = 12
    choices: tuple[str, ...] = ()
    shared: int = 0


@runtime_checkable
class VisionLanguageModel(Protocol):
    """What a strategy needs from a model."""

    name: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """The answer text to every request, in order. Implementations batch as they see fit."""
        ...

    def close(self) -> None:
        """Release weights and device memory."""
        ...


@dataclass(frozen=True)
class ScoreRequest:
    """Score each continuation as the model's answer to ``prompt`` about ``image``."""

    image: ImageSource
    prompt: str
    continuations: tuple[str, ...]


@dataclass(frozen=True)
class ContinuationScore:
    """Sum of the log-probabilities of a continuation's tokens, and how many tokens it has."""

    logprob: float
    tokens: int


@runtime_checkable
class ScoresContinuations(Protocol):
    """A model that can score given answers instead of generating one (the likelihood strategy)."""

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[ContinuationScore]]:
        """For each request, one score per continuation, in order."""
        ...


@runtime_checkable
class MeasuresMemory(Protocol):
    """A model that can tell its own peak memory (e.g. GPU memory)."""

    def reset_peak_memory(self) -> None: ...

    def peak_memory_mb(self) -> float: ...


@runtime_checkable
class HoldsMemos(Protocol):
    """A model that keeps work in memory across calls (decoded images, encoded prefixes), so an item
    run after another on the same images is faster than it would be alone."""

    def memo_entries(self) -> int:
        """How many such entries it holds now."""
        ...


@runtime_checkable
class Describes(Protocol):
    """A model that can describe where and how it runs (device, dtype, source) for reports."""

    def describe(self) -> dict[str, Any]: ...


@runtime_checkable
class Fingerprints(Protocol):
    """A model whose answers can be cached (models/cache/results.py): it can say what they depend on."""

    def fingerprint(self) -> dict[str, Any] | None:
        """Everything the answers depend on besides the request (weights revision, processor, decoding),
        as JSON-serialisable data; None when they are not reproducible (sampling) and must not be cached.
        A ``"files"`` entry names a folder whose files the cache hashes (weights of a local checkpoint)."""
        ...


@runtime_checkable
class ClassifiesImages(Protocol):
    """A conventional classifier: it scores the benchmark's classes for an image directly, no prompt.

    Such models run the ``direct`` strategy instead of the prompt strategies (image-classification
    models through their labels, zero-shot CLIP/SigLIP-style models through ``template``).
    """

    name: str

    def classify(self, images: Sequence[ImageSource], classes: Sequence[str], template: str) -> list[list[float]]:
        """For each image, one score per class in ``classes`` order (higher: more likely)."""
        ...

    def close(self) -> None: ...


# What a backend loads: a model that answers prompts, or a conventional classifier.
LoadedModel = VisionLanguageModel | ClassifiesImages
