"""Likelihood scoring: the log-probability of each continuation as the assistant's answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_vlm.models.base import ContinuationScore, ScoreRequest
from pytest_vlm.models.hf.memory import Cost
from pytest_vlm.models.hf.reuse import PrefixReuse


class Scoring(PrefixReuse):
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
