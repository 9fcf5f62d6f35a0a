"""Likelihood scoring: the log-probability of each continuation as the assistant's answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_vlm.models.base import ContinuationScore, ScoreRequest
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
            if all(chat is not None for chat in chats) and (self._reuse_checked or self._check_first(requests[0])):
                return self._score_reused(requests, chats)  # type: ignore[arg-type]
        return self._score_plain(requests)

    def _check_first(self, request: ScoreRequest) -> bool:
        """The one-off check against the plain path, on the first request's prompt."""
        plan = self._plan([request.prompt], [0])
        return plan is not None and self._check_reuse((request.image, plan[0][0]), plan[0][1], plan[0][2])

    def _continuation_rows(self, prompts: Sequence[str], requests: Sequence[ScoreRequest]) -> tuple[dict, list]:
        """Split continuations into one-token ones (read off the prompt's last position) and longer ones."""
        single: dict[int, tuple[list[int], list[tuple[int, int]]]] = {}  # request -> prompt ids, (continuation, token)
        full: list[tuple[int, int, list[int], int]] = []  # request, continuation, token ids, continuation tokens
        for r, (request, prompt) in enumerate(zip(requests, prompts)):
            prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            for c, continuation in enumerate(request.continuations):
                full_ids = self.tokenizer(prompt + continuation, add_special_tokens=False)["input_ids"]
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
        single, full = self._continuation_rows([chat[len(head) :] for chat in chats], requests)
        scores: list[list[ContinuationScore | None]] = [[None] * len(q.continuations) for q in requests]
        rows = [(r, ids, tokens) for r, (ids, tokens) in single.items()]
        rows += [(r, ids, (c, count)) for r, c, ids, count in full]
        order = sorted(range(len(rows)), key=lambda i: (len(rows[i][1]), i))

        def run(batch: Sequence[int]) -> Any:
            picked = [rows[i] for i in batch]
            keep = 1 + max((p[2][1] for p in picked if isinstance(p[2], tuple)), default=0)
            items = [(requests[r].image, head) for r, _, _ in picked]
            logits, *_ = self._run_suffixes(items, [ids for _, ids, _ in picked], keep)
            return torch.log_softmax(logits.float(), dim=-1)

        for batch, logprobs in self._in_batches(order, run):
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
        import torch

        chats = [self._chat(request.prompt) for request in requests]
        single, full_rows = self._continuation_rows(chats, requests)
        scores: list[list[ContinuationScore | None]] = [[None] * len(q.continuations) for q in requests]
        prompt_rows = [(r, chats[r], tokens) for r, (_, tokens) in single.items()]
        for batch, logits in self._forward(requests, prompt_rows):
            last = torch.log_softmax(logits[:, -1].float(), dim=-1)
            for row, (r, _, tokens) in enumerate(batch):
                for c, token in tokens:
                    scores[r][c] = ContinuationScore(float(last[row, token]), 1)
        texts = [(r, chats[r] + requests[r].continuations[c], (c, count)) for r, c, _, count in full_rows]
        for batch, token_logprobs in self._forward(requests, texts, targets=True):
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

        def run(batch_rows: Sequence[int]) -> Any:
            batch = [rows[i] for i in batch_rows]
            images = [self._images.get(requests[r].image) for r, _, _ in batch]
            inputs = self.family.inputs(self.processor, images, [text for _, text, _ in batch])
            inputs = inputs.to(self.device)
            with torch.inference_mode():
                logits = self.model(**inputs).logits
            if targets:
                logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
                logits = logprobs.gather(-1, inputs["input_ids"][:, 1:].unsqueeze(-1)).squeeze(-1)
            return logits

        for batch_rows, logits in self._in_batches(order, run):
            yield [rows[i] for i in batch_rows], logits
