"""vLLM's in-process engine against the transformers backend, on the embedded tiny-shapes model."""

from __future__ import annotations

import copy
import dataclasses
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from vllm_helpers import CLASSES, closed_set_requests

from pytest_vlm.data.sources import GeneratedImage
from pytest_vlm.models.aliases import ALIASES, TINY_SHAPES_DIR
from pytest_vlm.models.base import GenerationRequest, ScoreRequest
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.hf.model import HFModel
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.strategies.base import fill
from pytest_vlm.strategies.closed_set import PROMPT

IMAGES = [
    GeneratedImage(f"img-{i}", CLASSES[i % 7], i, seed, CLASSES, difficulty, 64)
    for i, (seed, difficulty) in enumerate([(3, "medium")] * 21 + [(4, "hard")] * 21)
]


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    from pytest_vlm.models.vllm import VLLMModel

    model = VLLMModel(resolve_model("vllm:tiny-shapes", base_dir=TINY_SHAPES_DIR), RuntimeOptions(device="cpu"))
    yield model
    model.close()


@pytest.fixture(scope="module")
def reference() -> Iterator[HFModel]:
    """The transformers backend on the same weights. Next to torchvision (which this venv has, for
    vLLM), transformers needs a video processor config for the folder: the backend's staged copy."""
    from pytest_vlm.models.vllm import _staged_checkpoint

    staged = _staged_checkpoint(str(TINY_SHAPES_DIR))
    assert staged is not None
    model = HFModel(dataclasses.replace(ALIASES["tiny-shapes"], source=str(staged)), RuntimeOptions(device="cpu"))
    yield model
    model.close()
    shutil.rmtree(staged)


def test_answers_are_the_transformers_backends(engine: Any, reference: HFModel) -> None:
    requests = closed_set_requests(IMAGES, votes=2)
    assert engine.generate(requests) == reference.generate(requests)
    free = closed_set_requests(IMAGES, votes=2, choices=False)  # decoded to the end by both
    assert engine.generate(free) == reference.generate(free)
    yes_no = [
        GenerationRequest(
            i, f"Answer the question in one word: yes or no. Is the {i.label} in this photo?", 12, ("yes", "no")
        )
        for i in IMAGES
    ]
    assert engine.generate(yes_no) == reference.generate(yes_no)


def test_likelihood_through_prompt_logprobs(engine: Any, reference: HFModel) -> None:
    prompt = fill(PROMPT, "{classes}", ", ".join(CLASSES))
    requests = [ScoreRequest(image, prompt, CLASSES) for image in IMAGES]
    ours, theirs = engine.score(requests), reference.score(requests)
    for mine, other in zip(ours, theirs):
        assert [s.tokens for s in mine] == [s.tokens for s in other]
        assert [s.logprob for s in mine] == pytest.approx([s.logprob for s in other], abs=1e-3)
        best = max(range(len(CLASSES)), key=lambda c: mine[c].logprob / mine[c].tokens)
        assert best == max(range(len(CLASSES)), key=lambda c: other[c].logprob / other[c].tokens)


def test_choice_constraint_answers_only_choices(engine: Any) -> None:
    constrained = copy.copy(engine)
    constrained.settings = {**engine.settings, "choice_constraint": True}
    requests = closed_set_requests(IMAGES, votes=2)
    free = engine.generate(requests)
    forced = constrained.generate(requests)
    assert set(forced) <= set(CLASSES)
    # Where the free answer already was a class name, the constraint changes nothing.
    same = [f == c for f, c in zip(free, forced) if f in CLASSES]
    assert len(same) > len(requests) // 2 and all(same)


def test_engine_settings_on_cpu(engine: Any) -> None:
    args = engine.engine_args()
    assert args["enable_prefix_caching"] and args["enforce_eager"]
    assert args["kv_cache_memory_bytes"] == 2**30 and args["dtype"] == "float32"
    assert args["limit_mm_per_prompt"] == {"image": 1, "video": 0}
    assert engine.llm.llm_engine.vllm_config.parallel_config.tensor_parallel_size == 1
    fingerprint = engine.fingerprint()
    assert fingerprint["files"] == str(TINY_SHAPES_DIR) and fingerprint["backend"] == "vllm"
    assert fingerprint["tensor_parallel_size"] == 1 and fingerprint["decoding"]["early_stop"] is True
    assert engine.describe()["backend"] == "vllm"
