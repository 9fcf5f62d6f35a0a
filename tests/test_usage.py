"""What a user sees before any benchmark runs: --help, --vlm-list-models, one-line usage errors."""

from __future__ import annotations

import fnmatch

import pytest

# Imported before any pytester run: pytester unloads what a test imports, and torch loads only once.
import torch  # isort: skip

HELP = {  # option as --help shows it -> what its help says
    "--vlm-model=MODEL": "*write a folder as --vlm-model=PATH*",
    "--vlm-files=GLOB": "*(default: *.vlm.yaml *.vlm.yml)",
    "--vlm-device=DEVICE": "*auto (GPU when present), cpu, cuda, cuda:N, mps (default: auto; ini: vlm_device)",
    "--vlm-dtype=DTYPE": "*(default: auto; ini: vlm_dtype)",
    "--vlm-batch-size=N": "*(default: 64; ini: vlm_batch_size)",
    "--vlm-max-pixels=N": "*0: the checkpoint's own cap (ini: vlm_max_pixels)",
    "--vlm-device-map=auto|none": "*only when it does not fit on one (ini: vlm_device_map)",
    "--vlm-seed=N": "*(ini: vlm_seed)",
    "--vlm-json=PATH": "*(ini: vlm_json)",
    "--vlm-markdown=PATH": "*(ini: vlm_markdown)",
    "--vlm-html=PATH": "*(ini: vlm_html)",
    "--vlm-cache=DIR": "*(default: .vlm_cache under the rootdir; ini: vlm_cache)",
    "--vlm-prefix-reuse=on|off": "*(default: on; ini: vlm_prefix_reuse)",
    "--vlm-early-stop=on|off": "*(default: on; ini: vlm_early_stop)",
    "--vlm-progress-after=SECONDS": "*(default: 2; ini: vlm_progress_after)",
    "--vlm-api-base=URL": "*(ini: vlm_api_base)",
    "--vlm-api-key-env=NAME": "*OPENAI_API_KEY when not given (ini: vlm_api_key_env)",
    "--vlm-api-concurrency=N": "*(default 8 for api.openai.com, 32 for other servers) (ini: vlm_api_concurrency)",
    "--vlm-api-max-image-side=PIXELS": "*before sending them (ini: vlm_api_max_image_side)",
    "--vlm-tensor-parallel-size=N": "*vLLM models: *(ini: vlm_tensor_parallel_size)",
    "--vlm-pipeline-parallel-size=N": "*vLLM models: *(ini: vlm_pipeline_parallel_size)",
    "--vlm-data-parallel-size=N": "*vLLM models: *(ini: vlm_data_parallel_size)",
    "--vlm-gpu-memory-utilization=SHARE": "*vLLM models: *(0-1] (ini: vlm_gpu_memory_utilization)",
    "--vlm-max-model-len=TOKENS": "*vLLM models: *(ini: vlm_max_model_len)",
    "--vlm-api-timeout=SECONDS": "*(default: 120; ini: vlm_api_timeout)",
    "--vlm-api-retries=N": "*(default: 4; ini: vlm_api_retries)",
    "--vlm-baseline=MODEL": "*(ini: vlm_baseline)",
}


def test_help_names_each_value_and_shows_the_defaults(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # no wrapping: an option's help is on its line, or the next for long flags
    lines = pytester.runpytest("--help").stdout.lines
    starts = {line.split()[0]: i for i, line in enumerate(lines) if line.startswith("  --vlm-")}
    assert {flag for flag in starts if "=" in flag} == set(HELP)
    for flag, pattern in HELP.items():
        shown = " ".join(lines[starts[flag] : starts[flag] + 2])
        assert fnmatch.fnmatch(shown, pattern + "*"), (flag, shown)


SPEC = "dataset: {generated: shapes, count: 7}\nmodels: [scripted:oracle]\nstrategies: [closed_set]\nsnapshot: false\n"
UNKNOWN = "use auto (the GPU when there is one), cpu, cuda, cuda:N (the GPU of index N) or mps"


@pytest.mark.parametrize(
    ("how", "message"),
    [
        (["--vlm-device", "gpu"], f"unknown device 'gpu' (did you mean 'cuda'?); {UNKNOWN}"),
        ("vlm_device = GPU:1", f"unknown device 'GPU:1' (did you mean 'cuda:1'?); {UNKNOWN}"),
        (["--vlm-device", "tpu"], f"unknown device 'tpu'; {UNKNOWN}"),
    ],
)
def test_an_unknown_device_is_one_line(pytester: pytest.Pytester, how: list[str] | str, message: str) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    if isinstance(how, str):
        pytester.makeini(f"[pytest]\n{how}\n")
    result = pytester.runpytest(*(how if isinstance(how, list) else []))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == f"ERROR: --vlm-device / vlm_device: {message}"
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("device", "cuda", "gpus", "message"),
    [
        ("cuda", None, 0, "cuda asked for, but this torch (*) is built without CUDA; install a CUDA build of torch, or use auto (the GPU when there is one) or cpu"),
        ("cuda", "12.8", 0, "cuda asked for, but no GPU is visible; check the driver and CUDA_VISIBLE_DEVICES, or use auto or cpu"),
        ("cuda:2", "12.8", 2, "cuda:2 asked for, but 2 GPU(s) are visible (cuda:0 to cuda:1); check the driver and CUDA_VISIBLE_DEVICES, or use auto or cpu"),
    ],
)  # fmt: skip
def test_a_device_this_machine_lacks_is_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, device: str, cuda: str | None, gpus: int, message: str
) -> None:
    monkeypatch.setattr(torch.version, "cuda", cuda)  # what a CUDA build reports, on this CPU machine
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    result = pytester.runpytest("--vlm-device", device)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --vlm-device / vlm_device: {message}"])
    assert len([line for line in result.stderr.lines if line.strip()]) == 1


def test_a_device_that_exists_runs(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    pytester.runpytest("--vlm-device", "cpu").assert_outcomes(passed=1)


def test_list_models_shows_the_other_name_forms(pytester: pytest.Pytester) -> None:
    from pytest_vlm.models.resolve import NAME_FORMS, resolve_model

    result = pytester.runpytest("--vlm-list-models")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "scripted:mute *",
            "",
            "other model names:",
            "  OWNER/NAME  *a hub id, e.g. Qwen/Qwen2-VL-7B-Instruct*",
            "  PATH  *a checkpoint folder*--vlm-model=PATH*",
            "  openai:MODEL  *--vlm-api-base, else api.openai.com",
            "  openai:MODEL@URL  *e.g. openai:Qwen/Qwen2-VL-7B-Instruct@http://gpu-box:8000/v1",
            "  degraded:FRACTION:MODEL  *e.g. degraded:0.1:tiny-shapes",
        ]
    )
    for _, meaning in NAME_FORMS:  # every example shown is a name that resolves
        if "e.g. " in meaning:
            example = meaning.split("e.g. ")[1].split()[0]
            assert resolve_model(example, base_dir=pytester.path).name


LIKELIHOOD = """
dataset: {generated: shapes, count: 21, seed: 7}
classes: [circle, square, triangle, star, cross, heart, background]
strategies:
  likelihood: {thresholds: {accuracy: ">= 0.99"}}
snapshot: false
"""


@pytest.mark.parametrize(("model", "outcome"), [("scripted:oracle", "passed"), ("scripted:noisy", "failed")])
def test_scripted_models_score_for_the_likelihood_strategy(pytester: pytest.Pytester, model: str, outcome: str) -> None:
    pytester.makefile(".vlm.yaml", shapes=LIKELIHOOD)
    result = pytester.runpytest("--vlm-model", model)
    result.assert_outcomes(**{outcome: 1})
    result.stdout.no_fnmatch_line("*cannot score answers*")
    if outcome == "failed":  # its unreadable images score every class alike: the first listed wins
        result.stdout.fnmatch_lines(["*accuracy 0.7* < 0.99"])


def test_a_failure_report_holds_no_loading_bar_or_deprecation_warning(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".vlm.yaml",
        shapes="dataset: {generated: shapes, count: 7}\nstrategies:\n  closed_set: {votes: 1}\n"
        'thresholds: {images_per_second: ">= 1e9"}\nsnapshot: false\n',  # a threshold no run can meet
    )
    result = pytester.runpytest("--vlm-model", "tiny-shapes", "--vlm-no-cache", "-W", "error::FutureWarning")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["images_per_second * < 1e+09", "shapes on tiny-shapes with closed_set:"])
    output = result.stdout.str() + result.stderr.str()
    for noise in ("Loading weights", "Captured stderr", "FutureWarning", "past_key_values", "warnings summary"):
        assert noise not in output
