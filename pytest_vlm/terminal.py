"""Rendering the summary through pytest's terminal writer (so --color and width hold).

One table per benchmark, titled with its name and size, so that the columns that vary (model,
strategy, metrics, speed, outcome) fit an 80-column CI log.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from itertools import groupby

import pytest

from pytest_vlm.report import SummaryRow

_STATUS_STYLE = {"passed": "green", "failed": "bold red", "error": "bold red"}
_COLUMNS = (
    ("model", "left"),
    ("strategy", "left"),
    ("accuracy", "right"),
    ("macro\nF1", "right"),
    ("weighted\nF1", "right"),
    ("it/s", "right"),
    ("status", "left"),
    ("baseline", "left"),
)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _title(benchmark: str, rows: Sequence[SummaryRow]) -> str:
    sizes = sorted({r.n for r in rows if r.n is not None})
    size = f" ({', '.join(map(str, sizes))} images)" if sizes else ""
    return f"{benchmark}{size}"


def render_summary(rows: Sequence[SummaryRow], *, width: int, color: bool) -> list[str]:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color, highlight=False)
    for benchmark, group in groupby(rows, key=lambda r: r.benchmark):
        group_rows = list(group)
        table = Table(
            title=_title(benchmark, group_rows),
            title_justify="left",
            title_style="bold",
            box=box.SIMPLE_HEAD,
            header_style="bold",
            show_edge=False,
            pad_edge=False,
            padding=(0, 1, 0, 0),
        )
        for column, justify in _COLUMNS:
            # Numbers never wrap; names fold only when the terminal is too narrow for them.
            table.add_column(column, justify=justify, overflow="fold", no_wrap=justify == "right")  # type: ignore[arg-type]
        for row in group_rows:
            style = _STATUS_STYLE.get(row.status, "")
            table.add_row(
                row.model,
                row.strategy,
                _num(row.accuracy),
                _num(row.macro_f1),
                _num(row.weighted_f1),
                _rate(row.images_per_second),
                f"[{style}]{row.status}[/]" if style else row.status,
                row.baseline,
            )
        console.print(table)
    return [line.rstrip() for line in buffer.getvalue().strip("\n").split("\n")]


def write_summary(terminalreporter: pytest.TerminalReporter, rows: Sequence[SummaryRow]) -> None:
    writer = terminalreporter.config.get_terminal_writer()
    terminalreporter.write_sep("=", "pytest-vlm summary")
    for line in render_summary(rows, width=writer.fullwidth, color=writer.hasmarkup):
        terminalreporter.write_line(line)
