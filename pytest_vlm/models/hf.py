"""The transformers backend: any ``AutoModelForImageTextToText`` checkpoint, through its own
processor and chat template, greedy decoding, batched with left padding."""

from __future__ import annotations

import copy
import os
import resource
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import ContinuationScore, GenerationRequest, ImageSource, ScoreRequest
from pytest_vlm.models.devices import choose_device, is_out_of_memory
from pytest_vlm.models.memory import BATCH_IMAGE_BYTES, Budget, Cost, ImageCache, ImageTokens, image_key, image_size
from pytest_vlm.models.prefix import (
    POSITIONS,
    LinearPositions,
    Prefix,
    PrefixCache,
    PromptSplit,
    assemble,
    split_prefixes,
)
from pytest_vlm.models.registry import ModelSpec
from pytest_vlm.strategies.answers import settled, settled_on_prefix

if TYPE_CHECKING:
    from pytest_vlm.models.openai_compat import ApiOptions


@dataclass(frozen=True)
class RuntimeOptions:
    """Where and how models run; ``auto`` picks the GPU (bf16) when there is one, else CPU (fp32)."""

    device: str = "auto"
    dtype: str = "auto"
    batch_size: int = 64
    prefix_reuse: bool = True  # encode each image once and reuse it for every question about it
    early_stop: bool = True  # stop decoding a row once its answer is settled among the request's choices
    api: ApiOptions | None = None  # remote (OpenAI-compatible) models: base URL, concurrency, timeouts
    device_map: str = ""  # "auto": spread every model over the worker's GPUs; "none": never; "": when it cannot fit
    max_pixels: int | None = None  # cap on pixels per image the processor keeps, for every model (models/resolution.py)


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


class DeviceModel:
    """What every backend holding torch weights (``self.model``) on ``self.device`` shares:
    measuring its peak memory and releasing it."""

    device: str
    model: Any

    def _place(self, spec: ModelSpec, runtime: RuntimeOptions, *, alias_dtype: bool = True) -> None:
        """Name, device, dtype and batch size, from the alias and the run's options."""
        import torch

        self.name = spec.name
        self.spec = spec
        self.device = choose_device(runtime.device)
        # An alias's dtype applies on GPU when --vlm-dtype is left at auto; CPU runs stay float32.
        wanted = spec.dtype if alias_dtype and spec.dtype and self.device.startswith("cuda") else "auto"
        self.dtype = choose_dtype(runtime.dtype if runtime.dtype != "auto" else wanted, self.device)
        self.batch_size = runtime.batch_size
        if self.device == "cpu" and os.environ.get("PYTEST_XDIST_WORKER"):
            torch.set_num_threads(1)  # one thread per xdist worker: workers already fill the cores

    def reset_peak_memory(self) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory_mb(self) -> float:
        if self.device.startswith("cuda"):
            import torch

            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return process_peak_rss_mb()

    def close(self) -> None:
        del self.model
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def checkpoint_identity(source: str, config: Any) -> dict[str, Any] | None:
    """Where a checkpoint's answers come from, for the result cache (models/cache.py): a local
    folder (whose files the cache hashes), or a hub id at its resolved commit; None for a hub
    model without one, which cannot be pinned and so is not cached."""
    if os.path.isdir(source):
        return {"files": source}
    commit = getattr(config, "_commit_hash", None)
    return {"source": source, "commit": commit} if commit else None


class HFModel(DeviceModel):
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

        from pytest_vlm.models.families import family_for
        from pytest_vlm.models.hf_processor import ProcessorLoadError, load_processor
        from pytest_vlm.models.memory import bytes_per_token, token_budget
        from pytest_vlm.models.resolution import apply_resolution_cap, requested_max_pixels
        from pytest_vlm.models.turns import assistant_turn

        self._place(spec, runtime)
        self.early_stop = runtime.early_stop
        options = dict(spec.options)
        try:
            self.processor = load_processor(
                spec.source, revision=spec.revision, trust_remote_code=spec.trust_remote_code
            )
            self.model = self._load_weights(spec, str(options.get("device_map", runtime.device_map) or ""))
        except (OSError, ValueError, ProcessorLoadError) as exc:
            raise ModelError(
                f"cannot load model {spec.name} from {spec.source}: {exc}\n"
                "A hub id needs network access or a filled Hugging Face cache (HF_HOME); "
                "a folder needs config.json, weights and the processor files."
            ) from exc
        self.model.eval()
        self.family = family_for(self.model.config.model_type)  # the family's quirks: models/families.py
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
        self._cache_kwarg = cache_kwarg(self.model)
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

    def _load_weights(self, spec: ModelSpec, device_map: str) -> Any:
        """The weights, straight onto the device; spread over the worker's GPUs with
        ``device_map="auto"`` when asked (``device_map: auto``) or when they do not fit on one."""
        import gc

        import torch
        from transformers import AutoModelForImageTextToText

        from pytest_vlm.models.devices import spread_kwargs

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

    def _generation_for(self, max_new_tokens: int) -> Any:
        """The decoding settings with this batch's budget: transformers deprecates passing
        ``max_new_tokens`` next to a ``generation_config``."""
        config = copy.deepcopy(self._generation)
        config.max_new_tokens = max_new_tokens
        return config

    def _chat(self, prompt: str) -> str:
        return self.family.render(self.processor, prompt)

    # -- batching --------------------------------------------------------------------------------

    def _in_batches(
        self, items: Sequence[Any], run: Callable[[Sequence[Any]], Any], cost: Callable[[Any], Cost]
    ) -> Iterator[tuple[Any, Any]]:
        """``run`` over consecutive chunks of ``items`` that fit the budget (models/memory.py).

        An allocator failure (``torch.OutOfMemoryError``, or a RuntimeError saying so) lowers the
        token budget to three quarters of the failed batch's tokens and retries: the budget is in
        tokens, so later batches of shorter rows still fill up."""
        import torch

        items = list(items)
        start = 0
        while start < len(items):
            chunk = next(self.budget.batches(items[start:], cost))
            try:
                result = run(chunk)
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if not is_out_of_memory(exc):
                    raise
                if len(chunk) == 1:
                    raise self._out_of_memory() from exc
                self._after_out_of_memory(len(chunk) * max(cost(item).tokens for item in chunk))
                continue
            yield chunk, result
            start += len(chunk)

    def _after_out_of_memory(self, failed_tokens: int) -> None:
        import torch

        self.out_of_memory_retries += 1
        self.budget.tokens = max(1, min(self.budget.tokens, failed_tokens * 3 // 4))
        self._prefixes.clear()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _cost(self, source: ImageSource, text_tokens: int, new_tokens: int = 0) -> Cost:
        """One row's tokens (text, image as the processor counts it, new tokens) and image bytes."""
        size = image_size(source, self._images)
        image = self._image_tokens.count(size, lambda: self._images.get(source))
        return Cost(text_tokens + image + new_tokens, size[0] * size[1] * 3)

    def _token_counts(self, texts: Sequence[str]) -> list[int]:
        distinct = sorted(set(texts))
        if not distinct:
            return []
        counts = dict(zip(distinct, map(len, self.tokenizer(distinct, add_special_tokens=False)["input_ids"])))
        return [counts[text] for text in texts]

    def _out_of_memory(self) -> ModelError:
        return ModelError(
            f"model {self.name} ran out of {self.device} memory with batch size 1; "
            "use a smaller dtype (--vlm-dtype) or a larger device"
        )

    # -- generation ------------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        if not requests:
            return []
        if self.spec.max_new_tokens:  # the alias's decoding budget wins over the strategy's
            requests = [replace(r, max_new_tokens=self.spec.max_new_tokens) for r in requests]
        if self.plain_reason is None:
            answers = self._generate_reused(requests)
            if answers is not None:
                return answers
        return self._generate_plain(requests)

    def _generate_plain(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import torch

        texts = [self._chat(r.prompt) for r in requests]
        # Batches of similar length waste little on padding (characters are a good enough proxy
        # for tokens, and free); the original index breaks ties so batching is a pure function
        # of the requests.
        order = sorted(range(len(requests)), key=lambda i: (requests[i].max_new_tokens, len(texts[i]), i))
        lengths = self._token_counts(texts)

        def cost(i: int) -> Cost:
            return self._cost(requests[i].image, lengths[i], requests[i].max_new_tokens)

        def run(batch: Sequence[int]) -> list[str]:
            images = [self._images.get(requests[i].image) for i in batch]
            inputs = self.family.inputs(self.processor, images, [texts[i] for i in batch])
            inputs = inputs.to(self.device)
            max_new = max(requests[i].max_new_tokens for i in batch)
            with torch.inference_mode():
                output = self.model.generate(**inputs, generation_config=self._generation_for(max_new))
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            return self.processor.batch_decode(new_tokens, skip_special_tokens=True)

        answers: list[str] = [""] * len(requests)
        for batch, texts_out in self._in_batches(order, run, cost):
            for i, text in zip(batch, texts_out):
                answers[i] = text.strip()
        return answers

    def _plan(self, prompts: Sequence[str], shared: Sequence[int]) -> list[tuple[str, list[int], str]] | None:
        """For each prompt, the text to encode once per image (the head, plus the shared start of
        the prompt), the token ids that follow it and the whole chat text; None when the template
        gets in the way.

        The shared start is cut at a space, and kept only where the full chat's tokens begin with
        its own tokens, so the ids that follow are exactly the plain path's."""
        assert self._split is not None
        split = self._split
        chats = [split.chat(prompt, self._chat) for prompt in prompts]
        if any(chat is None for chat in chats):
            return None
        starts = []
        for prompt, length in zip(prompts, shared):
            cut = prompt.rfind(" ", 0, length + 1) if length else 0
            starts.append(split.head + prompt[: max(cut, 0)])
        distinct = sorted(set(starts) | {split.head})
        start_ids = dict(zip(distinct, self.tokenizer(distinct, add_special_tokens=False)["input_ids"]))
        fast = self._split_tokens(starts, chats, start_ids)  # type: ignore[arg-type]
        if fast is not None:
            return fast
        plan = []
        full_ids = self.tokenizer(chats, add_special_tokens=False)["input_ids"]
        for start, full, chat in zip(starts, full_ids, chats):
            for text in (start, split.head):
                ids = start_ids[text]
                if len(full) > len(ids) and full[: len(ids)] == ids:
                    plan.append((text, full[len(ids) :], chat))
                    break
            else:
                return None
        return plan

    def _split_tokens(
        self, starts: Sequence[str], chats: Sequence[str], start_ids: dict[str, list[int]]
    ) -> list[tuple[str, list[int], str]] | None:
        """The plan from tokenizing only what follows each start (a third of the text), when that
        gives the whole chat's tokens: checked on the first chat of every distinct start, whose
        rest begins at a space or after a special token, where tokenizers start a new token."""
        rests = [chat[len(start) :] for start, chat in zip(starts, chats)]
        special = tuple(self.tokenizer.all_special_tokens)
        if not all(rest[:1].isspace() or start.endswith(special) for start, rest in zip(starts, rests)):
            return None
        rest_ids = self.tokenizer(rests, add_special_tokens=False)["input_ids"]
        first = {start: i for i, start in reversed(list(enumerate(starts)))}
        whole = self.tokenizer([chats[i] for i in first.values()], add_special_tokens=False)["input_ids"]
        for (start, i), ids in zip(first.items(), whole):
            if ids != start_ids[start] + rest_ids[i] or not rest_ids[i]:
                return None
        return [(start, ids, chat) for start, ids, chat in zip(starts, rest_ids, chats)]

    def _generate_reused(self, requests: Sequence[GenerationRequest]) -> list[str] | None:
        plan = self._plan([r.prompt for r in requests], [r.shared for r in requests])
        if plan is None:
            return None
        items = [(r.image, start) for r, (start, _, _) in zip(requests, plan)]
        if not self._reuse_checked and not self._check_reuse(self._checks(items, plan)):
            return None
        order = sorted(range(len(requests)), key=lambda i: (requests[i].max_new_tokens, len(plan[i][1]), i))
        position = {row: n for n, row in enumerate(order)}
        answers: list[str] = [""] * len(requests)

        def run(batch: Sequence[int]) -> list[str]:
            # Questions about one image sit together, so a batch of rows covers few images; the
            # images of the batches that follow are encoded with them, in full batches.
            after = position[batch[-1]] + 1
            ahead = [items[i] for i in order[after : after + 4 * self.budget.rows]]
            return self._greedy(
                [requests[i] for i in batch], [items[i] for i in batch], [plan[i][1] for i in batch], ahead
            )

        starts = sorted({start for _, start in items})
        head_tokens = dict(zip(starts, self._token_counts(starts)))

        def cost(i: int) -> Cost:
            return self._cost(items[i][0], head_tokens[items[i][1]] + len(plan[i][1]), requests[i].max_new_tokens)

        for batch, texts in self._in_batches(order, run, cost):
            for i, text in zip(batch, texts):
                answers[i] = text
        return answers

    def _encode_heads(
        self, items: Sequence[tuple[ImageSource, str]], ahead: Sequence[tuple[ImageSource, str]] = ()
    ) -> list[Prefix]:
        """Each (image, start text)'s encoded prefix, from the cache or batched passes; when some
        must be encoded, ``ahead`` (those needed next) fill the batch up to ``batch_size``."""
        import torch

        assert self._positions is not None
        found: dict[Any, Prefix] = {}  # held here: encoding the others may evict them from the cache
        missing: dict[Any, tuple[ImageSource, str]] = {}
        for source, text in items:
            key = (image_key(source), text)
            prefix = found.get(key) or self._prefixes.get(key)
            if prefix is None:
                missing.setdefault(key, (source, text))
            else:
                found[key] = prefix
        costs: dict[Any, Cost] = {}

        def cost(key: Any) -> Cost:
            if key not in costs:
                costs[key] = self._cost(missing[key][0], self._token_counts([missing[key][1]])[0])
            return costs[key]

        for source, text in ahead:
            keys = list(missing)
            if not keys or len(next(self.budget.batches(keys, cost))) < len(keys):
                break
            key = (image_key(source), text)
            if key not in missing and self._prefixes.get(key) is None:
                missing[key] = (source, text)
        for chunk in self.budget.batches(list(missing), cost):
            images = [self._images.get(missing[key][0]) for key in chunk]
            inputs = self.family.inputs(self.processor, images, [missing[key][1] for key in chunk]).to(self.device)
            positions, starts = self._positions.prefix(self.model, inputs)
            with torch.inference_mode():
                out = self.model(**inputs, position_ids=positions, use_cache=True, logits_to_keep=1)
            for encoded, prefix in zip(chunk, split_prefixes(inputs, cache_of(out), starts)):
                found[encoded] = prefix
                self._prefixes.put(encoded, prefix)
        return [found[(image_key(source), text)] for source, text in items]

    def _run_suffixes(
        self,
        items: Sequence[tuple[ImageSource, str]],
        suffixes: Sequence[Sequence[int]],
        keep: int,
        ahead: Sequence[tuple[ImageSource, str]] = (),
    ) -> Any:
        """One forward pass of each row's suffix on top of its encoded prefix; the last ``keep``
        positions' logits, the cache, and what the next decoding step needs."""
        import torch

        assert self._positions is not None
        prefixes = self._encode_heads(items, ahead)
        batch = assemble(prefixes, suffixes, self.tokenizer.pad_token_id, self.device)
        positions = self._positions.following(batch["starts"], batch["suffix_mask"])
        with torch.inference_mode():
            out = self.model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                position_ids=positions,
                **{self._cache_kwarg: batch["cache"]},
                use_cache=True,
                logits_to_keep=keep,
            )
        next_positions = batch["starts"] + batch["suffix_mask"].sum(-1)
        return out.logits, cache_of(out), batch["attention_mask"], next_positions

    def _greedy(
        self,
        requests: Sequence[GenerationRequest],
        items: Sequence[tuple[ImageSource, str]],
        suffixes: Sequence[Sequence[int]],
        ahead: Sequence[tuple[ImageSource, str]] = (),
    ) -> list[str]:
        """Greedy decoding from each request's suffix; finished rows leave the batch at once."""
        import torch

        assert self._positions is not None
        logits, cache, mask, next_positions = self._run_suffixes(items, suffixes, keep=1, ahead=ahead)
        tokens: list[list[int]] = [[] for _ in requests]
        decided: list[str | None] = [None] * len(requests)
        active = list(range(len(requests)))
        while True:
            picked = logits[:, -1].argmax(-1).tolist()
            keep = []
            for j, row in enumerate(active):
                if picked[j] in self._eos:
                    continue
                tokens[row].append(picked[j])
                if len(tokens[row]) >= requests[row].max_new_tokens:
                    continue
                if self.early_stop and requests[row].choices:
                    text = self.tokenizer.decode(tokens[row], skip_special_tokens=True)
                    decided[row] = settled(text, requests[row].choices)
                    if decided[row] is not None:
                        continue
                keep.append(j)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                mask, next_positions = mask[index], next_positions[index]
                active = [active[j] for j in keep]
            step = torch.tensor([[tokens[row][-1]] for row in active], device=self.device)
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            positions = self._positions.following(next_positions, mask.new_ones((len(active), 1)))
            with torch.inference_mode():
                out = self.model(
                    input_ids=step,
                    attention_mask=mask,
                    position_ids=positions,
                    **{self._cache_kwarg: cache},
                    use_cache=True,
                    logits_to_keep=1,
                )
            logits, cache, next_positions = out.logits, cache_of(out), next_positions + 1
        answers = [self.tokenizer.decode(t, skip_special_tokens=True).strip() for t in tokens]
        # An answer settled on the start of a choice ("back") is recorded as that choice.
        return [
            choice if choice is not None and settled_on_prefix(a, choice) else a for a, choice in zip(answers, decided)
        ]

    def _check_reuse(self, checks: Sequence[tuple[tuple[ImageSource, str], Sequence[int], str]]) -> bool:
        """Once per model: on a few (image, prompt) rows, the reused prefix must give the plain
        path's tokens and next-token logits, computed in float32 (the weights are upcast for the
        check when the run is in bf16/fp16, so bf16 noise cannot hide a wrong position).

        Catches templates whose text does not tokenize the same in two pieces, and families whose
        positions or attention differ from what the reuse assumes; either way the plain path runs.
        """
        import torch

        upcast = False
        try:
            with self._float32_weights() as upcast:
                same = all(self._matches_plain_path(*check, exact=upcast) for check in checks)
        except torch.OutOfMemoryError as exc:  # one row: nothing smaller to try
            raise self._out_of_memory() from exc
        finally:
            if upcast:
                self._prefixes.clear()  # the prefixes encoded for the check are float32
        self._reuse_checked = True
        return same

    def _float32_weights(self) -> Any:
        """Upcast the weights to float32 for the duration (exactly reversible from bf16/fp16);
        yields whether they were upcast (False for a float32 model, or with no memory for the copy)."""
        import contextlib

        import torch

        @contextlib.contextmanager
        def upcast() -> Iterator[bool]:
            params = [p for p in self.model.parameters() if p.dtype in (torch.bfloat16, torch.float16)]
            before = [p.dtype for p in params]
            try:
                for p in params:
                    p.data = p.data.float()
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if not is_out_of_memory(exc):
                    raise
                for p, dtype in zip(params, before):
                    p.data = p.data.to(dtype)
                yield False
                return
            try:
                yield bool(params)
            finally:
                for p, dtype in zip(params, before):
                    p.data = p.data.to(dtype)

        return upcast()

    def _matches_plain_path(
        self, item: tuple[ImageSource, str], suffix_ids: Sequence[int], chat: str, *, exact: bool
    ) -> bool:
        import torch

        inputs = self.family.inputs(self.processor, [self._images.get(item[0])], [chat]).to(self.device)
        prefix = self._encode_heads([item])[0]
        if inputs["input_ids"][0].tolist() != prefix.input_ids.tolist() + list(suffix_ids):
            self.plain_reason = "the chat text does not tokenize the same split after the image"
            return False
        with torch.inference_mode():
            plain = self.model(**inputs, logits_to_keep=1).logits[0, -1].float()
        reused = self._run_suffixes([item], [suffix_ids], keep=1)[0][0, -1].float()
        if not (bool(torch.isfinite(plain).all()) and bool(torch.isfinite(reused).all())):
            self.plain_reason = "the check against the plain path gave non-finite logits (NaN or inf)"
            return False
        scale = float(plain.abs().max()) or 1.0
        difference = float((plain - reused).abs().max()) / scale
        tolerance = 1e-3 if exact or self.dtype == torch.float32 else 3e-2
        top = min(5, plain.numel())
        same_ranks = plain.topk(top).indices.tolist() == reused.topk(top).indices.tolist()
        if difference > tolerance or not same_ranks:
            self.plain_reason = (
                f"reused-prefix logits differ from the plain path's (relative {difference:.2g}, "
                f"tolerance {tolerance}{'' if same_ranks else f', top-{top} ranks differ'})"
            )
            return False
        return True

    # -- scoring ---------------------------------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[ContinuationScore]]:
        """Log-probability of each continuation as the assistant's answer.

        A continuation that is one token after the prompt is read off the prompt's last position,
        so one forward pass per image scores all of them; longer ones get a pass of their own.
        """
        if not requests:
            return []
        if self.plain_reason is None:
            assert self._split is not None
            chats = [self._split.chat(r.prompt, self._chat) for r in requests]
            if all(chat is not None for chat in chats) and (self._reuse_checked or self._check_first(requests[:8])):
                return self._score_reused(requests, chats)  # type: ignore[arg-type]
        return self._score_plain(requests)

    def _check_first(self, requests: Sequence[ScoreRequest]) -> bool:
        """The one-off check against the plain path, on the first requests' prompts."""
        plan = self._plan([r.prompt for r in requests], [0] * len(requests))
        if plan is None:
            return False
        return self._check_reuse(self._checks([(r.image, start) for r, (start, _, _) in zip(requests, plan)], plan))

    @staticmethod
    def _checks(
        items: Sequence[tuple[ImageSource, str]], plan: Sequence[tuple[str, list[int], str]], count: int = 3
    ) -> list[tuple[tuple[ImageSource, str], list[int], str]]:
        """Up to ``count`` rows for the check, of different images and prompts where there are."""
        picked: list[int] = []
        for differs in (lambda i, j: image_key(items[i][0]) != image_key(items[j][0]), lambda i, j: plan[i] != plan[j]):
            for i in range(len(items)):
                if len(picked) < count and all(differs(i, j) for j in picked):
                    picked.append(i)
        return [(items[i], plan[i][1], plan[i][2]) for i in picked]

    def _continuation_rows(self, chats: Sequence[str], requests: Sequence[ScoreRequest]) -> tuple[dict, list]:
        """Split continuations into one-token ones (read off the prompt's last position) and longer ones.

        Each continuation is tokenized as the template writes the assistant's answer (models/turns.py):
        in context, after the turn's lead, so ``triangle`` is the ``▁triangle`` the model would write."""
        single: dict[int, tuple[list[int], list[tuple[int, int]]]] = {}  # request -> prompt ids, (continuation, token)
        full: list[tuple[int, int, list[int], int]] = []  # request, continuation, token ids, continuation tokens
        for r, (request, chat) in enumerate(zip(requests, chats)):
            prompt_ids = self.tokenizer(chat, add_special_tokens=False)["input_ids"]
            answers = [chat + self.turn.lead + continuation for continuation in request.continuations]
            for c, full_ids in enumerate(self.tokenizer(answers, add_special_tokens=False)["input_ids"]):
                shared = next(
                    (i for i, (a, b) in enumerate(zip(prompt_ids, full_ids)) if a != b),
                    min(len(prompt_ids), len(full_ids)),
                )
                if shared == len(prompt_ids) and len(full_ids) == shared + 1:
                    single.setdefault(r, (prompt_ids, []))[1].append((c, full_ids[shared]))
                else:
                    full.append((r, c, full_ids, len(full_ids) - shared))
        return single, full

    def _score_reused(self, requests: Sequence[ScoreRequest], chats: Sequence[str]) -> list[list[ContinuationScore]]:
        import torch

        assert self._split is not None
        head = self._split.head
        head_ids = self.tokenizer(head, add_special_tokens=False)["input_ids"]
        cut = len(head_ids)
        single, full = self._continuation_rows(chats, requests)
        every = [ids for ids, _ in single.values()] + [ids for _, _, ids, _ in full]
        if any(ids[:cut] != head_ids for ids in every):  # the head does not tokenize alone as in context
            return self._score_plain(requests)
        scores: list[list[ContinuationScore | None]] = [[None] * len(q.continuations) for q in requests]
        rows = [(r, ids[cut:], tokens) for r, (ids, tokens) in single.items()]
        rows += [(r, ids[cut:], (c, count)) for r, c, ids, count in full]
        order = sorted(range(len(rows)), key=lambda i: (len(rows[i][1]), i))

        def run(batch: Sequence[int]) -> Any:
            picked = [rows[i] for i in batch]
            keep = 1 + max((p[2][1] for p in picked if isinstance(p[2], tuple)), default=0)
            items = [(requests[r].image, head) for r, _, _ in picked]
            logits, *_ = self._run_suffixes(items, [ids for _, ids, _ in picked], keep)
            return torch.log_softmax(logits.float(), dim=-1)

        def cost(i: int) -> Cost:
            return self._cost(requests[rows[i][0]].image, cut + len(rows[i][1]))

        for batch, logprobs in self._in_batches(order, run, cost):
            for row, i in enumerate(batch):
                r, ids, payload = rows[i]
                if isinstance(payload, tuple):  # (continuation, token count): tokens at the end of ids
                    c, count = payload
                    targets = torch.tensor(ids[len(ids) - count :], device=logprobs.device)
                    window = logprobs[row, -count - 1 : -1]
                    total = float(window.gather(-1, targets[:, None]).sum()) if count else 0.0
                    scores[r][c] = ContinuationScore(total, count)
                else:
                    for c, token in payload:
                        scores[r][c] = ContinuationScore(float(logprobs[row, -1, token]), 1)
        return [[s for s in per_request if s is not None] for per_request in scores]

    def _score_plain(self, requests: Sequence[ScoreRequest]) -> list[list[ContinuationScore]]:
        chats = [self._chat(request.prompt) for request in requests]
        single, full_rows = self._continuation_rows(chats, requests)
        scores: list[list[ContinuationScore | None]] = [[None] * len(q.continuations) for q in requests]
        prompt_rows = [(r, chats[r], tokens) for r, (_, tokens) in single.items()]
        for batch, last in self._forward(requests, prompt_rows, keep=1):
            for row, (r, _, tokens) in enumerate(batch):
                for c, token in tokens:
                    scores[r][c] = ContinuationScore(float(last[row, -1, token]), 1)
        lead = self.turn.lead
        texts = [(r, chats[r] + lead + requests[r].continuations[c], (c, count)) for r, c, _, count in full_rows]
        for batch, token_logprobs in self._forward(requests, texts, keep=0):
            for row, (r, _, (c, count)) in enumerate(batch):
                # Left padding: every row ends at the last column, so its continuation is the last tokens.
                total = float(token_logprobs[row, token_logprobs.shape[1] - count :].sum()) if count else 0.0
                scores[r][c] = ContinuationScore(total, count)
        return [[s for s in per_request if s is not None] for per_request in scores]

    def _forward(self, requests: Sequence[ScoreRequest], rows: list[tuple[int, str, Any]], keep: int) -> Any:
        """Batched forward passes over (request, text, payload) rows. With ``keep`` 1, yields each
        batch with the log-probabilities at its last position; with 0, with the log-probability of
        each row's last tokens (as many as the batch's longest continuation): only those positions'
        logits are computed, never the whole [batch, length, vocab]."""
        import torch

        order = sorted(range(len(rows)), key=lambda i: (len(rows[i][1]), i))
        lengths = self._token_counts([text for _, text, _ in rows])

        def run(batch_rows: Sequence[int]) -> Any:
            batch = [rows[i] for i in batch_rows]
            images = [self._images.get(requests[r].image) for r, _, _ in batch]
            inputs = self.family.inputs(self.processor, images, [text for _, text, _ in batch])
            inputs = inputs.to(self.device)
            inputs.pop("labels", None)  # PaliGemma's processor adds them; a loss is not wanted
            width = keep or 1 + max(payload[1] for _, _, payload in batch)
            with torch.inference_mode():
                logits = self.model(**inputs, logits_to_keep=width).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            if keep:
                return logprobs
            ids = inputs["input_ids"]
            targets = ids[:, ids.shape[1] - width + 1 :].unsqueeze(-1)
            return logprobs[:, :-1].gather(-1, targets).squeeze(-1)

        def cost(i: int) -> Cost:
            return self._cost(requests[rows[i][0]].image, lengths[i])

        for batch_rows, logits in self._in_batches(order, run, cost):
            yield [rows[i] for i in batch_rows], logits

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


def cache_kwarg(model: Any) -> str:
    """The forward argument taking a key/value cache: ``cache`` since transformers renamed it
    (``past_key_values`` then warns, and goes in 5.40), ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def cache_of(output: Any) -> Any:
    """A forward output's key/value cache, read without the deprecated ``past_key_values`` name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def process_peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
