"""Writing the report files (JSON, Markdown, HTML), atomically, and appending to $GITHUB_STEP_SUMMARY.

Paths are checked when the session starts (a usage error, before any model runs), so that a
report that cannot be written never costs a benchmark run. A report file is replaced only when
pytest-vlm wrote it: anything else at that path (a folder, someone's notes) is left alone.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_vlm.reports.rows import json_document
from pytest_vlm.results import ItemResult

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def check_output_path(path: Path, marker: str, flag: str) -> str | None:
    """Why ``path`` cannot take a report written by ``flag``, or None when it can."""
    if path.is_dir():
        return f"{flag}: {path} is a folder; give a file path such as {path / 'report'}"
    if path.exists():
        try:
            with path.open(encoding="utf-8", errors="replace") as f:
                head = f.read(200)
        except OSError:
            head = ""  # unreadable: certainly not a report we can vouch for
        if marker not in head:
            return (
                f"{flag}: {path} exists and was not written by pytest-vlm; "
                "move it away or choose another path (it is never overwritten)"
            )
    return None


def write_outputs(
    results: Sequence[ItemResult],
    *,
    json_path: Path | None,
    markdown_path: Path | None,
    html_path: Path | None,
    rootdir: Path,
    exit_status: int,
) -> list[str]:
    """Write what was asked for; returns what was written, for the terminal.

    A run that recorded no result still writes every report asked for, saying so: the last run's
    reports must not stay in place looking current.
    """
    written = []
    empty = "" if results else " (no results)"
    if json_path is not None:
        from pytest_vlm.reports.run_metadata import run_metadata

        write_json(json_path, results, run_metadata(results, rootdir=rootdir, exit_status=exit_status))
        written.append(f"{json_path}{empty}")
    markdown = None
    if markdown_path is not None or os.environ.get(STEP_SUMMARY_ENV):
        from pytest_vlm.reports.markdown import render_markdown

        markdown = render_markdown(results, exit_status=exit_status)
    if markdown_path is not None and markdown is not None:
        write_text_atomic(markdown_path, markdown)
        written.append(f"{markdown_path}{empty}")
    step_summary = os.environ.get(STEP_SUMMARY_ENV)
    if step_summary and markdown is not None and results:
        # Appended, never replaced: earlier steps of the job write to the same file.
        with open(step_summary, "a", encoding="utf-8") as f:
            f.write(markdown + "\n")
        written.append(f"${STEP_SUMMARY_ENV} ({step_summary})")
    if html_path is not None:
        from pytest_vlm.reports.html import render_html

        write_text_atomic(html_path, render_html(results, exit_status=exit_status))
        written.append(f"{html_path}{empty}")
    return written


def write_json(path: Path, results: Sequence[ItemResult], run: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(json_document(results, run), indent=1, ensure_ascii=False) + "\n")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    """Write atomically: a reader never sees half a file, and a failed write keeps the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # mkstemp makes the file 0600; a report is an ordinary file, readable as the umask allows.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
