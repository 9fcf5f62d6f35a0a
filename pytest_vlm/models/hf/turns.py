"""The assistant's turn as the chat template writes it: what precedes an answer and what ends it.

Scoring a class name as the model's answer must give the tokens the model would write, and the
template decides them: LLaVA-NeXT-Mistral writes ``[/INST]`` then a space then the answer, so with a
SentencePiece tokenizer ``triangle`` is ``▁triangle``, while appended straight after the prompt it is
``tri``, ``angle``; Idefics3 and SmolVLM write ``Assistant:`` then a space. Generation must stop at
the token the template closes the turn with (``<|im_end|>``, ``<|eot_id|>``, ``<end_of_turn>``,
``<end_of_utterance>``), which real checkpoints often leave out of ``generation_config``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_ANSWER = "\ue001pytest-vlm-answer\ue001"


@dataclass(frozen=True)
class AssistantTurn:
    """``lead``: the text between the generation prompt and the answer; ``end_ids``: the token the
    template closes the turn with, when it is a special token of the tokenizer."""

    lead: str = ""
    end_ids: tuple[int, ...] = ()


def assistant_turn(family: Any, processor: Any, tokenizer: Any) -> AssistantTurn:
    """Render a probe conversation with and without an answer turn and read the turn off the difference."""
    try:
        asked = family.render(processor, "Q")
        answered = family.render_turn(processor, "Q", _ANSWER)
    except Exception:  # noqa: BLE001 - a template that refuses an assistant turn: nothing to learn
        return AssistantTurn()
    if answered.count(_ANSWER) != 1:
        return AssistantTurn()
    before, after = answered.split(_ANSWER)
    lead = before[len(asked) :] if before.startswith(asked) and not before[len(asked) :].strip() else ""
    end_ids: tuple[int, ...] = ()
    ids = tokenizer(after, add_special_tokens=False)["input_ids"]
    added = getattr(tokenizer, "added_tokens_decoder", {})
    if ids and (ids[0] in set(tokenizer.all_special_ids) or (ids[0] in added and added[ids[0]].special)):
        end_ids = (ids[0],)
    return AssistantTurn(lead, end_ids)
