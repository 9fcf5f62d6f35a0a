"""Rendering the summary through pytest's terminal writer (so --color and width hold).

One table per benchmark, titled with its name and size, so that the columns that vary (model,
strategy, metrics, speed, outcome) fit an 80-column CI log; then the sections after it: class-count
sweeps, and how many answers the cache served. Lines are built without I/O (``sweep_lines``,
``cache_lines``); ``write_summary`` and ``write_extras`` write them.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from itertools import groupby
from typing import Any

import pytest

from pytest_vlm.printable import printable_name
from pytest_vlm.reports.rows import WARM_NOTE, SummaryRow
from pytest_vlm.results import ItemResult
from pytest_vlm.scoring.metrics import Interval

_STATUS_STYLE = {"passed": "green", "failed": "bold red", "error": "bold red"}
_COLUMNS = (
    ("model", "left"),
    ("strategy", "left"),
    ("accuracy", "right"),
    ("macro\nF1", "right"),
    ("weighted\nF1", "right"),
    ("it/s", "right"),
    ("cached", "right"),
    ("status", "left"),
    ("baseline", "left"),
)
# What gives way, in this order, when a table is wider than the terminal: names never break.
_DROPPED_FIRST = ("weighted\nF1", "cached", "macro\nF1", "weighted F1", "macro F1", "it/s")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ci(interval: Interval | None) -> str:
    return "-" if interval is None else str(interval)


def _title(benchmark: str, rows: Sequence[SummaryRow]) -> str:
    sizes = sorted({r.n for r in rows if r.n is not None})
    size = f" ({', '.join(map(str, sizes))} images)" if sizes else ""
    return f"{printable_name(benchmark)}{size}"


_INTERVAL_COLUMNS = (
    ("model", "left"),
    ("strategy", "left"),
    ("accuracy", "right"),
    ("macro F1", "right"),
    ("weighted F1", "right"),
)


def _table(title: str, columns: Sequence[tuple[str, str]], **title_style: Any) -> Any:
    """A borderless table in the summary's style. No cell ever wraps: see ``_fitted``."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        header_style="bold",
        show_edge=False,
        pad_edge=False,
        padding=0,  # the box's space between columns is enough
        **title_style,
    )
    for column, justify in columns:
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    return table


def _fitted(
    console: Any, title: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], **title_style: Any
) -> tuple[Any, int, list[str]]:
    """The table with as many columns as fit ``console``'s width, its width, and the columns left out.

    Columns give way in ``_DROPPED_FIRST`` order; names are never cut or broken (a name wider than
    the terminal makes the line longer instead)."""
    from rich.text import Text

    kept = list(range(len(columns)))
    dropped: list[str] = []
    while True:
        table = _table(title, [columns[i] for i in kept], **title_style)
        for row in rows:
            table.add_row(*(Text(row[i]) if isinstance(row[i], str) else row[i] for i in kept))
        needed = console.measure(table, options=console.options.update(width=10_000)).maximum
        droppable = [c for c in _DROPPED_FIRST if c in [columns[i][0] for i in kept]]
        if needed <= console.width or not droppable:
            return table, needed, dropped
        kept.remove(next(i for i in kept if columns[i][0] == droppable[0]))
        dropped.append(droppable[0].replace("\n", " "))


def _interval_rows(rows: Sequence[SummaryRow]) -> list[tuple[str, ...]]:
    """The same rows' 95% intervals, in a table of their own: beside the metrics they would not fit
    an 80-column log."""
    return [
        (
            printable_name(r.model),
            printable_name(r.strategy),
            _ci(r.accuracy_ci),
            _ci(r.macro_f1_ci),
            _ci(r.weighted_f1_ci),
        )
        for r in rows
    ]


def _summary_row(row: SummaryRow) -> tuple[Any, ...]:
    from rich.text import Text

    return (
        printable_name(row.model),
        printable_name(row.strategy),
        _num(row.accuracy),
        _num(row.macro_f1),
        _num(row.weighted_f1),
        row.speed,
        row.cached,
        Text(row.status, style=_STATUS_STYLE.get(row.status, "")),
        printable_name(row.baseline),
    )


def render_summary(rows: Sequence[SummaryRow], *, width: int, color: bool) -> list[str]:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color, highlight=False)
    left_out: list[str] = []
    for benchmark, group in groupby(rows, key=lambda r: r.benchmark):
        group_rows = list(group)
        tables: list[tuple[str, Sequence[tuple[str, str]], Sequence[Sequence[Any]], str]] = [
            (_title(benchmark, group_rows), _COLUMNS, [_summary_row(r) for r in group_rows], "bold")
        ]
        if any(r.accuracy_ci is not None for r in group_rows):
            title = "95% intervals (accuracy: Wilson; F1: bootstrap over images)"
            tables.append((title, _INTERVAL_COLUMNS, _interval_rows(group_rows), ""))
        for title, columns, cells, style in tables:
            table, needed, dropped = _fitted(console, title, columns, cells, title_style=style)
            # A table wider than the terminal (a very long name) is printed whole, never folded.
            console.width = max(width, needed)
            console.print(table, crop=False)
            console.width = width
            left_out += [c for c in dropped if c not in left_out]
    if any(r.warm for r in rows):
        console.print(WARM_NOTE, overflow="fold")
    if left_out:
        console.print(f"(left out to fit {width} columns: {', '.join(left_out)}; see --vlm-markdown)")
    return [line.rstrip() for line in buffer.getvalue().strip("\n").split("\n")]


def write_summary(
    terminalreporter: pytest.TerminalReporter, rows: Sequence[SummaryRow], comparisons: Sequence[str] = ()
) -> None:
    writer = terminalreporter.config.get_terminal_writer()
    terminalreporter.write_sep("=", "pytest-vlm summary")
    for line in render_summary(rows, width=writer.fullwidth, color=writer.hasmarkup):
        terminalreporter.write_line(line)
    if comparisons:
        terminalreporter.write_line("baseline comparison (details: --vlm-json, --vlm-markdown, --vlm-html):")
        for line in comparisons:
            for part in textwrap.wrap(
                printable_name(line), width=max(writer.fullwidth, 40), initial_indent="  ", subsequent_indent="    "
            ):
                terminalreporter.write_line(part)


def _ordered(results: Sequence[ItemResult]) -> list[ItemResult]:
    return sorted(results, key=lambda r: (r.benchmark, r.model, r.strategy))


def sweep_lines(results: Sequence[ItemResult], *, width: int, color: bool) -> list[str]:
    """One table per item that ran a class-count sweep: accuracy and macro F1 per number of classes."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color, highlight=False)
    for r in _ordered(results):
        if not r.sweep:
            continue
        title = f"{r.benchmark}: {printable_name(r.model)} / {printable_name(r.strategy)} by number of classes"
        console.print(Text(title, style="bold"), overflow="fold")
        table = Table(
            box=box.SIMPLE_HEAD,
            header_style="bold",
            show_edge=False,
            pad_edge=False,
            padding=(0, 1, 0, 0),
        )
        for column in ("classes", "images", "accuracy", "macro F1", "unparseable"):
            table.add_column(column, justify="right", no_wrap=True)
        for p in r.sweep:
            table.add_row(
                str(p.classes), str(p.images), f"{p.accuracy:.3f}", f"{p.macro_f1:.3f}", f"{p.unparseable_rate:.3f}"
            )
        console.print(table)
    text = buffer.getvalue().strip("\n")
    return [line.rstrip() for line in text.split("\n")] if text else []


def cache_lines(results: Sequence[ItemResult]) -> list[str]:
    """``cache: shapes / tiny-shapes: closed_set cached 1050/1050, binary cached 0/640`` per benchmark x model."""
    lines = []
    cached = [r for r in _ordered(results) if r.cache_hits is not None]
    for (benchmark, model), group in groupby(cached, key=lambda r: (r.benchmark, r.model)):
        parts = [f"{r.strategy} cached {r.cache_hits}/{r.cache_requests}" for r in group]
        lines.append(printable_name(f"{benchmark} / {model}: {', '.join(parts)}"))
    return lines


def write_extras(terminalreporter: pytest.TerminalReporter, results: Sequence[ItemResult]) -> None:
    writer = terminalreporter.config.get_terminal_writer()
    sweeps = sweep_lines(results, width=writer.fullwidth, color=writer.hasmarkup)
    if sweeps:
        terminalreporter.write_line("")
        for line in sweeps:
            terminalreporter.write_line(line)
    lines = cache_lines(results)
    if lines:
        from pytest_vlm.state import OPTIONS_KEY

        folder = terminalreporter.config.stash[OPTIONS_KEY].cache_dir
        terminalreporter.write_line("")
        terminalreporter.write_line(f"result cache ({folder}; --vlm-no-cache to bypass):")
        for line in lines:
            terminalreporter.write_line(f"  {line}")
