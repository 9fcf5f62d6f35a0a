"""The transformers backend: any ``AutoModelForImageTextToText`` checkpoint, through its own
processor and chat template, greedy decoding, batched with left padding."""

from __future__ import annotations

import os
import resource
import sys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import ContinuationScore, GenerationRequest, ImageSource, ScoreRequest
from pytest_vlm.models.registry import ModelSpec


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how models run; ``auto`` picks the GPU (bf16) when there is one, else CPU (fp32)."""

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 32


def choose_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def choose_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise ModelError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16") from None


class _ImageCache:
    """Decoded images by id, so K votes or n-1 questions about one image decode it once."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._images: OrderedDict[str, Any] = OrderedDict()

    def get(self, source: ImageSource) -> Any:
        if source.id in self._images:
            self._images.move_to_end(source.id)
            return self._images[source.id]
        image = source.load()
        self._images[source.id] = image
        if len(self._images) > self.size:
            self._images.popitem(last=False)
        return image


class HFModel:
    """A transformers vision-language model answering one user turn: the image, then the prompt."""

    def __init__(self, spec: ModelSpec, runtime: RuntimeOptions) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, GenerationConfig

        from pytest_vlm.models.hf_processor import ProcessorLoadError, load_processor

        self.name = spec.name
        self.spec = spec
        self.device = choose_device(runtime.device)
        self.dtype = choose_dtype(runtime.dtype, self.device)
        self.batch_size = runtime.batch_size
        if self.device == "cpu" and os.environ.get("PYTEST_XDIST_WORKER"):
            torch.set_num_threads(1)  # one thread per xdist worker: workers already fill the cores
        try:
            self.processor = load_processor(
                spec.source, revision=spec.revision, trust_remote_code=spec.trust_remote_code
            )
            self.model = AutoModelForImageTextToText.from_pretrained(
                spec.source, revision=spec.revision, trust_remote_code=spec.trust_remote_code, dtype=self.dtype
            )
        except (OSError, ValueError, ProcessorLoadError) as exc:
            raise ModelError(
                f"cannot load model {spec.name} from {spec.source}: {exc}\n"
                "A hub id needs network access or a filled Hugging Face cache (HF_HOME); "
                "a folder needs config.json, weights and the processor files."
            ) from exc
        self.model.to(self.device).eval()
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # decoder-only batching: prompts must end together
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._generation = GenerationConfig(
            do_sample=False,
            num_beams=1,
            eos_token_id=self.model.generation_config.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        self._images = _ImageCache()

    def _chat(self, prompt: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import torch

        texts = [self._chat(r.prompt) for r in requests]
        # Batches of similar length waste little on padding (characters are a good enough proxy
        # for tokens, and free); the original index breaks ties so batching is a pure function
        # of the requests.
        order = sorted(range(len(requests)), key=lambda i: (requests[i].max_new_tokens, len(texts[i]), i))
        answers: list[str] = [""] * len(requests)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            images = [self._images.get(requests[i].image) for i in batch]
            inputs = self.processor(images=images, text=[texts[i] for i in batch], return_tensors="pt", padding=True)
            inputs = inputs.to(self.device)
            max_new = max(requests[i].max_new_tokens for i in batch)
            with torch.inference_mode():
                output = self.model.generate(**inputs, generation_config=self._generation, max_new_tokens=max_new)
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            for i, text in zip(batch, self.processor.batch_decode(new_tokens, skip_special_tokens=True)):
                answers[i] = text.strip()
        return answers

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[ContinuationScore]]:
        """Log-probability of each continuation as the assistant's answer.

        A continuation that is one token after the prompt is read off the prompt's last position,
        so one forward pass per image scores all of them; longer ones get a pass of their own.
        """
        import torch

        single: dict[int, list[tuple[int, int]]] = {}  # request -> (continuation, token id)
        full: list[tuple[int, int, str, int]] = []  # request, continuation, text, continuation tokens
        chats = [self._chat(request.prompt) for request in requests]
        for r, (request, chat) in enumerate(zip(requests, chats)):
            prompt_ids = self.tokenizer(chat, add_special_tokens=False)["input_ids"]
            for c, continuation in enumerate(request.continuations):
                full_ids = self.tokenizer(chat + continuation, add_special_tokens=False)["input_ids"]
                shared = next(
                    (i for i, (a, b) in enumerate(zip(prompt_ids, full_ids)) if a != b),
                    min(len(prompt_ids), len(full_ids)),
                )
                if shared == len(prompt_ids) and len(full_ids) == shared + 1:
                    single.setdefault(r, []).append((c, full_ids[shared]))
                else:
                    full.append((r, c, chat + continuation, len(full_ids) - shared))
        scores: list[list[ContinuationScore | None]] = [[None] * len(q.continuations) for q in requests]
        prompt_rows = [(r, chats[r], single[r]) for r in single]
        for batch, logits in self._forward(requests, prompt_rows):
            last = torch.log_softmax(logits[:, -1].float(), dim=-1)
            for row, (r, _, tokens) in enumerate(batch):
                for c, token in tokens:
                    scores[r][c] = ContinuationScore(float(last[row, token]), 1)
        full_rows = [(r, text, (c, count)) for r, c, text, count in full]
        for batch, token_logprobs in self._forward(requests, full_rows, targets=True):
            for row, (r, _, (c, count)) in enumerate(batch):
                # Left padding: every row ends at the last column, so its continuation is the last tokens.
                total = float(token_logprobs[row, -count:].sum()) if count else 0.0
                scores[r][c] = ContinuationScore(total, count)
        return [[s for s in per_request if s is not None] for per_request in scores]

    def _forward(
        self, requests: Sequence[ScoreRequest], rows: list[tuple[int, str, Any]], targets: bool = False
    ) -> Any:
        """Batched forward passes over (request, text, payload) rows; yields each batch with its
        logits, or with the log-probability of each actual next token when ``targets``."""
        import torch

        order = sorted(range(len(rows)), key=lambda i: (len(rows[i][1]), i))
        for start in range(0, len(order), self.batch_size):
            batch = [rows[i] for i in order[start : start + self.batch_size]]
            images = [self._images.get(requests[r].image) for r, _, _ in batch]
            inputs = self.processor(
                images=images, text=[text for _, text, _ in batch], return_tensors="pt", padding=True
            )
            inputs = inputs.to(self.device)
            with torch.inference_mode():
                logits = self.model(**inputs).logits
            if targets:
                logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
                logits = logprobs.gather(-1, inputs["input_ids"][:, 1:].unsqueeze(-1)).squeeze(-1)
            yield batch, logits

    def reset_peak_memory(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory_mb(self) -> float:
        if self.device.startswith("cuda"):
            import torch

            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return process_peak_rss_mb()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "hf",
            "source": self.spec.source,
            "revision": self.spec.revision,
            "architecture": type(self.model).__name__,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "batch_size": self.batch_size,
        }

    def fingerprint(self) -> dict[str, Any] | None:
        """What the answers depend on, for the result cache (models/cache.py). A local folder is
        identified by its files' hashes (added by the cache), a hub model by its resolved commit;
        a hub model without one cannot be pinned, so it is not cached (None)."""
        import hashlib

        import torch
        import transformers

        commit = getattr(self.model.config, "_commit_hash", None)
        if os.path.isdir(self.spec.source):
            where: dict[str, Any] = {"files": self.spec.source}
        elif commit:
            where = {"source": self.spec.source, "commit": commit}
        else:
            return None
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        processor = hashlib.sha256()
        for part in (
            self.processor.to_json_string(),
            str(getattr(self.processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)),
            backend.to_str() if backend is not None else repr(sorted(self.tokenizer.get_vocab().items())),
        ):
            processor.update(part.encode() + b"\x1f")
        return {
            **where,
            "backend": "hf",
            "architecture": type(self.model).__name__,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device.split(":")[0],
            "decoding": self._generation.to_diff_dict() | {"do_sample": False, "num_beams": 1},
            "processor": processor.hexdigest(),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        }

    def close(self) -> None:
        del self.model
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def process_peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
