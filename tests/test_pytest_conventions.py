"""pytest's everyday options on benchmark items: --lf, --ff, --sw, --deselect, node ids, rootdir.

The items' node ids look parametrized (``shapes.vlm.yaml::shapes[scripted:noisy-binary]``); pytest 9
parses that bracket as parameters when it compares ids, so these run on pytest 8 and 9 (tox).
"""

from __future__ import annotations

import re
from pathlib import Path

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


# --- the short test summary says why ----------------------------------------------------------

GATED = SPEC.replace("snapshot: false\n", "").replace(
    "scripted:noisy]", "scripted:noisy]\nbaseline: {max_flip_rate: 0.1}"
)


def flip_baseline(pytester: pytest.Pytester, images: int) -> None:
    """Hand-edit the oracle's closed-set baseline so that ``images`` of its predictions differ."""
    path = pytester.path / "__vlm_snapshots__" / "shapes" / "scripted-oracle" / "closed_set.json"
    path.write_text(path.read_text().replace('"prediction": "circle"', '"prediction": "star"', images))


@pytest.mark.parametrize("xdist", XDIST)
def test_short_summary_gives_the_failed_threshold(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, xdist: list[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    result = pytester.runpytest("-k", "noisy", *xdist)
    for strategy in ("closed_set", "binary"):  # the order of xdist's reports varies
        result.stdout.fnmatch_lines(
            [
                "*short test summary info*",
                f"FAILED shapes.vlm.yaml::shapes?scripted:noisy-{strategy}] - accuracy 0.714 < 0.9",
            ]
        )
    # the failure section still names the item, then the full report
    result.stdout.fnmatch_lines(
        ["accuracy 0.714 < 0.9", "shapes on scripted:noisy with binary:", "1 of 1 threshold(s)*"]
    )


def test_short_summary_gives_flips_and_missing_baselines(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    pytester.makefile(".vlm.yaml", shapes=SPEC.replace("snapshot: false\n", "").replace(">= 0.9", ">= 0.5"))
    missing = pytester.runpytest("-k", "oracle")
    missing.stdout.fnmatch_lines(["FAILED *?scripted:oracle-closed_set] - no baseline yet"])
    pytester.runpytest("-k", "oracle", "--vlm-update-snapshots").assert_outcomes(passed=2)
    flip_baseline(pytester, 3)
    flipped = pytester.runpytest("-k", "oracle")
    flipped.assert_outcomes(passed=1, failed=1)
    flipped.stdout.fnmatch_lines(["FAILED *?scripted:oracle-closed_set] - 3 images flipped"])


def test_short_summary_names_the_failed_baseline_gate(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    pytester.makefile(".vlm.yaml", shapes=GATED.replace(">= 0.9", ">= 0.5"))
    pytester.runpytest("-k", "oracle", "--vlm-update-snapshots").assert_outcomes(passed=2)
    flip_baseline(pytester, 1)  # 1 of 21 images: within max_flip_rate 0.1
    pytester.runpytest("-k", "oracle").assert_outcomes(passed=2)
    flip_baseline(pytester, 3)  # 3 of 21: over it
    result = pytester.runpytest("-k", "oracle")
    result.stdout.fnmatch_lines(["FAILED *?scripted:oracle-closed_set] - 3 images flipped (max_flip_rate failed)"])


def test_model_errors_keep_their_own_first_line(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    pytester.makefile(
        ".vlm.yaml", shapes=SPEC.replace("[scripted:oracle, scripted:noisy]", "[openai:served@http://127.0.0.1:9]")
    )
    result = pytester.runpytest("-k", "closed_set", "--vlm-api-retries", "0", "--vlm-no-cache")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["FAILED *?openai:served-closed_set] - model openai:served: http://127.0.0.1:9 failed 1 attempt(s), *"]
    )


# --- syrupy's summary line agrees with ours -----------------------------------------------------


@pytest.fixture
def syrupy_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """syrupy prints its summary only outside xdist workers, which it tells by PYTEST_XDIST_WORKER:
    when this suite itself runs under xdist, the in-process run inherits it and stays silent."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


@pytest.mark.usefixtures("syrupy_reports")
@pytest.mark.parametrize("xdist", XDIST)
def test_a_missing_baseline_is_not_a_failed_snapshot(pytester: pytest.Pytester, xdist: list[str]) -> None:
    pytester.makefile(".vlm.yaml", shapes=GATED.replace(">= 0.9", ">= 0.5"))
    result = pytester.runpytest("-k", "oracle", *xdist)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["no baseline yet for scripted:oracle on shapes / closed_set *"])
    result.stdout.no_fnmatch_line("*snapshot*failed*")  # syrupy says nothing: it was never asked
    recorded = pytester.runpytest("-k", "oracle", "--vlm-update-snapshots", *xdist)
    recorded.assert_outcomes(passed=2)
    recorded.stdout.fnmatch_lines(["2 snapshots generated."])


@pytest.mark.usefixtures("syrupy_reports")
@pytest.mark.parametrize("xdist", XDIST)
def test_a_change_within_the_baseline_gates_is_a_passed_snapshot(pytester: pytest.Pytester, xdist: list[str]) -> None:
    pytester.makefile(".vlm.yaml", shapes=GATED.replace(">= 0.9", ">= 0.5"))
    pytester.runpytest("-k", "oracle", "--vlm-update-snapshots").assert_outcomes(passed=2)
    flip_baseline(pytester, 1)
    within = pytester.runpytest("-k", "oracle", *xdist)
    within.assert_outcomes(passed=2)
    within.stdout.fnmatch_lines(["2 snapshots passed.", "*scripted:oracle*closed_set*passed*1 flipped*"])
    within.stdout.no_fnmatch_line("*snapshot*failed*")
    flip_baseline(pytester, 3)
    outside = pytester.runpytest("-k", "oracle", *xdist)
    outside.assert_outcomes(passed=1, failed=1)
    outside.stdout.fnmatch_lines(["1 snapshot failed. 1 snapshot passed."])


# --- a model folder after --vlm-model does not move the rootdir ---------------------------------


@pytest.fixture
def other_project(pytester: pytest.Pytester) -> Path:
    """A checkpoint folder inside another project (with its own pytest config), beside the tests."""
    other = pytester.path.parent / f"{pytester.path.name}-other"
    (other / "ckpt").mkdir(parents=True)
    (other / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nmarkers = ["other: a marker of the other project"]\n'
    )
    (other / "ckpt" / "config.json").write_text("{}")
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    pytester.makeini("[pytest]\n")
    return other / "ckpt"


def test_a_separate_model_folder_is_refused_before_it_moves_the_rootdir(
    pytester: pytest.Pytester, other_project: Path
) -> None:
    result = pytester.runpytest_subprocess("--co", "--vlm-model", str(other_project))  # torch: see below
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --vlm-model {other_project}: pytest took {other_project} for a test path while choosing its "
            f"rootdir (before pytest-vlm could read its options), so this run is rooted at {other_project.parent} "
            f"(ini file: {other_project.parent / 'pyproject.toml'}) instead of your tests' project. "
            f"Write --vlm-model={other_project} (one argument, with '='), or name your ini file with -c."
        ]
    )
    assert not (other_project.parent / ".pytest_cache").exists()


def test_model_folders_that_leave_the_rootdir_alone_pass(pytester: pytest.Pytester, other_project: Path) -> None:
    (pytester.path / "ckpt").mkdir()
    (pytester.path / "ckpt" / "config.json").write_text("{}")
    for args in (
        [f"--vlm-model={other_project}"],  # one argument: never a path to pytest
        ["--vlm-model", str(other_project), "-c", "tox.ini"],  # the ini file, so the rootdir, given
        ["--vlm-model", "ckpt"],  # inside the tests' folder
    ):
        # In a subprocess: reading a checkpoint folder imports torch, which one process imports only once.
        result = pytester.runpytest_subprocess("--co", "-p", "no:cacheprovider", *args)
        result.stdout.fnmatch_lines([f"rootdir: {pytester.path}"])
        assert "took" not in result.stderr.str()
