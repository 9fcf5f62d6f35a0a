"""The conventional-classifier backend: transformers image classifiers and zero-shot CLIP/SigLIP.

Two kinds of checkpoint answer a benchmark directly (the ``direct`` strategy, no prompting):

* image classification (``AutoModelForImageClassification`` + its image processor): the model's
  labels (``config.id2label``) are matched to the benchmark's class names the way answers are
  (:class:`~pytest_vlm.strategies.answers.ClassMatcher`: case, plurals, articles, ``_``/``-`` do not
  matter; a label may list synonyms separated by commas, as ImageNet's do). A class's score is the
  best log-probability among the labels that name it; labels that name no class are ignored, so a
  1000-label ImageNet model answers a 7-class benchmark among those 7 classes;
* zero-shot (model types transformers lists for zero-shot image classification: CLIP, SigLIP, ...;
  ``AutoModel`` + ``AutoProcessor``): each class name is put into the strategy's template
  (``a photo of a {class}.`` unless the spec says otherwise) and the score is the model's
  image-text logit.

Images go through the model's own image processor only (its PIL implementation where torchvision is
absent). Inference is batched by ``--vlm-batch-size``; a batch's predictions do not depend on the
others in it (eval mode: batch norm uses its running statistics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_vlm.errors import ModelError
from pytest_vlm.models.base import ImageSource
from pytest_vlm.models.device import DeviceModel, RuntimeOptions, load_error
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.strategies.answers import ClassMatcher
from pytest_vlm.strategies.base import fill

IMAGE_CLASSIFICATION = "image-classification"
ZERO_SHOT = "zero-shot"


def zero_shot_model_types() -> frozenset[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES

    return frozenset(MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES)


def classifier_kind(config: Any) -> str | None:
    """``zero-shot``, ``image-classification`` or None (not a classifier) for a transformers config."""
    if config.model_type in zero_shot_model_types():
        return ZERO_SHOT
    if any(a.endswith("ForImageClassification") for a in getattr(config, "architectures", None) or ()):
        return IMAGE_CLASSIFICATION
    return None


def is_classifier_folder(path: Path) -> bool:
    """Whether the checkpoint folder at ``path`` holds a classifier (read from its config.json only)."""
    import json

    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(config, dict):
        return False
    architectures = config.get("architectures") or ()
    if any(str(a).endswith("ForImageClassification") for a in architectures):
        return True
    return config.get("model_type") in zero_shot_model_types()


def match_labels(model: str, id2label: Mapping[int, str], classes: Sequence[str]) -> list[list[int]]:
    """For each class, the indices of the model labels that name it; every class must have one."""
    matcher = ClassMatcher(classes)
    found: dict[str, list[int]] = {c: [] for c in classes}
    for index, label in sorted(id2label.items(), key=lambda item: int(item[0])):
        for synonym in str(label).split(","):
            name = matcher.match(synonym)
            if name is not None:
                found[name].append(int(index))
                break
    missing = [c for c in classes if not found[c]]
    if missing:
        labels = [str(id2label[k]) for k in sorted(id2label, key=int)]
        shown = ", ".join(labels[:10]) + (f", ... ({len(labels)} labels)" if len(labels) > 10 else "")
        raise ModelError(
            f"model {model}: no label in its config.id2label names the benchmark class(es) "
            f"{', '.join(missing)} (its labels: {shown}). Rename the benchmark's classes to the model's labels "
            "(dataset 'rename' or 'classes'), use a classifier trained on these classes, "
            "or a zero-shot model (CLIP/SigLIP), which takes any class names"
        )
    return [found[c] for c in classes]


class ClassifierModel(DeviceModel):
    """A transformers image classifier or zero-shot image-text model, scoring classes directly."""

    def __init__(self, spec: ModelSpec, runtime: RuntimeOptions) -> None:
        from transformers import AutoConfig

        self._place(spec, runtime, alias_dtype=False)
        kwargs: dict[str, Any] = {"revision": spec.revision, "trust_remote_code": spec.trust_remote_code}
        try:
            config = AutoConfig.from_pretrained(spec.source, **kwargs)
            kind = classifier_kind(config)
            if kind is None:
                raise ModelError(
                    f"model {spec.name} ({spec.source}) is not a classifier: its architectures "
                    f"{getattr(config, 'architectures', None)} are no *ForImageClassification and its model type "
                    f"{config.model_type!r} is not a zero-shot image-text model; load it as a VLM instead"
                )
            self.kind = kind
            if kind == ZERO_SHOT:
                from transformers import AutoModel, AutoProcessor

                self.processor = AutoProcessor.from_pretrained(spec.source, **kwargs)
                self.model = AutoModel.from_pretrained(spec.source, dtype=self.dtype, **kwargs)
            else:
                from transformers import AutoImageProcessor, AutoModelForImageClassification

                self.processor = AutoImageProcessor.from_pretrained(spec.source, **kwargs)
                self.model = AutoModelForImageClassification.from_pretrained(spec.source, dtype=self.dtype, **kwargs)
        except (OSError, ValueError, ImportError) as exc:  # ImportError: a processor that needs torchvision
            raise load_error(
                f"classifier {spec.name} from {spec.source}",
                str(exc),
                "a folder needs config.json, weights and the image processor's files.",
            ) from exc
        self.model.to(self.device).eval()

    def classify(self, images: Sequence[ImageSource], classes: Sequence[str], template: str) -> list[list[float]]:
        import torch

        labels = match_labels(self.name, self.model.config.id2label, classes) if self.kind != ZERO_SHOT else []
        texts = [fill(template, "{class}", c) for c in classes]
        scores: list[list[float]] = []
        for start in range(0, len(images), self.batch_size):
            pixels = [source.load().convert("RGB") for source in images[start : start + self.batch_size]]
            with torch.inference_mode():
                if self.kind == ZERO_SHOT:
                    logits = self._zero_shot_logits(pixels, texts)
                else:
                    inputs = self.processor(images=pixels, return_tensors="pt").to(self.device)
                    inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
                    logprobs = torch.log_softmax(self.model(**inputs).logits.float(), dim=-1)
                    logits = torch.stack([logprobs[:, ids].max(dim=-1).values for ids in labels], dim=-1)
            scores += logits.float().cpu().tolist()
        return scores

    def _zero_shot_logits(self, pixels: list[Any], texts: list[str]) -> Any:
        # SigLIP was trained on text padded to 64 tokens, and scores differ without it (as in
        # transformers' zero-shot-image-classification pipeline).
        text_kwargs: dict[str, Any] = {"padding": True}
        if "siglip" in self.model.config.model_type:
            text_kwargs = {"padding": "max_length", "max_length": 64, "truncation": True}
        inputs = self.processor(images=pixels, text=texts, return_tensors="pt", **text_kwargs).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        return self.model(**inputs).logits_per_image

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "classifier",
            "kind": self.kind,
            "source": self.spec.source,
            "revision": self.spec.revision,
            "architecture": type(self.model).__name__,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "batch_size": self.batch_size,
        }


def load_classifier(spec: ModelSpec, runtime: RuntimeOptions) -> ClassifierModel:
    return ClassifierModel(spec, runtime)
