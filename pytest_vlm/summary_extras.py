"""Summary sections after the main table: class-count sweeps, and how many answers the cache served.

Rows are built without I/O (``sweep_lines``, ``cache_lines``); ``write_extras`` writes them through
pytest's terminal reporter, so ``--color`` and the terminal width hold.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from itertools import groupby

import pytest

from pytest_vlm.printable import printable_name
from pytest_vlm.results import ItemResult


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
