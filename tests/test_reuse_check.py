"""Issue 10, finding 4: the one-off check of prefix reuse against the plain path holds in bf16.

Before, the check compared one prompt's next-token logits within 3e-2 relative in bf16, and NaN
logits passed it (``nan > tol`` is False). Now it runs in float32 (the bf16 weights are upcast for
the check and restored exactly), on up to three rows of different images and prompts, compares the
top-5 ranks too, and refuses non-finite logits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from pytest_vlm.data import shapes
from pytest_vlm.data.sources import generated_images
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.hf.model import HFModel
from pytest_vlm.models.hf.prefix import MultimodalRopePositions
from pytest_vlm.models.resolve import resolve_model

CLASSES = (*shapes.SHAPES, shapes.BACKGROUND)
BF16 = RuntimeOptions(dtype="bfloat16", early_stop=False)


def _requests(count: int = 3) -> list[GenerationRequest]:
    examples = generated_images(count, seed=4, classes=CLASSES)
    return [GenerationRequest(ex, f"Is the {shape} in this photo?", 4) for ex, shape in zip(examples, shapes.SHAPES)]


def _tiny_shapes(options: RuntimeOptions) -> HFModel:
    return HFModel(resolve_model("tiny-shapes", base_dir=Path.cwd()), options)


@pytest.mark.parametrize("wrong", ["last", "first"])
def test_an_off_by_one_text_position_is_caught_in_bf16(monkeypatch: pytest.MonkeyPatch, wrong: str) -> None:
    """One text position off by one moves tiny-shapes' logits by 0.014 (the last) or 0.002 (the
    first) relative: inside the old bf16 tolerance of 3e-2, which accepted both."""
    following = MultimodalRopePositions.following

    def off_by_one(self: Any, starts: Any, mask: Any) -> Any:
        positions = following(self, starts, mask)
        column = mask.shape[1] - 1 if wrong == "last" else 0
        return positions + (torch.arange(mask.shape[1]) == column).long()

    monkeypatch.setattr(MultimodalRopePositions, "following", off_by_one)
    model = _tiny_shapes(BF16)
    expected = _tiny_shapes(RuntimeOptions(dtype="bfloat16", prefix_reuse=False)).generate(_requests())
    assert model.generate(_requests()) == expected
    info = model.describe()
    assert info["path"] == "plain"
    assert info["plain_reason"].startswith("reused-prefix logits differ from the plain path's (relative ")
    assert ", tolerance 0.001" in info["plain_reason"]


def test_correct_reuse_passes_in_bf16_and_the_weights_come_back_exactly() -> None:
    model = _tiny_shapes(BF16)
    before = {name: p.detach().clone() for name, p in model.model.named_parameters()}
    model.generate(_requests())
    assert (model.describe()["path"], model.describe()["plain_reason"]) == ("prefix reuse", None)
    for name, p in model.model.named_parameters():
        assert p.dtype == before[name].dtype and torch.equal(p, before[name]), name
    assert {p.dtype for _, p in model._prefixes._items.items() for p in [p.layers[0][0]]} == {torch.bfloat16}


def test_non_finite_logits_never_pass_the_check() -> None:
    model = _tiny_shapes(RuntimeOptions(early_stop=False))

    def poison(module: torch.nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor:
        return torch.full_like(out, float("nan"))

    model.model.get_output_embeddings().register_forward_hook(poison)
    model.generate(_requests(1))
    assert model.describe()["plain_reason"] == "the check against the plain path gave non-finite logits (NaN or inf)"


def test_the_check_covers_several_images_and_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _tiny_shapes(BF16)
    checked: list[tuple[str, str]] = []
    matches = HFModel._matches_plain_path

    def record(self: HFModel, item: Any, suffix: Any, chat: str, *, exact: bool) -> bool:
        checked.append((item[0].id, chat))
        assert exact  # bf16 weights, checked in float32
        return matches(self, item, suffix, chat, exact=exact)

    monkeypatch.setattr(HFModel, "_matches_plain_path", record)
    model.generate(_requests(5))
    assert len(checked) == 3
    assert len({image for image, _ in checked}) == 3 and len({chat for _, chat in checked}) == 3
