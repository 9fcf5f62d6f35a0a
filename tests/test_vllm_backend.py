"""The vLLM backend's parts that need no vLLM: names, options, errors, staging, early-stop cuts.

The backend against a real vLLM engine and server is tested in tests/with_vllm/ (its own venv).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_vlm.errors import ModelError
from pytest_vlm.models.aliases import ALIASES, TINY_SHAPES_DIR
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.pool import load_model
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.models.vllm import VLLMModel, _staged_checkpoint
from pytest_vlm.models.vllm_options import EngineOptions, engine_settings


def test_vllm_prefix_runs_an_alias_folder_or_hub_id_on_vllm(tmp_path: Path) -> None:
    spec = resolve_model("vllm:tiny-shapes", base_dir=tmp_path)
    assert (spec.name, spec.backend, spec.source) == ("vllm:tiny-shapes", "vllm", str(TINY_SHAPES_DIR))
    hub = resolve_model("vllm:Qwen/Qwen2-VL-7B-Instruct", base_dir=tmp_path)
    assert (hub.name, hub.backend) == ("vllm:qwen2-vl-7b", "vllm")  # the alias's name, so its baselines
    folder = resolve_model(f"vllm:{TINY_SHAPES_DIR}", base_dir=tmp_path)
    assert (folder.name, folder.backend) == ("vllm:tiny-shapes", "vllm")
    assert resolve_model("vllm:phi-3-vision", base_dir=tmp_path) == ALIASES["phi-3-vision"]  # already vLLM


def test_vllm_prefix_refuses_what_vllm_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model 'vllm:': no model after 'vllm:'; write vllm:ALIAS"):
        resolve_model("vllm:", base_dir=tmp_path)
    with pytest.raises(ModelError, match=r"model 'vllm:gpt-4o': gpt-4o runs on the 'openai' backend, which vLLM"):
        resolve_model("vllm:gpt-4o", base_dir=tmp_path)
    with pytest.raises(ModelError, match=r"unknown model 'tiny-shape' \(did you mean 'tiny-shapes'\?\)"):
        resolve_model("vllm:tiny-shape", base_dir=tmp_path)


def test_clear_error_when_vllm_is_not_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # what an environment without vLLM gives
    spec = resolve_model("vllm:tiny-shapes", base_dir=Path.cwd())
    with pytest.raises(ModelError) as exc:
        load_model(spec, RuntimeOptions(device="cpu"))
    message = str(exc.value)
    assert message.startswith("model vllm:tiny-shapes runs on vLLM, but vllm cannot be imported (")
    assert "pip install 'pytest-vlm[vllm]'" in message
    assert "docs/vllm.md" in message and "drop the 'vllm:' prefix" in message


def test_plugin_reports_a_missing_vllm_on_the_item(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    pytester.makefile(
        ".vlm.yaml",
        cats="dataset: {generated: shapes, count: 14, seed: 1}\nstrategies: {closed_set: {votes: 1}}\n",
    )
    result = pytester.runpytest_inprocess("--vlm-model", "vllm:tiny-shapes", "--vlm-no-cache")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*model vllm:tiny-shapes runs on vLLM, but vllm cannot be imported*"])


def test_alias_options_then_command_line_settings() -> None:
    spec = ModelSpec("m", "vllm", "x", options=(("max_model_len", 4096), ("tensor_parallel_size", 2)))
    assert engine_settings(spec, None) == {"max_model_len": 4096, "tensor_parallel_size": 2}
    cli = EngineOptions(tensor_parallel_size=4, gpu_memory_utilization=0.8)
    assert engine_settings(spec, cli) == {
        "max_model_len": 4096,
        "tensor_parallel_size": 4,
        "gpu_memory_utilization": 0.8,
    }
    kwargs = ModelSpec("m", "vllm", "x", options=(("mm_processor_kwargs", '{"num_crops": 16}'),))
    assert engine_settings(kwargs, None) == {"mm_processor_kwargs": {"num_crops": 16}}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ((("tensor_paralel_size", 2),), "model m: unknown vllm option 'tensor_paralel_size'; known options: "),
        ((("max_model_len", "4k"),), "model m: vllm option max_model_len expects int, got '4k'; fix the alias's"),
        ((("enforce_eager", 1),), "model m: vllm option enforce_eager expects bool, got 1"),
        ((("mm_processor_kwargs", "num_crops=16"),), "model m: vllm option mm_processor_kwargs must be a JSON object"),
    ],
)
def test_bad_alias_options_are_named(options: tuple, message: str) -> None:
    with pytest.raises(ModelError) as exc:
        engine_settings(ModelSpec("m", "vllm", "x", options=options), None)
    assert str(exc.value).startswith(message)


def test_user_alias_on_the_vllm_backend(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        **{
            "vlm-models": "models:\n  big: {backend: vllm, source: Qwen/Qwen2-VL-72B-Instruct, options: "
            "{tensor_parallel_size: 4, gpu_memory_utilization: 0.85}}\n"
        },
    )
    result = pytester.runpytest("--vlm-list-models")
    result.stdout.fnmatch_lines(["big *vllm *Qwen/Qwen2-VL-72B-Instruct *no*"])


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "--vlm-gpu-memory-utilization=1.5",
            "--vlm-gpu-memory-utilization / vlm_gpu_memory_utilization: expected a share in (0, 1], got '1.5'",
        ),
        ("--vlm-tensor-parallel-size=0", "--vlm-tensor-parallel-size / vlm_tensor_parallel_size: must be >= 1, got 0"),
        ("--vlm-max-model-len=lots", "--vlm-max-model-len / vlm_max_model_len: expected an integer, got 'lots'"),
    ],
)
def test_engine_flags_are_checked(pytester: pytest.Pytester, flag: str, message: str) -> None:
    result = pytester.runpytest(flag)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_engine_settings_from_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nvlm_tensor_parallel_size = 2\nvlm_max_model_len = 2048\n")
    pytester.makeconftest(
        "from pytest_vlm.options import read_options\n"
        "def pytest_configure(config):\n"
        "    print('ENGINE', read_options(config).engine)\n"
    )
    result = pytester.runpytest("-s", "--vlm-gpu-memory-utilization=0.5")
    result.stdout.fnmatch_lines(
        [
            "ENGINE EngineOptions(tensor_parallel_size=2, pipeline_parallel_size=None, data_parallel_size=None, "
            "gpu_memory_utilization=0.5, max_model_len=2048)"
        ]
    )


def test_staged_checkpoint_adds_the_video_processor_only_where_torchvision_needs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert _staged_checkpoint(str(TINY_SHAPES_DIR)) is None  # without torchvision the folder loads as is
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    staged = _staged_checkpoint(str(TINY_SHAPES_DIR))
    assert staged is not None
    try:
        shipped = sorted(p.name for p in TINY_SHAPES_DIR.iterdir())
        assert sorted(p.name for p in staged.iterdir()) == sorted([*shipped, "video_preprocessor_config.json"])
        assert (staged / "config.json").resolve() == (TINY_SHAPES_DIR / "config.json").resolve()
        video = json.loads((staged / "video_preprocessor_config.json").read_text())
        image = json.loads((TINY_SHAPES_DIR / "processor_config.json").read_text())["image_processor"]
        assert video["video_processor_type"] == "Qwen2VLVideoProcessor"
        assert video["patch_size"] == image["patch_size"] and video["image_mean"] == image["image_mean"]
    finally:
        import shutil

        shutil.rmtree(staged)
    assert _staged_checkpoint("Qwen/Qwen2-VL-7B-Instruct") is None  # hub checkpoints ship their own


def _cutter(early_stop: bool = True) -> VLLMModel:
    """The backend's answer handling, with the real tiny-shapes tokenizer and no engine."""
    from transformers import AutoTokenizer

    model = VLLMModel.__new__(VLLMModel)
    model.tokenizer = AutoTokenizer.from_pretrained(TINY_SHAPES_DIR)
    model.early_stop = early_stop
    return model


def _completion(model: VLLMModel, text: str, eos: bool = True) -> SimpleNamespace:
    ids = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    if eos:
        ids.append(model.tokenizer.convert_tokens_to_ids("<|im_end|>"))
    return SimpleNamespace(text=text, token_ids=ids)


def test_answers_are_cut_where_the_transformers_backend_stops_early() -> None:
    model = _cutter()
    image = SimpleNamespace(id="x")
    choices = ("circle", "square", "background")
    ask = GenerationRequest(image, "Q", max_new_tokens=12, choices=choices)  # type: ignore[arg-type]
    assert model._answer(ask, _completion(model, "circle or square")) == "circle"
    assert model._answer(ask, _completion(model, "background")) == "background"
    assert model._answer(ask, _completion(model, "triangle")) == "triangle"  # never settled: the full text
    free = GenerationRequest(image, "Q", max_new_tokens=12)  # type: ignore[arg-type]
    assert model._answer(free, _completion(model, "circle or square")) == "circle or square"
    assert _cutter(early_stop=False)._answer(ask, _completion(model, "circle or square")) == "circle or square"


def test_no_cut_at_the_last_token_of_the_budget() -> None:
    # The transformers backend ends a row at its budget before checking whether it is settled.
    model = _cutter()
    completion = _completion(model, "circle or square", eos=False)
    budget = len(model.tokenizer("circle", add_special_tokens=False)["input_ids"])
    ask = GenerationRequest(SimpleNamespace(id="x"), "Q", budget, ("circle", "square"))  # type: ignore[arg-type]
    assert model._answer(ask, SimpleNamespace(text="circle", token_ids=completion.token_ids[:budget])) == "circle"
    longer = GenerationRequest(SimpleNamespace(id="x"), "Q", budget + 1, ("circle", "square"))  # type: ignore[arg-type]
    assert model._answer(longer, completion) == "circle"
