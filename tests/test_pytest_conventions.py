"""pytest's everyday options on benchmark items: --lf, --ff, --sw, --deselect, node ids, rootdir.

The items' node ids look parametrized (``shapes.vlm.yaml::shapes[scripted:noisy-binary]``); pytest 9
parses that bracket as parameters when it compares ids, so these run on pytest 8 and 9 (tox).
"""

from __future__ import annotations

import re

import pytest

SPEC = """
dataset: {generated: shapes, count: 21, seed: 7}
classes: [circle, square, triangle, star, cross, heart, background]
background: background
models: [scripted:oracle, scripted:noisy]
strategies:
  closed_set: {votes: 3}
  binary: {}
thresholds: {accuracy: ">= 0.9"}
snapshot: false
"""

ORACLE = ["shapes.vlm.yaml::shapes[scripted:oracle-closed_set]", "shapes.vlm.yaml::shapes[scripted:oracle-binary]"]
NOISY = ["shapes.vlm.yaml::shapes[scripted:noisy-closed_set]", "shapes.vlm.yaml::shapes[scripted:noisy-binary]"]
XDIST = [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist")]


@pytest.fixture
def failed_once(pytester: pytest.Pytester) -> pytest.Pytester:
    """A spec where scripted:noisy fails its threshold and scripted:oracle passes, run once."""
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2, failed=2)
    return pytester


def ran(result: pytest.RunResult) -> list[str]:
    """Node ids in the order they ran, from -v lines (``<id> PASSED [ 25%]``; with xdist,
    ``[gw0] [ 25%] PASSED <id>``)."""
    serial = re.compile(r"^(\S+::\S+) (?:PASSED|FAILED)")
    xdist = re.compile(r"^\[gw\d+\] \[ *\d+%\] (?:PASSED|FAILED) (\S+::\S+)")
    return [m.group(1) for line in result.stdout.lines if (m := serial.match(line) or xdist.match(line))]


def test_collected_ids_select_exactly_their_item(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    ids = [line for line in pytester.runpytest("--co", "-q").stdout.lines if "::" in line]
    assert ids == ORACLE + NOISY
    for nodeid in ids:
        result = pytester.runpytest("--co", "-q", nodeid)
        assert [line for line in result.stdout.lines if "::" in line] == [nodeid]


@pytest.mark.parametrize("xdist", XDIST)
def test_last_failed_reruns_only_the_failures(failed_once: pytest.Pytester, xdist: list[str]) -> None:
    result = failed_once.runpytest("--lf", "-v", "-p", "no:randomly", *xdist)
    if not xdist:  # the controller of an xdist run does not print it
        result.stdout.fnmatch_lines(["run-last-failure: rerun previous 2 failures"])
    result.assert_outcomes(failed=2)
    assert sorted(ran(result)) == sorted(NOISY)


def test_failed_first_runs_the_failures_first(failed_once: pytest.Pytester) -> None:
    result = failed_once.runpytest("--ff", "-v", "-p", "no:randomly")
    result.stdout.fnmatch_lines(["run-last-failure: rerun previous 2 failures first"])
    assert ran(result) == NOISY + ORACLE


def test_stepwise_resumes_at_the_failing_item(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    first = pytester.runpytest("--sw", "-v", "-p", "no:randomly")
    assert ran(first) == ORACLE + NOISY[:1]  # stops at the first failure
    second = pytester.runpytest("--sw", "-v", "-p", "no:randomly")
    second.stdout.fnmatch_lines(["stepwise: skipping 2 already passed items*"])
    assert ran(second) == NOISY[:1]


def test_deselect_takes_a_collected_id(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    result = pytester.runpytest("--deselect", NOISY[1], "--deselect", ORACLE[0], "-v", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1, deselected=2)
    assert ran(result) == ORACLE[1:] + NOISY[:1]
