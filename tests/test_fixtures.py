"""The shared example data in fixtures/: what make_fixtures.py writes, and the example specs run end to end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES
from PIL import Image

from pytest_vlm.data.sources import load_dataset
from pytest_vlm.spec import parse_spec


def make_fixtures():  # fixtures/ is data, not a package: load its script by path
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_files_are_what_make_fixtures_writes() -> None:
    expected = make_fixtures().expected_files()
    committed = {
        str(p.relative_to(FIXTURES)): p
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.parent.name != "specs" and p.suffix in {".jpg", ".csv", ".jsonl"}
    }
    assert sorted(committed) == sorted(expected)
    for name, data in expected.items():
        if name.endswith(".jpg"):
            # JPEG bytes vary with the libjpeg build; the pixels must not (beyond encoder rounding).
            import io

            ours = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float)
            theirs = np.asarray(Image.open(committed[name]).convert("RGB"), dtype=float)
            assert ours.shape == theirs.shape == (64, 64, 3)
            assert np.abs(ours - theirs).mean() < 2.0, name
        else:
            assert committed[name].read_bytes() == data, name


@pytest.mark.parametrize("spec_name", ["caltech-mini", "manifest-csv", "manifest-jsonl"])
def test_every_example_spec_lists_the_same_28_images(example_data: Path, spec_name: str) -> None:
    dataset = load_dataset(parse_spec(example_data / "specs" / f"{spec_name}.vlm.yaml"))
    assert dataset.classes == ("circle", "square", "triangle", "star", "cross", "heart", "background")
    assert len(dataset.examples) == 28
    assert {ex.label for ex in dataset.examples} == set(dataset.classes)
    assert all(ex.load().size == (64, 64) for ex in dataset.examples[:3])


def test_example_specs_record_then_pass_on_the_embedded_model(pytester: pytest.Pytester, example_data: Path) -> None:
    specs = example_data / "specs"
    first = pytester.runpytest_subprocess(str(specs), "-p", "no:cacheprovider", "--vlm-no-cache")
    first.assert_outcomes(failed=4)  # no baseline yet: a missing baseline fails until it is recorded
    first.stdout.fnmatch_lines(
        ["no baseline yet for tiny-shapes on caltech-mini / closed_set*", "Record one with --vlm-update-snapshots*"]
    )
    recorded = pytester.runpytest_subprocess(str(specs), "--vlm-update-snapshots", "--vlm-no-cache")
    recorded.assert_outcomes(passed=4)
    assert len(list((specs / "__vlm_snapshots__").rglob("*.json"))) == 4
    for workers in ([], ["-n", "2"]):
        again = pytester.runpytest_subprocess(str(specs), "--vlm-no-cache", *workers)
        again.assert_outcomes(passed=4)
        again.stdout.fnmatch_lines(["*tiny-shapes*closed_set*0.929*passed*"])
