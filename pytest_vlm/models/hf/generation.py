"""Greedy generation: the plain path (``generate`` on whole prompts) and the reuse path's own loop,
which drops finished rows and stops a row once its answer is settled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pytest_vlm.models.base import GenerationRequest, ImageSource
from pytest_vlm.models.hf.memory import Cost
from pytest_vlm.models.hf.prefix import cache_kwargs, returned_cache
from pytest_vlm.models.hf.reuse import PrefixReuse
from pytest_vlm.strategies.answers import settled, settled_on_prefix


class Generation(PrefixReuse):
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
                    **cache_kwargs(self.model, cache),
                    use_cache=True,
                    logits_to_keep=1,
                )
            logits, cache, next_positions = out.logits, returned_cache(out), next_positions + 1
        answers = [self.tokenizer.decode(t, skip_special_tokens=True).strip() for t in tokens]
        # An answer settled on the start of a choice ("back") is recorded as that choice.
        return [
            choice if choice is not None and settled_on_prefix(a, choice) else a for a, choice in zip(answers, decided)
        ]
