"""The progress bar: drawn on a terminal below pytest's line and erased; never in captured or piped output."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from rich.cells import cell_len

from pytest_vlm.reports.progress import ProgressBar, ProgressState

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("width", [40, 80, 200])
def test_line_fits_the_terminal_and_says_how_far(width: int) -> None:
    clock = Clock()
    state = ProgressState("shapes[tiny-shapes-closed_set]", clock)
    state.update(0, 40)
    for done in (3, 6, 9, 12):
        clock.now += 1.0
        state.update(done, 40)
    line = state.render(width=width, color=True)
    plain = ANSI.sub("", line)
    assert "\n" not in line and cell_len(plain) <= width
    # rich's conventions: done/total, rate, elapsed h:mm:ss, ETA h:mm:ss.
    assert "12/40 prompts 3.0/s 0:00:04 ETA 0:00:" in plain
    if width >= 80:
        assert plain.endswith("ETA 0:00:10") and cell_len(plain) == width  # the whole width
    assert ("shapes[tiny-shapes-closed_set]" if width >= 200 else "…") in plain  # the name gives way first
    assert "\x1b[" not in state.render(width=width, color=False)
    assert "0/? prompts -/s" in ProgressState("x", clock).render(width=width, color=False)


def test_bar_waits_then_draws_below_and_erases_back_to_pytests_column() -> None:
    clock, written = Clock(), []
    bar = ProgressBar(
        "item", write=written.append, column=lambda: 27, width=lambda: 60, color=False, after=2.0, clock=clock
    )
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
    bar = ProgressBar("item", write=written.append, column=lambda: 0, width=lambda: 60, color=False, after=5.0)
    bar.update(1, 2)
    bar.close()
    assert written == []


def test_the_clock_redraws_between_answers() -> None:
    clock, written = Clock(), []
    bar = ProgressBar(
        "item",
        write=written.append,
        column=lambda: 0,
        width=lambda: 100,
        color=False,
        after=2.0,
        clock=clock,
        tick=0.01,
    ).start()
    try:
        bar.update(0, 50)  # the plan is known; no answer yet (a slow first batch, or the model loading)
        clock.now += 2.5
        deadline = time.monotonic() + 10
        while not written and time.monotonic() < deadline:
            time.sleep(0.01)
        assert written and "0/50 prompts -/s 0:00:02" in written[0]  # shown on time, without an answer
        clock.now += 60
        while len(written) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "0/50 prompts -/s 0:01:02" in written[-1]  # the elapsed time keeps moving
    finally:
        bar.close()
    count = len(written)
    clock.now += 60
    time.sleep(0.05)
    assert len(written) == count and written[-1].startswith("\r\x1b[2K")  # stopped and erased


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


def run_in_terminal(cwd: Path, *args: str, columns: int | None = None) -> str:
    """Run pytest with its stdout on a pseudo-terminal, as a user's shell would; return what it drew.
    With ``columns``, the terminal has that size and COLUMNS is unset, as in a user's shell."""
    primary, secondary = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100", "PYTHONPATH": os.pathsep.join(sys.path)}
    if columns is not None:
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        env.pop("COLUMNS")
        env.pop("LINES", None)
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


# The first model call takes 3.5 s, as a first batch (or a model still loading) might.
SLOW_FIRST_CALL = """
import time
import pytest
from pytest_vlm.models.scripted import ScriptedModel

@pytest.fixture(autouse=True)
def slow_first_call(monkeypatch):
    original = ScriptedModel.generate
    calls = []
    def generate(self, requests):
        if not calls:
            time.sleep(3.5)
        calls.append(len(requests))
        return original(self, requests)
    monkeypatch.setattr(ScriptedModel, "generate", generate)
"""


def test_bar_shows_on_time_moves_between_answers_and_fills_the_terminal(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", p=SPEC)
    pytester.makeconftest(SLOW_FIRST_CALL)
    output = run_in_terminal(pytester.path, "--vlm-progress-after", "0.5", "--vlm-no-cache", columns=132)
    assert "1 passed" in output
    lines = [ANSI.sub("", line) for line in re.split(r"[\r\n]", output) if "prompts" in line]
    # Before the first answer came back, the bar was up with the plan and the clock moved.
    waiting = [line for line in lines if " 0/900 prompts" in line]
    assert len({re.search(r"prompts \S+ (\d+:\d\d:\d\d)", line).group(1) for line in waiting}) >= 3
    # rich's conventions, across the terminal's real width (not the 80 columns of pytest's capture).
    assert all(re.search(r"\d+/900 prompts \S+/s \d:\d\d:\d\d ETA", line) for line in lines)
    assert max(cell_len(line) for line in lines) == 131
    assert any("p[scripted:oracle-closed_set]" in line for line in lines)
