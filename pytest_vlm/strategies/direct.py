"""Direct: a conventional classifier scores the classes itself; no prompt, no answer to parse.

The baseline row next to the vision-language models: image-classification models (labels from
their ``id2label``) and zero-shot CLIP/SigLIP-style models (each class name put into ``template``)
answer the same benchmark. The prediction is the class with the highest score; a tie goes to the
class listed first. Only models that implement :class:`~pytest_vlm.models.base.ClassifiesImages`
run it, and for those models it replaces the benchmark's prompt strategies (see
:func:`pytest_vlm.collect.strategies_for`): a classifier cannot be prompted, and a VLM cannot classify directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import ClassifiesImages
from pytest_vlm.strategies.base import Example, ImagePrediction, best_scored, check_template

# CLIP's own zero-shot prompt; used only by zero-shot models.
TEMPLATE = "a photo of a {class}."
KIND = "direct"
# Backends whose models classify directly (see models/pool.py): they get direct items only.
DIRECT_BACKENDS = frozenset({"classifier"})


@dataclass(frozen=True)
class DirectParams:
    template: str = TEMPLATE

    def __post_init__(self) -> None:
        check_template(self.template, "{class}")


class Direct:
    kind: ClassVar[str] = KIND
    Params: ClassVar[type] = DirectParams

    def __init__(self, params: DirectParams, *, classes: Sequence[str], background: str | None, seed: int) -> None:
        self.params = params
        self.classes = tuple(classes)

    def run(self, model: Any, examples: Sequence[Example]) -> list[ImagePrediction]:
        if not isinstance(model, ClassifiesImages):
            raise ModelError(
                f"model {model.name} is not a conventional classifier, so it cannot run the direct strategy; "
                "use closed_set, binary or likelihood with it"
            )
        scores = model.classify(examples, self.classes, self.params.template)
        return [best_scored(ex, self.classes, per_class) for ex, per_class in zip(examples, scores)]
