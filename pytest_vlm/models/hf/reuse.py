"""Prefix reuse: encode each image's part of the chat once, then run only each question's own tokens
on top of a copy of its cache; checked once against the plain path before it is trusted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pytest_vlm.models.base import ImageSource
from pytest_vlm.models.device import image_key, is_out_of_memory
from pytest_vlm.models.hf.core import HFCore
from pytest_vlm.models.hf.memory import Cost
from pytest_vlm.models.hf.prefix import (
    Prefix,
    assemble,
    cache_kwargs,
    returned_cache,
    split_prefixes,
)


class PrefixReuse(HFCore):
    def _plan(self, prompts: Sequence[str], shared: Sequence[int]) -> list[tuple[str, list[int], str]] | None:
        """For each prompt, the text to encode once per image (the head, plus the shared start of
        the prompt), the token ids that follow it and the whole chat text; None when the template
        gets in the way.

        The shared start is cut at a space, and kept only where the full chat's tokens begin with
        its own tokens, so the ids that follow are exactly the plain path's."""
        assert self._split is not None
        split = self._split
        chats = [split.chat(prompt, self._chat) for prompt in prompts]
        ready = [chat for chat in chats if chat is not None]
        if len(ready) < len(chats):
            return None
        starts = []
        for prompt, length in zip(prompts, shared):
            cut = prompt.rfind(" ", 0, length + 1) if length else 0
            starts.append(split.head + prompt[: max(cut, 0)])
        distinct = sorted(set(starts) | {split.head})
        start_ids = dict(zip(distinct, self.tokenizer(distinct, add_special_tokens=False)["input_ids"]))
        fast = self._split_tokens(starts, ready, start_ids)
        if fast is not None:
            return fast
        plan: list[tuple[str, list[int], str]] = []
        full_ids = self.tokenizer(ready, add_special_tokens=False)["input_ids"]
        for start, full, chat in zip(starts, full_ids, ready):
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

        # The images needed next join a batch that has to run anyway, while the budget admits them.
        longest = max((cost(key).tokens for key in missing), default=0)
        held = sum(cost(key).image_bytes for key in missing)
        for source, text in ahead if missing else ():
            key = (image_key(source), text)
            if key in missing or self._prefixes.get(key) is not None:
                continue
            missing[key] = (source, text)
            extra = cost(key)
            if not self.budget.admits(len(missing) - 1, longest, held, extra):
                del missing[key]
                break
            longest, held = max(longest, extra.tokens), held + extra.image_bytes
        for chunk in self.budget.batches(list(missing), cost):
            images = [self._images.get(missing[key][0]) for key in chunk]
            inputs = self.family.inputs(self.processor, images, [missing[key][1] for key in chunk]).to(self.device)
            positions, starts = self._positions.prefix(self.model, inputs)
            with torch.inference_mode():
                out = self.model(**inputs, position_ids=positions, use_cache=True, logits_to_keep=1)
            for encoded, prefix in zip(chunk, split_prefixes(inputs, returned_cache(out), starts)):
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
                **cache_kwargs(self.model, batch["cache"]),
                use_cache=True,
                logits_to_keep=keep,
            )
        next_positions = batch["starts"] + batch["suffix_mask"].sum(-1)
        return out.logits, returned_cache(out), batch["attention_mask"], next_positions

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
