"""Baseline files and benchmark names never collide (issue 12.3, 13.10).

Each pair below once mapped to one snapshot file or one report row, so one baseline silently
overwrote or stood in for another; now paths are injective and stay in their folder, and the
collisions names cannot avoid are refused at collection with a message saying how to part them.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pytest_vlm.baseline.snapshots import SNAPSHOT_DIRNAME, snapshot_path

SPEC = """
dataset:
  generated: shapes
  count: 14
  seed: 1
classes: [circle, square, triangle, star, cross, heart, background]
background: background
strategies:
  closed_set:
    votes: 1
"""

NAMES = ["team:a", "team-a", "team/a", "team%3Aa", "кошка", "собака", "猫", "狗", "..", ".", ".a", "%2E.", "a b", "a-b"]


def test_snapshot_paths_are_injective_and_stay_in_their_folder(tmp_path: Path) -> None:
    root = tmp_path / SNAPSHOT_DIRNAME
    paths = {}
    for benchmark, model, strategy in itertools.product(["cats", ".."], NAMES, ["closed_set", ".."]):
        path = snapshot_path(tmp_path, benchmark, model, strategy)
        assert path.resolve().is_relative_to(root.resolve()), path
        assert len(path.relative_to(root).parts) == 3
        paths.setdefault(path, (benchmark, model, strategy))
    assert len(paths) == 2 * len(NAMES) * 2  # no two triples share a file


def test_safe_names_keep_their_readable_file_names(tmp_path: Path) -> None:
    assert snapshot_path(tmp_path, "cats", "tiny-shapes", "bin.v2+x").relative_to(tmp_path).parts == (
        SNAPSHOT_DIRNAME,
        "cats",
        "tiny-shapes",
        "bin.v2+x.json",
    )
    assert snapshot_path(tmp_path, "cats", "scripted:oracle", "closed_set").parent.name == "scripted%3Aoracle"
    assert snapshot_path(tmp_path, "cats", "..", "closed_set").parent.name == "%2E."


def aliases(pytester: pytest.Pytester, names: dict[str, str]) -> None:
    lines = ["models:"] + [f"  {name!r}: {{backend: scripted, source: {source}}}" for name, source in names.items()]
    pytester.makefile(".yaml", **{"vlm-models": "\n".join(lines) + "\n"})


def test_models_named_apart_only_by_punctuation_keep_their_own_baselines(pytester: pytest.Pytester) -> None:
    aliases(pytester, {"team:a": "oracle", "team-a": "noisy"})
    pytester.makefile(".vlm.yaml", shapes=SPEC + "models: ['team:a', team-a]\n")
    pytester.runpytest("--vlm-update-snapshots").assert_outcomes(passed=2)
    files = sorted(p.relative_to(pytester.path).as_posix() for p in pytester.path.rglob("*.json"))
    assert files == [
        "__vlm_snapshots__/shapes/team%3Aa/closed_set.json",
        "__vlm_snapshots__/shapes/team-a/closed_set.json",
    ]
    pytester.runpytest().assert_outcomes(passed=2)  # each compared with its own, not the other's


def test_models_whose_names_differ_only_in_case_are_refused(pytester: pytest.Pytester) -> None:
    aliases(pytester, {"Team": "oracle", "team": "noisy"})
    pytester.makefile(".vlm.yaml", shapes=SPEC + "models: [Team, team]\n")
    result = pytester.runpytest("--co")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "shapes.vlm.yaml: models: shapes[team-closed_set] and shapes[Team-closed_set] have baselines whose "
            "paths differ only in letter case (__vlm_snapshots__/shapes/team/closed_set.json), one file on macOS "
            "and Windows; give the models or benchmarks names that differ by more than case"
        ]
    )


def checkpoint(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "qwen2_vl"}')


def test_two_checkpoints_with_one_folder_name_are_refused(pytester: pytest.Pytester) -> None:
    for run in "ab":
        checkpoint(pytester.path / "runs" / run / "checkpoint-500")
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    # In a subprocess: resolving checkpoint folders loads transformers, which once segfaulted in
    # the garbage collector of a second in-process run.
    result = pytester.runpytest_subprocess(
        "--co", "--vlm-model", "runs/a/checkpoint-500", "--vlm-model", "runs/b/checkpoint-500"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    a, b = (pytester.path / "runs" / run / "checkpoint-500" for run in "ab")
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --vlm-model: two models are both called 'checkpoint-500' ({a} and {b}); their items and "
            "baselines would be one. Name them apart with aliases in vlm-models.yaml, e.g. "
            f"models: {{checkpoint-500-a: {{source: {a}}}}}"
        ]
    )


def test_two_checkpoints_with_one_folder_name_in_a_spec_are_refused(pytester: pytest.Pytester) -> None:
    for run in "ab":
        checkpoint(pytester.path / "runs" / run / "checkpoint-500")
    pytester.makefile(".vlm.yaml", shapes=SPEC + "models: [runs/a/checkpoint-500, runs/b/checkpoint-500]\n")
    result = pytester.runpytest_subprocess("--co")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["shapes.vlm.yaml: models: two models are both called 'checkpoint-500' (*"])


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"a.vlm.yaml": SPEC, "a.vlm.yml": SPEC},
            "a.vlm.yml: name: benchmark name 'a' is also the name of a.vlm.yaml; reports and baselines are keyed "
            "by it, so give one of the two its own 'name:'",
        ),
        (
            {"a.vlm.yaml": SPEC, "b.vlm.yaml": SPEC + "name: a\n"},
            "b.vlm.yaml: name: benchmark name 'a' is also the name of a.vlm.yaml; *",
        ),
        (
            {"x/cats.vlm.yaml": SPEC, "y/cats.vlm.yaml": SPEC},
            "cats.vlm.yaml: name: benchmark name 'cats' is also the name of x/cats.vlm.yaml; *",
        ),
    ],
    ids=["yaml-and-yml", "same-name-key", "two-folders"],
)
def test_two_specs_with_one_benchmark_name_are_refused(
    pytester: pytest.Pytester, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (pytester.path / name).parent.mkdir(exist_ok=True)
        (pytester.path / name).write_text(text)
    result = pytester.runpytest("--vlm-model", "scripted:oracle", "--vlm-update-snapshots")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([message])


def test_a_benchmark_name_of_dots_stays_in_its_folder(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC + "name: ..\n")
    pytester.runpytest("--vlm-model", "scripted:oracle", "--vlm-update-snapshots").assert_outcomes(passed=1)
    (written,) = pytester.path.rglob("closed_set.json")
    assert written.relative_to(pytester.path).as_posix() == "__vlm_snapshots__/%2E./scripted%3Aoracle/closed_set.json"
