"""The transformers backend: any ``AutoModelForImageTextToText`` checkpoint, through its own
processor and chat template, greedy decoding, batched with left padding. Loading and placement are
here; the decoding paths are in generation.py, reuse.py and scoring.py."""

from __future__ import annotations

import copy
from typing import Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models.device import ImageCache, RuntimeOptions, checkpoint_identity, is_out_of_memory, load_error
from pytest_vlm.models.hf.generation import Generation
from pytest_vlm.models.hf.memory import BATCH_IMAGE_BYTES, Budget, ImageTokens
from pytest_vlm.models.hf.prefix import (
    POSITIONS,
    LinearPositions,
    PrefixCache,
    PromptSplit,
)
from pytest_vlm.models.hf.scoring import Scoring
from pytest_vlm.models.spec import ModelSpec


class HFModel(Generation, Scoring):
    """A transformers vision-language model answering one user turn: the image, then the prompt.

    Two paths give the same greedy answers. The plain one runs ``generate`` on batches of whole
    prompts. The default one (``prefix_reuse``) encodes each image's part of the chat once and
    reuses its cache for every question about it, decoding with its own greedy loop that drops
    finished rows and, with ``early_stop``, stops a row as soon as its answer is settled. A family
    that cannot reuse a prefix, or that fails the one-off check against the plain path, takes the
    plain path; ``describe()`` says which path runs and why.
    """

    def __init__(self, spec: ModelSpec, runtime: RuntimeOptions) -> None:
        from transformers import GenerationConfig

        from pytest_vlm.models.hf.families import family_for
        from pytest_vlm.models.hf.memory import bytes_per_token, token_budget
        from pytest_vlm.models.hf.processor import ProcessorLoadError, load_processor
        from pytest_vlm.models.hf.resolution import apply_resolution_cap, requested_max_pixels
        from pytest_vlm.models.hf.turns import assistant_turn

        self._place(spec, runtime)
        self.early_stop = runtime.early_stop
        options = dict(spec.options)
        try:
            self.processor = load_processor(
                spec.source, revision=spec.revision, trust_remote_code=spec.trust_remote_code
            )
            self.model = self._load_weights(spec, str(options.get("device_map", runtime.device_map) or ""))
        except (OSError, ValueError, ProcessorLoadError) as exc:
            raise load_error(
                f"model {spec.name} from {spec.source}",
                str(exc),
                "a folder needs config.json, weights and the processor files.",
            ) from exc
        self.model.eval()
        self.family = family_for(self.model.config.model_type)  # the family's quirks: models/hf/families.py
        wanted_pixels = requested_max_pixels(options, runtime.max_pixels, spec.name)
        self.resolution = apply_resolution_cap(self.processor, self.model.config.model_type, spec.name, wanted_pixels)
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # decoder-only batching: prompts must end together
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.turn = assistant_turn(self.family, self.processor, self.tokenizer)
        eos = self.model.generation_config.eos_token_id
        # The template's turn end stops generation too: real checkpoints often leave it out.
        eos_ids = list(eos if isinstance(eos, (list, tuple)) else [] if eos is None else [eos])
        eos_ids += [token for token in self.turn.end_ids if token not in eos_ids]
        self._eos = set(eos_ids)
        self._generation = GenerationConfig(
            do_sample=False,
            num_beams=1,
            eos_token_id=eos_ids or None,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        self._images = ImageCache()
        self._image_tokens = ImageTokens(self.processor, self.family)
        element = {"float32": 4}.get(str(self.dtype).removeprefix("torch."), 2)
        self.budget = Budget(
            tokens=token_budget(self.device, bytes_per_token(self.model.config, element)),
            image_bytes=BATCH_IMAGE_BYTES,
            rows=self.batch_size,
        )
        self.out_of_memory_retries = 0
        self._prefixes = PrefixCache(size=max(256, 2 * self.batch_size), max_bytes=self._prefix_budget())
        self._split: PromptSplit | None = None
        self._positions: LinearPositions | None = None
        self._reuse_checked = False
        self.plain_reason: str | None = None  # why the plain path runs, when it does
        if not runtime.prefix_reuse:
            self.plain_reason = "prefix reuse switched off"
        else:
            if self.family.no_reuse:
                self.plain_reason = f"{self.family.name}: {self.family.no_reuse}"
            else:
                self._positions = POSITIONS[self.family.positions]()
                self._split = PromptSplit.of(self._chat)
                if self._split is None:
                    self.plain_reason = "the chat template does not keep the prompt as one piece of text"

    def variant(self, *, prefix_reuse: bool, early_stop: bool) -> HFModel:
        """The same loaded weights with other decoding switches, for timing paths side by side
        (benchmarks/perf.py). A model already on the plain path stays there."""
        other = copy.copy(self)
        other.early_stop = early_stop
        other.forget()
        if not prefix_reuse:
            other.plain_reason = "prefix reuse switched off"
        return other

    def memo_entries(self) -> int:
        """Decoded images and encoded prefixes held (models/base.py's HoldsMemos)."""
        return len(self._images) + len(self._prefixes)

    def forget(self) -> None:
        """Drop decoded images and encoded prefixes, so the next call starts cold."""
        self._images = ImageCache()
        self._prefixes = PrefixCache(size=self._prefixes.size, max_bytes=self._prefixes.max_bytes)

    def _prefix_budget(self) -> int:
        """Bytes of encoded prefixes to keep: a fifth of the GPU's memory, or 2 GiB of RAM."""
        if self.device.startswith("cuda"):
            import torch

            return torch.cuda.get_device_properties(torch.device(self.device)).total_memory // 5
        return 2 * 2**30

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "hf",
            "source": self.spec.source,
            "revision": self.spec.revision,
            "architecture": type(self.model).__name__,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "batch_size": self.batch_size,
            "token_budget": self.budget.tokens,
            "out_of_memory_retries": self.out_of_memory_retries,
            "spread": self.spread,
            "image_processor": type(self.processor.image_processor).__name__,
            "resolution": self.resolution,
            "path": "plain" if self.plain_reason else "prefix reuse",
            "plain_reason": self.plain_reason,
            "early_stop": self.early_stop,
        }

    def fingerprint(self) -> dict[str, Any] | None:
        """What the answers depend on, for the result cache (models/cache.py). A local folder is
        identified by its files' hashes (added by the cache), a hub model by its resolved commit;
        a hub model without one cannot be pinned, so it is not cached (None)."""
        import hashlib

        import torch
        import transformers

        where = checkpoint_identity(self.spec.source, self.model.config)
        if where is None:
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
            "decoding": self._generation.to_diff_dict()
            | {"do_sample": False, "num_beams": 1, "early_stop": self.early_stop, "budget": self.spec.max_new_tokens},
            "processor": processor.hexdigest(),
            # The PIL and torchvision image processors resize differently: answers may move.
            "image_processor": type(self.processor.image_processor).__name__,
            "resolution": self.resolution,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        }

    def _load_weights(self, spec: ModelSpec, device_map: str) -> Any:
        """The weights, straight onto the device; spread over the worker's GPUs with
        ``device_map="auto"`` when asked (``device_map: auto``) or when they do not fit on one."""
        import gc

        import torch
        from transformers import AutoModelForImageTextToText

        from pytest_vlm.models.device import spread_kwargs

        if device_map not in ("", "auto", "none"):
            raise ModelError(
                f"model {spec.name}: device_map {device_map!r} is not one of auto, none; "
                "set options: {device_map: auto} in vlm-models.yaml, or --vlm-device-map"
            )
        kwargs: dict[str, Any] = {
            "revision": spec.revision,
            "trust_remote_code": spec.trust_remote_code,
            "dtype": self.dtype,
        }
        self.spread: str | None = None  # why the weights are spread over several GPUs
        on_gpu = self.device.startswith("cuda")
        if on_gpu and device_map == "auto":
            self.spread = "device_map: auto was asked for"
            return self._placed(
                AutoModelForImageTextToText.from_pretrained(spec.source, **kwargs, **spread_kwargs(self.device))
            )
        try:
            model: Any = AutoModelForImageTextToText.from_pretrained(spec.source, **kwargs)
            return model.to(self.device)
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not (on_gpu and device_map != "none" and is_out_of_memory(exc)):
                raise ModelError(f"cannot load model {spec.name} onto {self.device}: {exc}") from exc
        model = None
        gc.collect()
        torch.cuda.empty_cache()
        self.spread = f"the weights did not fit on {self.device}"
        return self._placed(
            AutoModelForImageTextToText.from_pretrained(spec.source, **kwargs, **spread_kwargs(self.device))
        )

    def _placed(self, model: Any) -> Any:
        """A spread model takes its inputs on the device of its first layers."""
        self.device = str(model.device)
        return model
