"""The progress bar: drawn on a terminal below pytest's line and erased; never in captured or piped output."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.cells import cell_len

from pytest_vlm.reports.progress import ProgressBar, render_line

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.mark.parametrize("width", [40, 80, 200])
def test_line_fits_the_terminal_and_says_how_far(width: int) -> None:
    line = render_line("shapes[tiny-shapes-closed_set]", 12, 40, 3.0, width=width, color=True)
    plain = ANSI.sub("", line)
    assert "\n" not in line and cell_len(plain) <= width
    assert "12/40 prompts 4.0/s 0:03" in plain
    assert ("shapes[tiny-shapes-closed_set]" if width >= 80 else "sha…") in plain  # the name gives way first
    assert "\x1b[" not in render_line("x", 1, None, 1.0, width=width, color=False)
    assert "1 prompts" in render_line("x", 1, None, 1.0, width=width, color=False)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bar_waits_then_draws_below_and_erases_back_to_pytests_column() -> None:
    clock, written = Clock(), []
    bar = ProgressBar("item", write=written.append, column=lambda: 27, width=60, color=False, after=2.0, clock=clock)
    bar.update(10, 100)
    clock.now += 1.9
    bar.update(20, 100)
    assert written == [] and not bar.shown  # short items never show a bar
    clock.now += 0.2
    bar.update(30, 100)
    assert written[0].startswith("\n") and "30/100 prompts" in written[0] and written[0].endswith("\x1b[K")
    bar.update(40, 100)  # within 0.1 s of the last redraw: skipped
    clock.now += 0.5
    bar.update(50, 100)
    assert len(written) == 2 and written[1].startswith("\r") and "50/100" in written[1]
    bar.close()
    assert written[2] == "\r\x1b[2K\x1b[1A\x1b[28G"  # erase, up one line, back to column 27
    bar.close()
    assert len(written) == 3


def test_a_bar_never_shown_writes_nothing_on_close() -> None:
    written: list[str] = []
    bar = ProgressBar("item", write=written.append, column=lambda: 0, width=60, color=False, after=5.0)
    bar.update(1, 2)
    bar.close()
    assert written == []


def test_runner_reports_every_request_up_to_the_plan(tmp_path: Path) -> None:
    from pytest_vlm.data.sources import load_dataset
    from pytest_vlm.models.resolve import resolve_model
    from pytest_vlm.models.scripted import ScriptedModel
    from pytest_vlm.runner import ItemPlan, run_item
    from pytest_vlm.spec import parse_spec

    path = tmp_path / "p.vlm.yaml"
    path.write_text(
        "dataset: {generated: shapes, count: 50, size: 32}\n"
        "classes: [circle, square, background]\nbackground: background\n"
        "strategies: {closed_set: {votes: 3, class_counts: [2, 3]}, binary: {}}\n"
    )
    spec = parse_spec(path)
    dataset = load_dataset(spec)
    for strategy, total in zip(
        spec.strategies, (50 * 3 + 3 * sum(ex.label != "square" for ex in dataset.examples), 100)
    ):
        plan = ItemPlan(spec, dataset, strategy, resolve_model("scripted:oracle", base_dir=tmp_path), 0)
        seen: list[tuple[int, int | None]] = []
        model = ScriptedModel("scripted:oracle", "oracle")
        run_item(plan, model, progress=lambda done, planned, seen=seen: seen.append((done, planned)))
        assert all(planned == total for _, planned in seen)
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)
        assert seen[-1][0] == model.calls  # every request counted, once
        assert model.calls <= total


SPEC = """
dataset: {generated: shapes, count: 300, size: 32}
classes: [circle, square, triangle, star, cross, heart, background]
background: background
models: [scripted:oracle]
snapshot: false
strategies: {closed_set: {votes: 3}}
"""


def test_non_tty_output_has_no_bar(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", p=SPEC)
    for run, args in (
        (pytester.runpytest_subprocess, ["-v"]),
        (pytester.runpytest, ["-n", "2"]),
    ):
        result = run("--vlm-progress-after", "0", "--vlm-no-cache", *args)
        result.assert_outcomes(passed=1)
        output = result.stdout.str() + result.stderr.str()
        assert "prompts" not in output and "\x1b[" not in output and "\r" not in output


def run_in_terminal(cwd: Path, *args: str) -> str:
    """Run pytest with its stdout on a pseudo-terminal, as a user's shell would; return what it drew."""
    primary, secondary = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100", "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                data = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    process.wait(30)
    os.close(primary)
    return b"".join(chunks).decode("utf-8", "replace")


def test_bar_renders_on_a_terminal_and_is_erased(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", p=SPEC)
    output = run_in_terminal(pytester.path, "--vlm-progress-after", "0", "--vlm-no-cache")
    assert "p[scripted:oracle-closed_set]" in ANSI.sub("", output) and "/900 prompts" in output
    assert "\x1b[2K\x1b[1A\x1b[" in output  # erased, cursor back on pytest's line
    assert "1 passed" in output
    # The bar sat below "p.vlm.yaml ", and pytest's dot followed on that line.
    after_erase = output.rsplit("\x1b[1A", 1)[1]
    assert re.match(r"\x1b\[\d+G\.", after_erase) or re.match(r"\x1b\[\d+G\x1b\[32m\.", after_erase)

    quiet = run_in_terminal(pytester.path, "--vlm-progress-after", "0", "--vlm-no-cache", "-q")
    assert "prompts" not in quiet and "1 passed" in quiet


@pytest.mark.parametrize(("value", "seconds"), [(None, 2.0), ("0", 0.0), ("0.5", 0.5), ("off", None), ("OFF", None)])
def test_progress_option_values(pytester: pytest.Pytester, value: str | None, seconds: float | None) -> None:
    from pytest_vlm.state import OPTIONS_KEY

    config = pytester.parseconfigure(*(["--vlm-progress-after", value] if value else []))
    assert config.stash[OPTIONS_KEY].progress_after == seconds
    pytester.makeini("[pytest]\nvlm_progress_after = off\n")
    assert pytester.parseconfigure().stash[OPTIONS_KEY].progress_after is None


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_bad_progress_option_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    result = pytester.runpytest("--vlm-progress-after", value)
    result.stderr.fnmatch_lines(
        [f"*--vlm-progress-after / vlm_progress_after: expected seconds (a number >= 0) or 'off', got '{value}'"]
    )
    assert result.ret == 4
