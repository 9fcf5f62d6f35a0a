"""End to end: pytest runs on written ``.vlm.yaml`` files, in-process and with ``-n 2``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SHAPES_SPEC = """
dataset:
  generated: shapes
  count: 21
  seed: 7
classes: [circle, square, triangle, star, cross, heart, background]
background: background
models: [scripted:oracle, scripted:noisy]
strategies:
  closed_set:
    votes: 3
  binary: {}
thresholds:
  accuracy: ">= {threshold}"
"""

XDIST = [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist")]


def write_spec(pytester: pytest.Pytester, name: str = "shapes", threshold: float = 0.0, **replace: str) -> Path:
    text = SHAPES_SPEC.replace("{threshold}", str(threshold))
    for old, new in replace.items():
        text = text.replace(old, new)
    return pytester.makefile(".vlm.yaml", **{name: text})


def snapshot_file(pytester: pytest.Pytester, model: str, strategy: str, benchmark: str = "shapes") -> Path:
    return pytester.path / "__vlm_snapshots__" / benchmark / model.replace(":", "-") / f"{strategy}.json"


@pytest.fixture
def recorded(pytester: pytest.Pytester) -> pytest.Pytester:
    """A spec whose baselines for both scripted models are recorded."""
    write_spec(pytester)
    result = pytester.runpytest("--vlm-update-snapshots")
    result.assert_outcomes(passed=4)
    return pytester


@pytest.mark.parametrize("xdist", XDIST)
def test_thresholds_pass_and_table(pytester: pytest.Pytester, xdist: list[str]) -> None:
    write_spec(pytester, threshold=0.5)
    result = pytester.runpytest("--vlm-model", "scripted:oracle", "--vlm-update-snapshots", *xdist)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*pytest-vlm summary*",
            "shapes (21 images)",
            "*model*strategy*accuracy*",
            "*scripted:oracle*binary*1.000*1.000*1.000*passed*recorded*",
            "*scripted:oracle*closed_set*1.000*1.000*1.000*passed*recorded*",
        ]
    )
    assert result.ret == 0


@pytest.mark.parametrize("xdist", XDIST)
def test_threshold_failure_report(recorded: pytest.Pytester, xdist: list[str]) -> None:
    write_spec(recorded, threshold=0.9)
    result = recorded.runpytest("-k", "noisy and closed_set", *xdist)
    result.assert_outcomes(failed=1, deselected=0 if xdist else 3)  # xdist workers deselect silently
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*shapes on scripted:noisy with closed_set:",
            "1 of 1 threshold(s) failed on 21 images:",
            "*metric*value*threshold*margin",
            "*accuracy*0.7143*>= 0.9*-0.1857*FAIL",
            "worst confusions (true -> predicted: images): *<unparseable>*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("xdist", XDIST)
def test_snapshot_lifecycle(pytester: pytest.Pytester, xdist: list[str]) -> None:
    write_spec(pytester, **{"[scripted:oracle, scripted:noisy]": "[scripted:oracle]"})
    path = snapshot_file(pytester, "scripted:oracle", "closed_set")

    missing = pytester.runpytest(*xdist)
    missing.assert_outcomes(failed=2)
    missing.stdout.fnmatch_lines(
        [
            f"no baseline yet for scripted:oracle on shapes / closed_set (expected {path}).",
            "Record one with --vlm-update-snapshots once you have checked the results.",
        ]
    )
    assert not path.exists()

    pytester.runpytest("--vlm-update-snapshots", *xdist).assert_outcomes(passed=2)
    baseline = json.loads(path.read_text())
    assert baseline["circle-7-00000"] == {
        "label": "circle",
        "prediction": "circle",
        "answers": ["circle", "circle", "circle"],
    }

    matched = pytester.runpytest(*xdist)
    matched.assert_outcomes(passed=2)
    matched.stdout.fnmatch_lines(["*scripted:oracle*closed_set*passed*matched*"])

    # A flipped baseline entry: the run now disagrees with it on that one image.
    original = path.read_text()
    path.write_text(original.replace('"prediction": "circle"', '"prediction": "square"', 1))
    flipped = pytester.runpytest(*xdist)
    flipped.assert_outcomes(passed=1, failed=1)
    flipped.stdout.fnmatch_lines(
        [
            "predictions differ from the baseline:",
            "1 image(s) changed prediction (0 now wrong, 1 now right):",
            "  circle-7-00000: square -> circle (true: circle)  (was wrong, now right)",
            f"baseline: {path}",
            "If the change is intended, accept it with --vlm-update-snapshots.",
        ]
    )
    flipped.stdout.fnmatch_lines(["*scripted:oracle*closed_set*failed*1 flipped*"])

    pytester.runpytest("--vlm-update-snapshots", *xdist).assert_outcomes(passed=2)
    assert path.read_text() == original
    pytester.runpytest(*xdist).assert_outcomes(passed=2)


@pytest.mark.parametrize("xdist", XDIST)
def test_update_one_model_keeps_the_other(recorded: pytest.Pytester, xdist: list[str]) -> None:
    noisy = {s: snapshot_file(recorded, "scripted:noisy", s).read_text() for s in ("binary", "closed_set")}
    # A run restricted to one model passes: the other model's baselines are not "unused".
    only_oracle = recorded.runpytest("--vlm-model", "scripted:oracle", *xdist)
    only_oracle.assert_outcomes(passed=2)
    assert only_oracle.ret == 0

    # Refreshing one model's baseline leaves the other's byte for byte.
    oracle_path = snapshot_file(recorded, "scripted:oracle", "closed_set")
    oracle = oracle_path.read_text()
    oracle_path.write_text(oracle.replace('"prediction": "star"', '"prediction": "heart"', 1))
    updated = recorded.runpytest("--vlm-model", "scripted:oracle", "--vlm-update-snapshots", *xdist)
    updated.assert_outcomes(passed=2)
    assert oracle_path.read_text() == oracle
    for strategy, text in noisy.items():
        assert snapshot_file(recorded, "scripted:noisy", strategy).read_text() == text

    # Also with syrupy's own --snapshot-update, which deletes snapshots it thinks are unused.
    recorded.runpytest("--vlm-model", "scripted:oracle", "--snapshot-update", *xdist).assert_outcomes(passed=2)
    for strategy, text in noisy.items():
        assert snapshot_file(recorded, "scripted:noisy", strategy).read_text() == text
    recorded.runpytest(*xdist).assert_outcomes(passed=4)


def test_selection_by_benchmark_model_and_strategy(recorded: pytest.Pytester) -> None:
    write_spec(recorded, name="other", **{"seed: 7": "seed: 8"})
    recorded.runpytest("--vlm-update-snapshots").assert_outcomes(passed=8)
    ids = recorded.runpytest("--collect-only", "-q").stdout.lines
    assert "shapes.vlm.yaml::shapes[scripted:oracle-closed_set]" in ids
    assert "other.vlm.yaml::other[scripted:noisy-binary]" in ids
    recorded.runpytest("-k", "other").assert_outcomes(passed=4, deselected=4)
    recorded.runpytest("-k", "scripted:noisy").assert_outcomes(passed=4, deselected=4)
    recorded.runpytest("-k", "binary and oracle").assert_outcomes(passed=2, deselected=6)
    recorded.runpytest("-m", "vlm").assert_outcomes(passed=8)


def test_json_report(recorded: pytest.Pytester) -> None:
    result = recorded.runpytest("--vlm-json", "out/results.json", "-n", "2")
    result.assert_outcomes(passed=4)
    out = recorded.path / "out" / "results.json"
    result.stdout.fnmatch_lines([f"pytest-vlm: wrote {out}"])
    document = json.loads(out.read_text())
    assert document["version"] == 2
    rows = {(r["model"], r["strategy"]): r for r in document["results"]}
    assert set(rows) == {(m, s) for m in ("scripted:oracle", "scripted:noisy") for s in ("closed_set", "binary")}
    closed = rows["scripted:noisy", "closed_set"]
    assert closed["status"] == "passed" and closed["snapshot"] == "matched"
    assert closed["metrics"]["n"] == 21
    assert closed["metrics"]["calls_per_image"] == 3
    assert set(closed["metrics"]["per_class"]["circle"]) == {"precision", "recall", "f1", "support"}
    wrong = sum(1 for p in closed["predictions"] if p["prediction"] != p["label"])
    assert closed["metrics"]["accuracy"] == pytest.approx(1 - wrong / 21)
    first = closed["predictions"][0]
    assert set(first) == {"image_id", "label", "prediction", "asked", "raw", "parsed"}
    assert len(first["raw"]) == 3
    assert closed["checks"] == [
        {
            "metric": "accuracy",
            "threshold": ">= 0",
            "value": closed["metrics"]["accuracy"],
            "margin": closed["metrics"]["accuracy"],
            "passed": True,
        }
    ]


def test_junitxml(recorded: pytest.Pytester) -> None:
    recorded.runpytest("--junitxml", "junit.xml", "-n", "2").assert_outcomes(passed=4)
    cases = ET.parse(recorded.path / "junit.xml").getroot().iter("testcase")
    assert sorted(c.get("name") for c in cases) == [
        "shapes[scripted:noisy-binary]",
        "shapes[scripted:noisy-closed_set]",
        "shapes[scripted:oracle-binary]",
        "shapes[scripted:oracle-closed_set]",
    ]


def test_each_model_loads_once_per_worker(recorded: pytest.Pytester) -> None:
    recorded.makeconftest(
        """
        import os
        import pytest_vlm.models.pool as pool

        _load = pool.load_model

        def counting_load(spec, runtime):
            with open("loads.txt", "a") as f:
                f.write(f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')} {spec.name}\\n")
            return _load(spec, runtime)

        pool.load_model = counting_load
        """
    )
    write_spec(recorded, name="other", **{"seed: 7": "seed: 8"})
    recorded.runpytest("--vlm-update-snapshots", "-n", "2").assert_outcomes(passed=8)
    loads = (recorded.path / "loads.txt").read_text().splitlines()
    assert len(loads) == len(set(loads))  # no (worker, model) pair loaded twice
    assert {line.split()[1] for line in loads} == {"scripted:oracle", "scripted:noisy"}


def test_module_scoped_autouse_fixture(recorded: pytest.Pytester) -> None:
    recorded.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="module", autouse=True)
        def per_spec_file(request):
            request.config.stash.setdefault(pytest.StashKey(), None)
            yield
        """
    )
    recorded.runpytest().assert_outcomes(passed=4)


def test_ini_options(pytester: pytest.Pytester) -> None:
    write_spec(pytester, name="bench", **{"models: [scripted:oracle, scripted:noisy]\n": ""})
    (pytester.path / "bench.vlm.yaml").rename(pytester.path / "bench.benchmark.yml")
    pytester.makeini("[pytest]\nvlm_models = scripted:oracle\nvlm_files = *.benchmark.yml\n")
    result = pytester.runpytest("--collect-only", "-q")
    assert "bench.benchmark.yml::bench.benchmark[scripted:oracle-closed_set]" in result.stdout.lines


def test_default_model_is_the_embedded_one(pytester: pytest.Pytester) -> None:
    write_spec(pytester, **{"models: [scripted:oracle, scripted:noisy]\n": ""})
    result = pytester.runpytest("--collect-only", "-q")
    assert "shapes.vlm.yaml::shapes[tiny-shapes-closed_set]" in result.stdout.lines


def test_list_models(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--vlm-list-models")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "alias*backend*hub id / source*remote code*notes",
            "tiny-shapes*hf*<embedded with pytest-vlm>*no*(default)*",
            "tiny-shapes-classifier*classifier*<embedded with pytest-vlm>*no*embedded tiny ResNet*",
            "qwen2-vl-2b*hf*Qwen/Qwen2-VL-2B-Instruct*",
            "qwen2-vl-7b*hf*Qwen/Qwen2-VL-7B-Instruct*",
        ]
    )


# --- bad input: each error names the file/key/image and says what to do, without a traceback ---


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("dataset: [unclosed\n", "bad.vlm.yaml: invalid YAML (line 1, column 19): *but got*"),
        (
            "dataset: {generated: shapes, count: 6}\nstrategies: [closed_set]\nthreshold: {}\n",
            "bad.vlm.yaml: threshold: unknown key (did you mean 'thresholds'?); allowed keys: *",
        ),
        (
            "dataset: {folder: nowhere}\nstrategies: [closed_set]\n",
            "bad.vlm.yaml: dataset.folder: */nowhere is not a folder; give a folder with one sub-folder per class",
        ),
        (
            "dataset: {generated: shapes, count: 6}\nstrategies: [closed_set]\nmodels: [qwen2-vl-7bb]\n",
            "bad.vlm.yaml: models[[]0[]]: unknown model 'qwen2-vl-7bb' (did you mean 'qwen2-vl-7b'?)*",
        ),
        (
            "dataset: {generated: shapes, count: 6}\nstrategies: [closed_set]\nmodels: [./missing-model]\n",
            "bad.vlm.yaml: models[[]0[]]: model folder */missing-model does not exist*",
        ),
        (
            "dataset: {generated: shapes, count: 6}\nstrategies:\n  binary: {order: [circle]}\n",
            "bad.vlm.yaml: strategies.binary: 'order' must list every class except the background exactly once*",
        ),
    ],
)
def test_collection_errors(pytester: pytest.Pytester, spec: str, message: str) -> None:
    pytester.makefile(".vlm.yaml", bad=spec)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting bad.vlm.yaml*", message])
    assert "Traceback" not in result.stdout.str()


def test_manifest_errors_name_the_row(pytester: pytest.Pytester) -> None:
    pytester.makefile(".csv", labels="image,label\nimg/cat.png,cat\n")
    pytester.makefile(".vlm.yaml", bad="dataset: {manifest: labels.csv}\nstrategies: [closed_set]\n")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [f"labels.csv line 2: image img/cat.png not found (looked at {pytester.path}/img/cat.png)"]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--vlm-model", "qwen2vl-7b"],
            "ERROR: --vlm-model: unknown model 'qwen2vl-7b' (did you mean 'qwen2-vl-7b'?)*",
        ),
        (["--vlm-model", "./no/such/folder"], "ERROR: --vlm-model: model folder */no/such/folder does not exist*"),
        (["--vlm-batch-size", "zero"], "ERROR: --vlm-batch-size / vlm_batch_size: expected an integer, got 'zero'"),
        (["--vlm-batch-size", "0"], "ERROR: --vlm-batch-size / vlm_batch_size: must be >= 1, got 0"),
    ],
)
def test_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    write_spec(pytester)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
