"""Issue 10, findings 6 and 7: no deprecated transformers calls of our own, a bounded and tested
transformers range, and the image processor that ran (PIL or torchvision) in the fingerprint."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_vlm.data import shapes
from pytest_vlm.data.sources import generated_images
from pytest_vlm.models.base import GenerationRequest, ScoreRequest
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.hf.model import HFModel
from pytest_vlm.models.resolve import resolve_model

REPO = Path(__file__).resolve().parent.parent
CLASSES = (*shapes.SHAPES, shapes.BACKGROUND)


@pytest.mark.parametrize("prefix_reuse", [True, False])
def test_no_deprecated_transformers_calls(monkeypatch: pytest.MonkeyPatch, prefix_reuse: bool) -> None:
    """``past_key_values=`` / ``.past_key_values`` and ``generation_config`` next to ``max_new_tokens``
    are deprecated (the first goes in transformers 5.40): neither generation nor scoring uses them."""
    logged: list[str] = []

    def record(self: logging.Logger, message: str, *args: Any, **kwargs: Any) -> None:
        logged.append(message)

    monkeypatch.setattr(logging.Logger, "warning_once", record, raising=False)
    monkeypatch.setattr(logging.Logger, "warning", record)
    model = HFModel(resolve_model("tiny-shapes", base_dir=Path.cwd()), RuntimeOptions(prefix_reuse=prefix_reuse))
    examples = generated_images(3, seed=1, classes=CLASSES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.generate([GenerationRequest(ex, "What shape is this?", 5) for ex in examples])
        model.score([ScoreRequest(ex, "What shape is this?", ("circle", "big square")) for ex in examples])
    deprecations = [str(w.message) for w in caught if "deprecat" in str(w.message).lower()]
    deprecations += [message for message in logged if "deprecat" in message.lower()]
    assert deprecations == []


def test_the_transformers_range_is_bounded_and_tested_at_its_newest() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    requirements = re.findall(r'"(transformers(?:\[serving\])?[^"]*)"', pyproject)
    assert requirements and all(re.fullmatch(r"transformers(\[serving\])?>=5\.\d+,<5\.\d+", r) for r in requirements)
    tox = (REPO / "tox.ini").read_text()
    assert "[testenv:transformers-latest]" in tox
    assert "pip install --upgrade transformers" in tox


def test_the_image_processor_class_is_in_the_fingerprint(tiny_qwen2_vl: Path) -> None:
    """Without torchvision the Qwen2-VL image processor is the PIL one; with it, the torchvision
    one, which resizes differently. A baseline recorded with one and checked with the other must
    not be served from the cache, and the JSON says which ran."""
    from transformers.utils import is_torchvision_available

    model = HFModel(resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd()), RuntimeOptions())
    pil = model.fingerprint()
    assert pil is not None
    ran = type(model.processor.image_processor).__name__
    assert pil["image_processor"] == ran == model.describe()["image_processor"]
    if not is_torchvision_available():
        assert ran == "Qwen2VLImageProcessorPil"
    image_processor = model.processor.image_processor
    image_processor.__class__ = type("Qwen2VLImageProcessor", (type(image_processor),), {})  # the torchvision one
    other = model.fingerprint()
    assert other is not None and other["image_processor"] == "Qwen2VLImageProcessor"
    assert {k: v for k, v in other.items() if k != "image_processor"} == {
        k: v for k, v in pil.items() if k != "image_processor"
    }
    assert other != pil
