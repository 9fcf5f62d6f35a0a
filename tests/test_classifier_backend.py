"""The classifier backend on real checkpoints: tiny random CLIP and ViT built from config classes,
and the shipped, trained tiny-shapes-classifier."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from pytest_vlm.data import shapes
from pytest_vlm.data.sources import load_dataset
from pytest_vlm.errors import ModelError
from pytest_vlm.models.aliases import ALIASES, TINY_SHAPES_CLASSIFIER_DIR
from pytest_vlm.models.base import ClassifiesImages, Describes
from pytest_vlm.models.classifier import (
    IMAGE_CLASSIFICATION,
    ZERO_SHOT,
    ClassifierModel,
    is_classifier_folder,
    match_labels,
)
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.pool import load_model
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.spec import parse_spec
from pytest_vlm.strategies.direct import Direct, DirectParams

CLASSES = (*shapes.SHAPES, shapes.BACKGROUND)
# Two labels name "circle" (one as a plural), one lists synonyms, one names no class.
VIT_LABELS = ("Circles", "square, box", "triangle", "star", "cross", "heart", "background", "circle", "tree")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pytest_vlm.tiny.classifiers import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("clf") / "tiny-clip")


@pytest.fixture(scope="session")
def tiny_siglip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pytest_vlm.tiny.classifiers import build_tiny_siglip

    return build_tiny_siglip(tmp_path_factory.mktemp("clf") / "tiny-siglip")


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pytest_vlm.tiny.classifiers import build_tiny_vit

    return build_tiny_vit(tmp_path_factory.mktemp("clf") / "tiny-vit", VIT_LABELS)


@pytest.fixture(scope="session")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> list:
    """70 images of the shipped benchmark's held-out set (seed 2026, medium), as dataset examples."""
    path = tmp_path_factory.mktemp("spec") / "held.vlm.yaml"
    path.write_text(
        "dataset: {generated: shapes, count: 70, seed: 2026, difficulty: medium}\n"
        f"classes: [{', '.join(CLASSES)}]\nstrategies: [direct]\n"
    )
    return list(load_dataset(parse_spec(path)).examples)


def load(source: Path | str, batch_size: int = 32, name: str = "m") -> ClassifierModel:
    return ClassifierModel(
        ModelSpec(name, "classifier", str(source)), RuntimeOptions(device="cpu", batch_size=batch_size)
    )


# --------------------------------------------------------------------------- label matching


def test_labels_match_class_names_like_answers_do() -> None:
    assert match_labels("m", dict(enumerate(VIT_LABELS)), CLASSES) == [[0, 7], [1], [2], [3], [4], [5], [6]]
    imagenet_like = {0: "tabby, tabby cat", 1: "Egyptian cat", 2: "golden retriever", 3: "teddy, teddy bear"}
    assert match_labels("m", imagenet_like, ("cat", "teddy-bear")) == [[0, 1], [3]]


def test_missing_classes_are_named_with_what_to_do() -> None:
    labels = {i: f"LABEL_{i}" for i in range(12)}
    with pytest.raises(ModelError) as info:
        match_labels("vit", labels, ("circle", "square"))
    assert str(info.value) == (
        "model vit: no label in its config.id2label names the benchmark class(es) circle, square "
        "(its labels: LABEL_0, LABEL_1, LABEL_2, LABEL_3, LABEL_4, LABEL_5, LABEL_6, LABEL_7, LABEL_8, LABEL_9, "
        "... (12 labels)). Rename the benchmark's classes to the model's labels (dataset 'rename' or 'classes'), "
        "use a classifier trained on these classes, or a zero-shot model (CLIP/SigLIP), which takes any class names"
    )


def test_a_classifier_without_the_benchmark_classes_fails_its_item(tiny_vit: Path, held_out: list) -> None:
    model = load(tiny_vit, name="tiny-vit")
    with pytest.raises(ModelError, match=r"^model tiny-vit: no label in its config.id2label names .* dog, cat \("):
        Direct(DirectParams(), classes=("circle", "dog", "cat"), background=None, seed=0).run(model, held_out[:2])


# --------------------------------------------------------------------------- loading


def test_folders_are_recognised_by_their_config(tiny_clip: Path, tiny_vit: Path, tmp_path: Path) -> None:
    assert is_classifier_folder(tiny_clip) and is_classifier_folder(tiny_vit)
    assert is_classifier_folder(TINY_SHAPES_CLASSIFIER_DIR)
    vlm = tmp_path / "vlm"
    vlm.mkdir()
    (vlm / "config.json").write_text(
        json.dumps({"model_type": "qwen2_vl", "architectures": ["Qwen2VLForConditionalGeneration"]})
    )
    assert not is_classifier_folder(vlm)
    assert resolve_model(str(tiny_vit), base_dir=tmp_path).backend == "classifier"
    assert resolve_model(str(tiny_clip), base_dir=tmp_path).backend == "classifier"
    assert resolve_model("vlm", base_dir=tmp_path).backend == "hf"


def test_aliases() -> None:
    assert ALIASES["tiny-shapes-classifier"] == ModelSpec(
        "tiny-shapes-classifier",
        "classifier",
        str(TINY_SHAPES_CLASSIFIER_DIR),
        notes=ALIASES["tiny-shapes-classifier"].notes,
    )
    assert ALIASES["clip-vit-base-patch32"].source == "openai/clip-vit-base-patch32"
    assert ALIASES["siglip-base-patch16-224"].source == "google/siglip-base-patch16-224"
    assert "zero-shot" in ALIASES["clip-vit-base-patch32"].notes
    assert ALIASES["vit-base-patch16-224"].backend == "classifier"


def test_a_vlm_folder_is_not_a_classifier(tiny_qwen2_vl: Path) -> None:
    with pytest.raises(
        ModelError, match=r"^model qwen \(.*\) is not a classifier: its architectures .* load it as a VLM"
    ):
        load(tiny_qwen2_vl, name="qwen")


def test_unloadable_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "vit", "architectures": ["ViTForImageClassification"]})
    )
    with pytest.raises(ModelError, match=r"^cannot load classifier broken from .*\nA hub id needs network access"):
        load(tmp_path, name="broken")


# --------------------------------------------------------------------------- scores


def test_zero_shot_scores_are_clip_image_text_similarities(tiny_clip: Path, held_out: list) -> None:
    """Checked against CLIP's embeddings computed apart: logit_scale * cosine(image, "a photo of a {class}.")."""
    import torch
    from transformers import AutoProcessor, CLIPModel

    model = load(tiny_clip, batch_size=4)
    assert model.kind == ZERO_SHOT
    examples = held_out[:6]
    scores = model.classify(examples, CLASSES, "a photo of a {class}.")

    clip = CLIPModel.from_pretrained(tiny_clip).eval()
    processor = AutoProcessor.from_pretrained(tiny_clip)
    with torch.no_grad():
        text = clip.get_text_features(
            **processor.tokenizer([f"a photo of a {c}." for c in CLASSES], padding=True, return_tensors="pt")
        ).pooler_output
        image = clip.get_image_features(
            **processor.image_processor([e.load() for e in examples], return_tensors="pt")
        ).pooler_output
    expected = (
        clip.logit_scale.exp()
        * torch.nn.functional.normalize(image, dim=-1)
        @ torch.nn.functional.normalize(text, dim=-1).T
    )
    assert torch.allclose(torch.tensor(scores), expected, atol=1e-4)
    other = model.classify(examples, CLASSES, "a drawing of a {class}")
    assert other != scores  # the template reaches the text encoder


def test_siglip_scores_use_text_padded_to_64_tokens(tiny_siglip: Path, held_out: list) -> None:
    """SigLIP: logit_scale * cosine + logit_bias, the text padded to 64 tokens as SigLIP was trained."""
    import torch
    from transformers import AutoProcessor, SiglipModel

    model = load(tiny_siglip, batch_size=4)
    assert model.kind == ZERO_SHOT
    examples = held_out[:5]
    scores = model.classify(examples, CLASSES, "a photo of a {class}.")

    siglip = SiglipModel.from_pretrained(tiny_siglip).eval()
    processor = AutoProcessor.from_pretrained(tiny_siglip)
    texts = [f"a photo of a {c}." for c in CLASSES]
    with torch.no_grad():
        ids = processor.tokenizer(texts, padding="max_length", max_length=64, return_tensors="pt")
        assert ids["input_ids"].shape == (len(CLASSES), 64)
        text = siglip.get_text_features(**ids).pooler_output
        image = siglip.get_image_features(
            **processor.image_processor([e.load() for e in examples], return_tensors="pt")
        ).pooler_output
    normalize = torch.nn.functional.normalize
    expected = siglip.logit_scale.exp() * normalize(image, dim=-1) @ normalize(text, dim=-1).T + siglip.logit_bias
    assert torch.allclose(torch.tensor(scores), expected, atol=1e-4)


def test_image_classification_scores_are_the_best_matching_label_logprob(tiny_vit: Path, held_out: list) -> None:
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    model = load(tiny_vit)
    assert model.kind == IMAGE_CLASSIFICATION
    examples = held_out[:5]
    scores = model.classify(examples, CLASSES, "ignored {class}")

    vit = AutoModelForImageClassification.from_pretrained(tiny_vit).eval()
    pixels = AutoImageProcessor.from_pretrained(tiny_vit)([e.load() for e in examples], return_tensors="pt")
    with torch.no_grad():
        logprobs = torch.log_softmax(vit(**pixels).logits, dim=-1).tolist()
    for row, got in zip(logprobs, scores):
        # circle: labels 0 and 7; the others in order; "tree" (8) is no class and is ignored.
        expected = [max(row[0], row[7]), *row[1:7]]
        assert got == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("which", ["shipped", "vit", "clip"])
def test_predictions_do_not_depend_on_the_batch_size(
    which: str, tiny_vit: Path, tiny_clip: Path, held_out: list
) -> None:
    source = {"shipped": TINY_SHAPES_CLASSIFIER_DIR, "vit": tiny_vit, "clip": tiny_clip}[which]
    examples = held_out[:13]
    runs = [
        Direct(DirectParams(), classes=CLASSES, background="background", seed=0).run(
            load(source, batch_size=b), examples
        )
        for b in (1, 4, 64)
    ]
    assert [p.prediction for p in runs[0]] == [p.prediction for p in runs[1]] == [p.prediction for p in runs[2]]


# --------------------------------------------------------------------------- the shipped model


def test_shipped_classifier_is_accurate_on_held_out_images(held_out: list) -> None:
    model = load_model(ALIASES["tiny-shapes-classifier"], RuntimeOptions(device="cpu"))
    assert isinstance(model, ClassifiesImages) and isinstance(model, Describes)
    assert model.describe()["architecture"] == "ResNetForImageClassification"
    assert model.describe()["kind"] == IMAGE_CLASSIFICATION
    predictions = Direct(DirectParams(), classes=CLASSES, background="background", seed=0).run(model, held_out)
    accuracy = sum(p.correct for p in predictions) / len(predictions)
    assert accuracy >= 0.9, accuracy
    model.close()


def test_shipped_classifier_files_match_its_card() -> None:
    folder = TINY_SHAPES_CLASSIFIER_DIR
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["ResNetForImageClassification"]
    assert [config["id2label"][str(i)] for i in range(len(CLASSES))] == list(CLASSES)
    weights = folder / "model.safetensors"
    assert weights.stat().st_size < 2_000_000
    card = (folder / "MODEL_CARD.md").read_text()
    digest = re.search(r"`model.safetensors` sha256: `([0-9a-f]{64})`", card)
    assert digest is not None
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == digest.group(1)
