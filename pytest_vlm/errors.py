"""Errors pytest-vlm raises for bad input; each says what failed, where, and what to do."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class VlmError(Exception):
    """Base class: an error whose message is complete and needs no traceback."""


class SpecError(VlmError):
    """A benchmark spec (``*.vlm.yaml``) is invalid.

    ``where`` is the file and key path (``cats.vlm.yaml: strategies.closed_set.votes``).
    """

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


class DatasetError(VlmError):
    """A dataset's files cannot be read or are inconsistent with the spec."""


class ModelError(VlmError):
    """A model cannot be resolved or loaded."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
