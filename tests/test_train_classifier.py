"""The classifier training script: same command, same weights; a card that says what was trained."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pytest_vlm.tiny import train_classifier

TINY = ["--steps", "3", "--pool-easy", "14", "--pool-medium", "14", "--batch", "8", "--eval-sets", "validation"]


def test_training_is_reproducible_and_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_classifier.main(["--out", str(tmp_path / "a"), *TINY]) == 0
    digest = hashlib.sha256((tmp_path / "a" / "model.safetensors").read_bytes()).hexdigest()
    card = (tmp_path / "a" / "MODEL_CARD.md").read_text()
    assert f"`model.safetensors` sha256: `{digest}`" in card
    assert f"--out {tmp_path / 'a'} --force --pool-easy 14 --pool-medium 14 --steps 3 --batch 8" in card
    assert "| validation (seed 1500, medium) |" in card

    assert train_classifier.main(["--out", str(tmp_path / "b"), "--check", digest, *TINY]) == 0
    capsys.readouterr()
    assert train_classifier.main(["--out", str(tmp_path / "c"), "--check", "0" * 64, "--seed", "1", *TINY]) == 1
    assert (
        capsys.readouterr().err
        == f"sha256 mismatch: expected {'0' * 64}, wrote "
        + hashlib.sha256((tmp_path / "c" / "model.safetensors").read_bytes()).hexdigest()
        + "\n"
    )


def test_existing_weights_are_kept_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"mine")
    assert train_classifier.main(["--out", str(tmp_path), *TINY]) == 2
    assert capsys.readouterr().err == f"{tmp_path / 'model.safetensors'} exists; pass --force to overwrite it\n"
    assert (tmp_path / "model.safetensors").read_bytes() == b"mine"
