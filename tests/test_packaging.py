"""The embedded model ships inside the package, so it works from any project that installs it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from pytest_vlm.models.aliases import ALIASES, TINY_SHAPES_CLASSIFIER_DIR, TINY_SHAPES_DIR

REPO = Path(__file__).resolve().parent.parent


def test_tiny_shapes_lives_in_the_package() -> None:
    assert ALIASES["tiny-shapes"].source == str(TINY_SHAPES_DIR)
    assert TINY_SHAPES_DIR.parent == REPO / "pytest_vlm" / "tiny"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "processor_config.json"):
        assert (TINY_SHAPES_DIR / name).is_file(), name


def test_wheel_contains_the_embedded_model_and_entry_point(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("pytest_vlm-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"pytest_vlm/tiny/tiny-shapes/{p.name}" for p in TINY_SHAPES_DIR.iterdir() if p.is_file()}
    assert shipped <= names
    classifier = {f"pytest_vlm/tiny/tiny-shapes-classifier/{p.name}" for p in TINY_SHAPES_CLASSIFIER_DIR.iterdir()}
    assert len(classifier) == 4 and classifier <= names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "[pytest11]\nvlm = pytest_vlm.plugin" in zipfile.ZipFile(wheel).read(entry_points).decode()
