"""Strategies, by kind: the classification ones and open_ended. Each module holds one; answer parsing is apart."""

from __future__ import annotations

from pytest_vlm.strategies.base import Strategy
from pytest_vlm.strategies.binary import Binary
from pytest_vlm.strategies.closed_set import ClosedSet
from pytest_vlm.strategies.direct import Direct
from pytest_vlm.strategies.likelihood import Likelihood
from pytest_vlm.strategies.open_ended import OpenEnded

STRATEGIES: dict[str, type[Strategy] | type[OpenEnded]] = {
    cls.kind: cls for cls in (ClosedSet, Binary, Likelihood, Direct, OpenEnded)
}

__all__ = ["STRATEGIES", "Binary", "ClosedSet", "Direct", "Likelihood", "OpenEnded"]
