"""Classification strategies, by kind. Each module holds one strategy; answer parsing is apart."""

from __future__ import annotations

from pytest_vlm.strategies.base import Strategy
from pytest_vlm.strategies.binary import Binary
from pytest_vlm.strategies.closed_set import ClosedSet
from pytest_vlm.strategies.direct import Direct
from pytest_vlm.strategies.likelihood import Likelihood

STRATEGIES: dict[str, type[Strategy]] = {cls.kind: cls for cls in (ClosedSet, Binary, Likelihood, Direct)}

__all__ = ["STRATEGIES", "Binary", "ClosedSet", "Direct", "Likelihood"]
