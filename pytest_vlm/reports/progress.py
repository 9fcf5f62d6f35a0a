"""A progress bar per running item (benchmark x model x strategy), drawn only where it is harmless.

It follows rich's progress conventions (name, bar, done/total, rate, elapsed, ETA), fills the
terminal's whole width, and is redrawn on a clock (twice a second) as well as when answers come
in, so the elapsed time and the ETA move while a slow batch or the model's loading runs.

It is drawn on the line below pytest's current line and erased when the item ends, the cursor
put back where pytest left it, so pytest's own output (dots, PASSED, [ 50%]) reads as without it.
It appears only when all of these hold: stdout is a terminal (seen at configure time, before
pytest captures it), TERM is not ``dumb``, the run is not ``-q``, the process is not an xdist
worker (xdist reports per-item progress itself), and the item has run longer than
``--vlm-progress-after`` seconds. Otherwise nothing is ever written: captured output, CI logs and
pipes stay clean.

The bar writes to a duplicate of the terminal's file descriptor taken at configure time, so it
never touches pytest's output capture (which a drawing thread could not do safely), and reads
the terminal's width from it (during a test, stdout is pytest's capture file, 80 columns wide).
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

TERMINAL_KEY = pytest.StashKey[int]()  # a duplicate of stdout's descriptor, when it was a terminal
_REDRAW_S = 0.1  # at most ten redraws a second
_TICK_S = 0.5  # redrawn at least this often while it is shown


def remember_terminal(config: pytest.Config) -> None:
    """Called from pytest_configure, while sys.stdout is still the real one."""
    try:
        if not sys.stdout.isatty() or os.environ.get("TERM") == "dumb":
            return
        fd = os.dup(sys.stdout.fileno())
    except (AttributeError, ValueError, OSError):
        return
    config.stash[TERMINAL_KEY] = fd
    config.add_cleanup(lambda: os.close(fd))


def _status_columns() -> tuple[Any, ...]:
    """rich's columns for what follows the bar: done/total, rate, elapsed, ETA."""
    from rich.progress import MofNCompleteColumn, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Prompts per second over rich's recent window ("-/s" until there are two samples)."""

        def render(self, task: Any) -> Text:
            speed = task.speed
            return Text("-/s" if speed is None else f"{speed:.1f}/s", style="progress.data.speed")

    return (
        MofNCompleteColumn(),
        TextColumn("prompts"),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )


class ProgressState:
    """One item's progress in a rich ``Progress`` (for its rate and ETA), rendered as one line."""

    def __init__(self, label: str, clock: Callable[[], float]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress

        self._status = _status_columns()
        self._bar = BarColumn(bar_width=None)
        self.label = label
        # Never started: it only keeps the task's samples; lines are rendered by render().
        self._progress = Progress(console=Console(file=io.StringIO()), auto_refresh=False, get_time=clock)
        self._task = self._progress.add_task(label, total=None)

    def update(self, done: int, total: int | None) -> None:
        self._progress.update(self._task, completed=done, total=total)

    def render(self, *, width: int, color: bool) -> str:
        """One line of exactly ``width`` cells or fewer; the name gives way first when it is narrow."""
        from rich.cells import cell_len
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        task = self._progress.tasks[0]
        status = [column(task) for column in self._status]
        room = width - sum(cell_len(cell.plain) for cell in status) - len(status) - 1
        name = Text(self.label)
        name.truncate(max(1, room - 11), overflow="ellipsis")  # the bar keeps at least 10 cells
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        for _ in status:
            grid.add_column(no_wrap=True)
        grid.add_row(name, self._bar(task), *status)
        buffer = io.StringIO()
        console = Console(
            file=buffer,
            width=width,
            force_terminal=True,
            color_system="standard" if color else None,
            no_color=not color,
            highlight=False,
        )
        console.print(grid, end="", crop=True, soft_wrap=False)
        return buffer.getvalue().split("\n", 1)[0]


class ProgressBar:
    """Draws one item's progress through ``write`` (raw terminal text); ``update`` is the runner's
    callback, and a thread redraws it every ``tick`` seconds in between."""

    def __init__(
        self,
        label: str,
        *,
        write: Callable[[str], None],
        column: Callable[[], int],
        width: Callable[[], int],
        color: bool,
        after: float,
        clock: Callable[[], float] = time.monotonic,
        tick: float = _TICK_S,
    ) -> None:
        self._write, self._column, self._width, self._clock = write, column, width, clock
        self.color, self.after, self.tick = color, after, tick
        self._state = ProgressState(label, clock)
        self._start = clock()
        self._last = float("-inf")
        self._shown_at: int | None = None  # pytest's column when the bar appeared
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def shown(self) -> bool:
        return self._shown_at is not None

    def start(self) -> ProgressBar:
        """Start the clock thread that keeps the bar moving between answers."""
        self._thread = threading.Thread(target=self._run, name="pytest-vlm progress", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            with self._lock:
                self._draw()

    def update(self, done: int, total: int | None) -> None:
        with self._lock:
            self._state.update(done, total)
            self._draw()

    def _draw(self) -> None:
        now = self._clock()
        if now - self._start < self.after or now - self._last < _REDRAW_S or self._stop.is_set():
            return
        self._last = now
        line = self._state.render(width=self._width() - 1, color=self.color)
        if self._shown_at is None:
            self._shown_at = self._column()
            self._write("\n" + line + "\x1b[K")
        else:
            self._write("\r" + line + "\x1b[K")

    def close(self) -> None:
        """Stop the clock, erase the bar and put the cursor back at the end of pytest's line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._shown_at is not None:
                self._write(f"\r\x1b[2K\x1b[1A\x1b[{self._shown_at + 1}G")
            self._shown_at = None


def progress_bar(config: pytest.Config, label: str) -> ProgressBar | None:
    """A started bar for one item when this session may draw one (see the module docstring), else None."""
    after = getattr(config.stash.get(_options_key(), None), "progress_after", None)
    fd = config.stash.get(TERMINAL_KEY, None)
    if after is None or fd is None or hasattr(config, "workerinput") or config.get_verbosity() < 0:
        return None
    writer = config.get_terminal_writer()
    fallback = writer.fullwidth

    def width() -> int:
        """COLUMNS when set (as shutil does), else the terminal's current width, else pytest's."""
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        try:
            return os.get_terminal_size(fd).columns or fallback
        except OSError:
            return fallback

    def write(text: str) -> None:
        os.write(fd, text.encode("utf-8", "replace"))

    bar = ProgressBar(
        label,
        write=write,
        column=lambda: writer.width_of_current_line,
        width=width,
        color=writer.hasmarkup,
        after=after,
    )
    return bar.start()


def _options_key() -> Any:
    from pytest_vlm.state import OPTIONS_KEY

    return OPTIONS_KEY
