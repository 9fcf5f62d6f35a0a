"""Issue 10, finding 1: memory is bounded by tokens and bytes, not by counts of rows or images.

The image token counts are those of the real processors built from the published configs
(tiny/published.py), on CPU.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from pytest_vlm.data import shapes
from pytest_vlm.data.sources import generated_images
from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import GenerationRequest, ScoreRequest
from pytest_vlm.models.device import ImageCache, RuntimeOptions
from pytest_vlm.models.hf.families import family_for
from pytest_vlm.models.hf.memory import Budget, Cost, ImageTokens, bytes_per_token, token_budget
from pytest_vlm.models.hf.model import HFModel
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.tiny.published import (
    internvl3_8b_processor,
    llava_next_mistral_processor,
    qwen2_vl_7b_processor,
    text_config,
)

CLASSES = (*shapes.SHAPES, shapes.BACKGROUND)
TWELVE_MP = (3024, 4032)  # height, width of a 12 MP phone photo
VGA = (480, 640)


@dataclasses.dataclass(frozen=True)
class BigPhoto:
    """A photo-sized image source (a flat colour, so it costs nothing to draw)."""

    id: str
    side: int = 3000

    def load(self) -> Image.Image:
        return Image.new("RGB", (self.side, self.side), (int(self.id) % 256, 90, 30))


def _never_decoded() -> Any:
    raise AssertionError("the processor's counter needs only the image size")


@pytest.mark.parametrize(
    ("build", "model_type", "vga", "twelve_mp"),
    [
        (qwen2_vl_7b_processor, "qwen2_vl", 391, 15552),  # published max_pixels 12845056
        (llava_next_mistral_processor, "llava_next", 2340, 2340),  # best pinpoint 672x672 or 1008x336, + base
        (internvl3_8b_processor, "internvl", 3330, 3330),  # 12 tiles + thumbnail, 256 each, <img> </img>
    ],
)
def test_image_tokens_come_from_the_real_processor(build: Any, model_type: str, vga: int, twelve_mp: int) -> None:
    tokens = ImageTokens(build(), family_for(model_type))
    assert tokens.count(VGA, _never_decoded) == vga
    assert tokens.count(TWELVE_MP, _never_decoded) == twelve_mp


def test_image_tokens_without_a_counter_process_one_sample(tiny_folders: dict[str, Path]) -> None:
    """Mllama's processor has no ``_get_num_multimodal_tokens``: one image of each size is processed."""
    model = HFModel(resolve_model(str(tiny_folders["mllama"]), base_dir=Path.cwd()), RuntimeOptions())
    loads = []
    example = generated_images(1, seed=1, classes=CLASSES)[0]

    def load() -> Any:
        loads.append(1)
        return example.load()

    first = model._image_tokens.count((64, 64), load)
    assert first == model._image_tokens.count((64, 64), load) > 0
    assert len(loads) == 1


def test_the_budget_plans_a_7b_batch_by_tokens_not_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1920x1080 photo is 2,691 Qwen2-VL-7B tokens; its bf16 key/value cache alone is 147 MiB."""
    config = text_config("Qwen2-VL-7B-Instruct")
    per_token = bytes_per_token(config, element_size=2)
    kv = 2 * 28 * 4 * 128 * 2
    assert 2691 * kv / 2**20 == pytest.approx(147, abs=0.5)
    assert per_token == kv + 4 * 18944 * 2
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (20 * 2**30, 80 * 2**30))
    budget = Budget(tokens=token_budget("cuda:0", per_token), image_bytes=512 * 2**20, rows=64)
    rows = [Cost(2691 + 40 + 12, 1920 * 1080 * 3)] * 100
    sizes = [len(batch) for batch in budget.batches(list(range(100)), lambda i: rows[i])]
    assert sizes[0] == budget.tokens // 2743 == 22  # not 64: 64 rows would need 36 GiB
    assert sum(sizes) == 100
    small = [Cost(300, 448 * 448 * 3)] * 100  # 448 px images: the --vlm-batch-size ceiling holds
    assert [len(b) for b in budget.batches(list(range(100)), lambda i: small[i])] == [64, 36]


def test_the_budget_bounds_decoded_image_bytes() -> None:
    budget = Budget(tokens=10**9, image_bytes=100 * 2**20, rows=64)
    photos = [Cost(100, 3000 * 3000 * 3)] * 10  # 27 MB each
    assert [len(b) for b in budget.batches(list(range(10)), lambda i: photos[i])] == [3, 3, 3, 1]
    alone = Budget(tokens=50, image_bytes=10, rows=64)
    assert [len(b) for b in alone.batches([0, 1], lambda i: photos[i])] == [1, 1]  # too big: runs alone


def test_the_image_cache_is_bounded_by_bytes() -> None:
    """256 decoded 3000x3000 photos held 6.9 GB; the cache now stops at its byte budget."""
    cache = ImageCache(max_bytes=100 * 2**20)
    for i in range(12):
        cache.get(BigPhoto(str(i)))
    assert cache.bytes <= 100 * 2**20
    assert len(cache) == 3
    huge = ImageCache(max_bytes=1)
    huge.get(BigPhoto("1"))
    assert len(huge) == 1  # the image in use is kept even when it alone passes the budget


def test_batches_follow_the_token_budget_and_answers_do_not_change(tiny_qwen2_vl: Path) -> None:
    spec = resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd())
    examples = generated_images(5, seed=3, classes=CLASSES)
    requests = [GenerationRequest(ex, f"What shape is this? Take {i}.", 4) for i, ex in enumerate(examples)]
    expected = HFModel(spec, RuntimeOptions(prefix_reuse=False, batch_size=1)).generate(requests)
    for prefix_reuse in (False, True):
        model = HFModel(spec, RuntimeOptions(prefix_reuse=prefix_reuse, early_stop=False))
        model.budget.tokens = 1  # a budget that binds: texts are counted by the tokenizer
        chat_tokens = model._token_counts([model._chat(requests[0].prompt)])[0]
        assert chat_tokens == len(model.tokenizer(model._chat(requests[0].prompt))["input_ids"])
        row_tokens = model._cost(examples[0], chat_tokens, 4).tokens
        model.budget.tokens = 2 * row_tokens + row_tokens // 2  # two rows per batch, whatever batch_size says
        seen: list[int] = []
        model.model.register_forward_pre_hook(
            lambda module, args, kwargs, seen=seen: seen.append(kwargs["input_ids"].shape[0]), with_kwargs=True
        )
        assert model.generate(requests) == expected
        if prefix_reuse:  # the image heads alone (no question, no new tokens) are cheaper rows
            assert model._split is not None
            head = model._cost(examples[0], model._token_counts([model._split.head])[0]).tokens
            # Heads cached by the one-off check are not encoded again, so the bound is what can be asserted.
            assert 2 <= max(seen) <= model.budget.tokens // head
        else:
            assert max(seen) == 2


def test_plain_scoring_computes_only_the_logits_it_reads(tiny_qwen2_vl: Path) -> None:
    """Not [batch, length, vocab] logits plus a float32 log-softmax copy: the last positions only."""
    model = HFModel(resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd()), RuntimeOptions(prefix_reuse=False))
    widths: list[int] = []
    model.model.get_output_embeddings().register_forward_hook(lambda m, args, out: widths.append(out.shape[1]))
    examples = generated_images(2, seed=3, classes=CLASSES)
    model.score([ScoreRequest(ex, "What shape is this?", ("circle", "big square")) for ex in examples])
    multi = model._continuation_rows(
        [model._chat("What shape is this?")], [ScoreRequest(examples[0], "", ("big square",))]
    )
    longest = multi[1][0][3]
    assert widths and max(widths) == longest + 1


# -- resolution caps ------------------------------------------------------------------------------


def _with_published_pixels(folder: Path, tmp_path: Path) -> Path:
    """A copy of a tiny Qwen2-VL folder whose processor has the published 7B min/max pixels."""
    copy = tmp_path / "qwen2-vl-published-pixels"
    shutil.copytree(folder, copy)
    path = copy / "processor_config.json"
    data = json.loads(path.read_text())
    data["image_processor"]["size"] = {"shortest_edge": 3136, "longest_edge": 12845056}
    path.write_text(json.dumps(data))
    return copy


def test_qwen2_vl_gets_the_model_cards_pixel_cap(tiny_qwen2_vl: Path, tmp_path: Path) -> None:
    spec = resolve_model(str(_with_published_pixels(tiny_qwen2_vl, tmp_path)), base_dir=Path.cwd())
    model = HFModel(spec, RuntimeOptions())
    assert model.describe()["resolution"] == {"max_pixels": 1280 * 28 * 28}
    assert model._image_tokens.count(TWELVE_MP, _never_decoded) < 16_000  # patch 8 here: below the published cap
    assert model.fingerprint()["resolution"] == {"max_pixels": 1280 * 28 * 28}  # type: ignore[index]
    tiny = HFModel(resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd()), RuntimeOptions())
    assert tiny.describe()["resolution"] == {"max_pixels": 64 * 64}  # a cap never raises the checkpoint's own


def test_the_alias_and_the_command_line_override_the_cap(tiny_qwen2_vl: Path, tmp_path: Path) -> None:
    spec = resolve_model(str(_with_published_pixels(tiny_qwen2_vl, tmp_path)), base_dir=Path.cwd())
    from_cli = HFModel(spec, RuntimeOptions(max_pixels=12845056))
    assert from_cli.describe()["resolution"] == {"max_pixels": 12845056}
    alias = dataclasses.replace(spec, options=(("max_pixels", 200_704),))
    from_alias = HFModel(alias, RuntimeOptions(max_pixels=12845056))
    assert from_alias.describe()["resolution"] == {"max_pixels": 200_704}
    assert from_alias.fingerprint() != from_cli.fingerprint()
    published = HFModel(spec, RuntimeOptions(max_pixels=0))
    assert published.describe()["resolution"] == {"max_pixels": 12845056}


def test_caps_that_cannot_apply_are_refused(tiny_qwen2_vl: Path, tiny_folders: dict[str, Path]) -> None:
    spec = resolve_model(str(tiny_folders["llava-next-mistral"]), base_dir=Path.cwd())
    with pytest.raises(ModelError) as exc:
        HFModel(dataclasses.replace(spec, options=(("max_pixels", 10**6),)), RuntimeOptions())
    assert str(exc.value) == (
        f"model {spec.name}: max_pixels=1000000 was asked for, but LlavaNextImageProcessorPil resizes every "
        "image to a fixed grid set by the checkpoint; remove max_pixels for this model "
        "(in vlm-models.yaml options, or --vlm-max-pixels)"
    )
    assert "image_grid_pinpoints" in HFModel(spec, RuntimeOptions()).describe()["resolution"]["fixed"]
    qwen = resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd())
    with pytest.raises(ModelError, match=r"max_pixels=100 is below the processor's min_pixels 4096"):
        HFModel(dataclasses.replace(qwen, options=(("max_pixels", 100),)), RuntimeOptions())
    with pytest.raises(ModelError, match=r"max_pixels must be a whole number of pixels >= 0, got 'big'"):
        HFModel(dataclasses.replace(qwen, options=(("max_pixels", "big"),)), RuntimeOptions())


def test_max_pixels_and_device_map_on_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_sessionfinish(session):
            from pytest_vlm.options import read_options
            o = read_options(session.config)
            print("scale", o.max_pixels, repr(o.device_map))
        """
    )
    result = pytester.runpytest("-s", "--vlm-max-pixels", "1003520", "--vlm-device-map", "auto")
    result.stdout.fnmatch_lines(["*scale 1003520 'auto'*"])
    bad = pytester.runpytest("--vlm-device-map", "everywhere")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--vlm-device-map / vlm_device_map: expected auto or none, got 'everywhere'*"])
    negative = pytester.runpytest("--vlm-max-pixels", "-5")
    negative.stderr.fnmatch_lines(["*--vlm-max-pixels / vlm_max_pixels: must be >= 0, got -5*"])


def test_text_tokens_are_bounded_by_bytes_when_the_budget_cannot_bind(tiny_qwen2_vl: Path) -> None:
    model = HFModel(resolve_model(str(tiny_qwen2_vl), base_dir=Path.cwd()), RuntimeOptions())
    texts = [model._chat("What shape is this? Choose one from circle, square, triangle."), model._chat("Hé?")]
    exact = [len(ids) for ids in model.tokenizer(texts, add_special_tokens=False)["input_ids"]]
    model.budget.tokens = 10**9
    bounds = model._token_counts(texts)
    assert bounds == [len(text.encode()) + 1 for text in texts]
    assert all(b >= e for b, e in zip(bounds, exact))
    model.budget.tokens = 1000
    assert model._token_counts(texts) == exact
