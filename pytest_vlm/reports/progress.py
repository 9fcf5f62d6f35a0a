"""A progress bar per running item (benchmark x model x strategy), drawn only where it is harmless.

It is drawn on the line below pytest's current line and erased when the item ends, the cursor
put back where pytest left it, so pytest's own output (dots, PASSED, [ 50%]) reads as without it.
It appears only when all of these hold: stdout is a terminal (seen at configure time, before
pytest captures it), TERM is not ``dumb``, the run is not ``-q``, the process is not an xdist
worker (xdist reports per-item progress itself), and the item has run longer than
``--vlm-progress-after`` seconds. Otherwise nothing is ever written: captured output, CI logs and
pipes stay clean. Drawing suspends pytest's output capture for the few bytes of each redraw,
through the capture plugin's public ``global_and_fixture_disabled``.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

TTY_KEY = pytest.StashKey[bool]()  # was stdout a terminal when pytest started?
_REDRAW_S = 0.1  # at most ten redraws a second


def remember_terminal(config: pytest.Config) -> None:
    """Called from pytest_configure, while sys.stdout is still the real one."""
    try:
        config.stash[TTY_KEY] = sys.stdout.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        config.stash[TTY_KEY] = False


def render_line(label: str, done: int, total: int | None, seconds: float, *, width: int, color: bool) -> str:
    """One line, at most ``width`` cells: the item's name, a bar, counts, rate (ANSI-coloured if ``color``).
    The name gives way first when the terminal is narrow."""
    from rich.console import Console
    from rich.progress_bar import ProgressBar
    from rich.text import Text

    rate = done / seconds if seconds > 0 else 0.0
    counts = f"{done}/{total} prompts" if total else f"{done} prompts"
    status = f"{counts} {rate:.1f}/s {int(seconds) // 60}:{int(seconds) % 60:02d}"
    bar_width = min(30, max(10, width // 4))
    name = Text(label)
    name.truncate(max(1, width - bar_width - len(status) - 2), overflow="ellipsis")
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=True,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
    )
    bar = ProgressBar(total=float(total) if total else None, completed=float(min(done, total or done)), width=bar_width)
    console.print(name, " ", bar, " ", status, sep="", end="", crop=True, overflow="ellipsis", soft_wrap=False)
    return buffer.getvalue().split("\n", 1)[0]


class ProgressBar:
    """Draws one item's progress through ``write`` (raw terminal text); ``update`` is the runner's callback."""

    def __init__(
        self,
        label: str,
        *,
        write: Callable[[str], None],
        column: Callable[[], int],
        width: int,
        color: bool,
        after: float,
        suspend: Callable[[], Any] = contextlib.nullcontext,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self._write, self._column, self._suspend, self._clock = write, column, suspend, clock
        self.width, self.color, self.after = width, color, after
        self._start = clock()
        self._last = float("-inf")
        self._shown_at: int | None = None  # pytest's column when the bar appeared

    @property
    def shown(self) -> bool:
        return self._shown_at is not None

    def update(self, done: int, total: int | None) -> None:
        now = self._clock()
        elapsed = now - self._start
        if elapsed < self.after or now - self._last < _REDRAW_S:
            return
        self._last = now
        line = render_line(self.label, done, total, elapsed, width=self.width - 1, color=self.color)
        with self._suspend():
            if self._shown_at is None:
                self._shown_at = self._column()
                self._write("\n" + line + "\x1b[K")
            else:
                self._write("\r" + line + "\x1b[K")

    def close(self) -> None:
        """Erase the bar and put the cursor back at the end of pytest's line."""
        if self._shown_at is None:
            return
        with self._suspend():
            self._write(f"\r\x1b[2K\x1b[1A\x1b[{self._shown_at + 1}G")
        self._shown_at = None


def progress_bar(config: pytest.Config, label: str) -> ProgressBar | None:
    """A bar for one item when this session may draw one (see the module docstring), else None."""
    after = getattr(config.stash.get(_options_key(), None), "progress_after", None)
    if after is None or not config.stash.get(TTY_KEY, False) or hasattr(config, "workerinput"):
        return None
    if config.get_verbosity() < 0:
        return None
    writer = config.get_terminal_writer()
    capture = config.pluginmanager.getplugin("capturemanager")
    suspend = capture.global_and_fixture_disabled if capture is not None else contextlib.nullcontext

    def write(text: str) -> None:
        writer.write_raw(text, flush=True)  # raw: pytest's idea of its current line stays right

    return ProgressBar(
        label,
        write=write,
        column=lambda: writer.width_of_current_line,
        width=writer.fullwidth,
        color=writer.hasmarkup,
        after=after,
        suspend=suspend,
    )


def _options_key() -> Any:
    from pytest_vlm.state import OPTIONS_KEY

    return OPTIONS_KEY
