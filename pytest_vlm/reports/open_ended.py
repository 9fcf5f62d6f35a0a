"""Open-ended items in the reports: rows built without I/O, the terminal and Markdown renderings
(reports/html.py renders them too).

Per benchmark a table of the reference work's numbers (mean similarity, win rate, top-1/5/10), then
the text scorers and the 95% bootstrap intervals; per item compared with a baseline, the gates and
every answer that changed meaning, old text beside new.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from pytest_vlm.results import ItemResult
from pytest_vlm.scoring.metrics import Interval
from pytest_vlm.strategies.open_ended import KIND

MAIN = ("similarity", "win_rate", "top1", "top5", "top10")
TEXT = ("exact_match", "contains", "token_f1", "anls")
# The terminal splits them so that each table fits an 80-column CI log.
TERMINAL_FIRST = ("similarity", "win_rate", "exact_match")
TERMINAL_SECOND = ("top1", "top5", "top10", "contains", "token_f1", "anls")
TERMINAL_INTERVALS = ("similarity", "win_rate", "exact_match")
HEADERS = {
    "similarity": "similarity",
    "win_rate": "win rate",
    "top1": "top-1",
    "top5": "top-5",
    "top10": "top-10",
    "exact_match": "exact",
    "contains": "contains",
    "token_f1": "token F1",
    "anls": "ANLS",
    "paired_win_rate": "paired win",
}
FLIP_LIMIT = 50


@dataclass(frozen=True)
class OpenRow:
    benchmark: str
    model: str
    strategy: str
    n: int | None
    values: dict[str, float]  # the metrics this item measured, by name
    intervals: dict[str, Interval]
    images_per_second: float | None
    status: str
    baseline: str


def open_results(results: Sequence[ItemResult]) -> list[ItemResult]:
    return sorted((r for r in results if r.kind == KIND), key=lambda r: (r.benchmark, r.model, r.strategy))


def open_rows(results: Sequence[ItemResult]) -> list[OpenRow]:
    rows = []
    for r in open_results(results):
        m = r.open_metrics
        values: dict[str, float] = {}
        if m is not None:
            values.update(m.means)
            values.update(m.top)
            for name in ("win_rate", "paired_win_rate"):
                if getattr(m, name) is not None:
                    values[name] = getattr(m, name)
        baseline = f"{r.flips} flipped" if r.snapshot == "changed" else (r.snapshot or "-")
        rows.append(
            OpenRow(
                benchmark=r.benchmark,
                model=r.model,
                strategy=r.strategy,
                n=m.n if m else None,
                values=values,
                intervals=dict(m.intervals) if m else {},
                images_per_second=m.images_per_second if m else None,
                status=r.status,
                baseline=baseline,
            )
        )
    return rows


def _rate(value: float | None) -> str:
    if value is None or value != value:  # NaN: the result cache served every answer
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _num(row: OpenRow, name: str) -> str:
    value = row.values.get(name)
    return "-" if value is None else f"{value:.3f}"


def with_interval(row: OpenRow, name: str) -> str:
    interval = row.intervals.get(name)
    return _num(row, name) + (f" {interval}" if interval is not None and name in row.values else "")


def measured_columns(rows: Sequence[OpenRow], names: Sequence[str]) -> list[str]:
    return [n for n in names if any(n in r.values for r in rows)]


def render_open_terminal(results: Sequence[ItemResult], *, width: int, color: bool) -> list[str]:
    """Per benchmark: the reference work's numbers, then the text scores and the intervals."""
    from rich.console import Console

    from pytest_vlm.reports.terminal import STATUS_STYLE, summary_table

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, no_color=not color, highlight=False)
    for benchmark, group in groupby(open_rows(results), key=lambda r: r.benchmark):
        rows = list(group)
        sizes = sorted({r.n for r in rows if r.n is not None})
        title = f"{benchmark} ({', '.join(map(str, sizes))} answers, open-ended)" if sizes else benchmark
        main = measured_columns(rows, TERMINAL_FIRST)
        # "cos sim": the mean similarity, short so that the row fits 80 columns
        heads = {**HEADERS, "similarity": "cos sim"}
        columns = [("model", "left"), ("strategy", "left"), *((heads[n], "right") for n in main)]
        first = summary_table(
            title, [*columns, ("it/s", "right"), ("status", "left"), ("baseline", "left")], title_style="bold"
        )
        for row in rows:
            style = STATUS_STYLE.get(row.status, "")
            status = f"[{style}]{row.status}[/]" if style else row.status
            first.add_row(
                row.model,
                row.strategy,
                *(_num(row, n) for n in main),
                _rate(row.images_per_second),
                status,
                row.baseline,
            )
        console.print(first)
        text = measured_columns(rows, TERMINAL_SECOND)
        if text:
            second = summary_table(
                "top-k similarity and text scores",
                [("model", "left"), ("strategy", "left"), *((HEADERS[n], "right") for n in text)],
            )
            for row in rows:
                second.add_row(row.model, row.strategy, *(_num(row, n) for n in text))
            console.print(second)
        ranged = [n for n in TERMINAL_INTERVALS if any(n in r.intervals for r in rows)]
        if ranged:
            third = summary_table(
                "95% intervals (bootstrap over images)",
                [("model", "left"), ("strategy", "left"), *((HEADERS[n], "right") for n in ranged)],
            )
            for row in rows:
                third.add_row(row.model, row.strategy, *(str(row.intervals.get(n, "-")) for n in ranged))
            console.print(third)
        if any("paired_win_rate" in r.values for r in rows):
            paired = summary_table(
                "against the baseline's answers (ties count 1/2)",
                [("model", "left"), ("strategy", "left"), ("paired win rate", "right"), ("95% interval", "right")],
            )
            for row in rows:
                paired.add_row(
                    row.model,
                    row.strategy,
                    _num(row, "paired_win_rate"),
                    str(row.intervals.get("paired_win_rate", "-")),
                )
            console.print(paired)
    return [line.rstrip() for line in buffer.getvalue().strip("\n").split("\n")] if buffer.getvalue() else []


def open_comparison_lines(results: Sequence[ItemResult]) -> list[str]:
    """One line per open item whose answers changed meaning or whose gates failed."""
    lines = []
    for r in open_results(results):
        c = r.open_comparison
        if c is None or not (c.flips or any(not g["passed"] for g in c.gates)):
            continue
        gates = "; ".join(f"{g['gate']} {'ok' if g['passed'] else 'FAILED'}" for g in c.gates)
        lines.append(f"{r.benchmark} {r.model} {r.strategy} {c.summary()}" + (f"; {gates}" if gates else ""))
    return lines


def write_open_summary(terminalreporter: Any, results: Sequence[ItemResult]) -> None:
    import textwrap

    writer = terminalreporter.config.get_terminal_writer()
    lines = render_open_terminal(results, width=writer.fullwidth, color=writer.hasmarkup)
    for line in lines:
        terminalreporter.write_line(line)
    comparisons = open_comparison_lines(results)
    if comparisons:
        terminalreporter.write_line(
            "answers against the baseline (old and new texts: --vlm-json, --vlm-markdown, --vlm-html):"
        )
        for line in comparisons:
            for part in textwrap.wrap(
                line, width=max(writer.fullwidth, 40), initial_indent="  ", subsequent_indent="    "
            ):
                terminalreporter.write_line(part)


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_open_markdown(results: Sequence[ItemResult]) -> list[str]:
    out: list[str] = []
    for benchmark, group in groupby(open_rows(results), key=lambda r: r.benchmark):
        rows = list(group)
        names = measured_columns(rows, (*MAIN, *TEXT, "paired_win_rate"))
        out += [f"### {benchmark} (open-ended)", ""]
        out.append("| model | strategy | " + " | ".join(HEADERS[n] for n in names) + " | it/s | status | baseline |")
        out.append("|---" * (len(names) + 5) + "|")
        for row in rows:
            speed = "-" if row.images_per_second is None else f"{row.images_per_second:.1f}"
            cells = (row.model, row.strategy, *(with_interval(row, n) for n in names), speed, row.status, row.baseline)
            out.append("| " + " | ".join(_md(c) for c in cells) + " |")
        out.append("")
    for r in open_results(results):
        c = r.open_comparison
        if c is None or not (c.flips or any(not g["passed"] for g in c.gates)):
            continue
        out += [f"#### {_md(r.benchmark)} / {_md(r.model)} / {_md(r.strategy)} vs baseline {_md(c.baseline)}", ""]
        out += [f"- {'✅' if g['passed'] else '❌'} `{g['gate']}`: {_md(g['detail'])}" for g in c.gates]
        out.append(f"- {_md(c.summary())}")
        if c.flips:
            out += ["", f"<details><summary>{len(c.flips)} answer(s) changed meaning</summary>", ""]
            out += ["| image | question | baseline answer | new answer | similarity |", "|---|---|---|---|---|"]
            for f in c.flips[:FLIP_LIMIT]:
                sim = "-" if f.similarity is None else f"{f.similarity:.3f}"
                out.append("| " + " | ".join(_md(x) for x in (f.image_id, f.asked, f.old, f.new, sim)) + " |")
            if len(c.flips) > FLIP_LIMIT:
                out.append(f"\n... and {len(c.flips) - FLIP_LIMIT} more (see --vlm-json)")
            out += ["", "</details>"]
        out.append("")
    return out
