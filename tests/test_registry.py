"""Model names -> ModelSpec (aliases, folders, hub ids), and the scripted models."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes import Img
from pytest_vlm.errors import ModelError
from pytest_vlm.models.aliases import ALIASES, DEFAULT_MODEL, TINY_SHAPES_DIR
from pytest_vlm.models.base import Describes, GenerationRequest, VisionLanguageModel
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.models.scripted import BEHAVIOURS, ScriptedModel
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.strategies.binary import Binary, BinaryParams
from pytest_vlm.strategies.closed_set import ClosedSet, ClosedSetParams

ALIAS_NAMES = ", ".join(ALIASES)


def checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return folder


# --- resolve_model ---------------------------------------------------------------------------


def test_default_model_is_an_alias() -> None:
    assert DEFAULT_MODEL == "tiny-shapes"
    assert DEFAULT_MODEL in ALIASES


def test_tiny_shapes_alias(tmp_path: Path) -> None:
    spec = resolve_model("tiny-shapes", base_dir=tmp_path)
    assert spec == ModelSpec("tiny-shapes", "hf", str(TINY_SHAPES_DIR), notes=ALIASES["tiny-shapes"].notes)
    assert Path(spec.source).parts[-2:] == ("tiny", "tiny-shapes")
    assert Path(spec.source).parent.parent.name == "pytest_vlm"


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("qwen2-vl-7b", "Qwen/Qwen2-VL-7B-Instruct"),
        ("qwen2-vl-2b", "Qwen/Qwen2-VL-2B-Instruct"),
        ("  qwen2-vl-7b\n", "Qwen/Qwen2-VL-7B-Instruct"),
    ],
)
def test_hub_aliases(tmp_path: Path, name: str, source: str) -> None:
    spec = resolve_model(name, base_dir=tmp_path)
    assert (spec.name, spec.backend, spec.source) == (name.strip(), "hf", source)
    assert spec.revision is None and spec.trust_remote_code is False


@pytest.mark.parametrize("behaviour", ["oracle", "noisy", "mute"])
def test_scripted_aliases(tmp_path: Path, behaviour: str) -> None:
    spec = resolve_model(f"scripted:{behaviour}", base_dir=tmp_path)
    assert (spec.name, spec.backend, spec.source) == (f"scripted:{behaviour}", "scripted", behaviour)


def test_alias_wins_over_a_folder_of_the_same_name(tmp_path: Path) -> None:
    checkpoint(tmp_path / "qwen2-vl-2b")
    assert resolve_model("qwen2-vl-2b", base_dir=tmp_path) is ALIASES["qwen2-vl-2b"]


def test_local_folder_relative_to_base_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = checkpoint(tmp_path / "runs" / "my-model")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative names start at base_dir, not at the working directory
    for name in ("runs/my-model", "./runs/my-model", "runs/../runs/my-model", str(folder)):
        spec = resolve_model(name, base_dir=tmp_path)
        assert spec == ModelSpec(name="my-model", backend="hf", source=str(folder.resolve())), name


def test_local_folder_wins_over_a_hub_id_of_the_same_name(tmp_path: Path) -> None:
    folder = checkpoint(tmp_path / "Qwen" / "Qwen2-VL-7B-Instruct")
    spec = resolve_model("Qwen/Qwen2-VL-7B-Instruct", base_dir=tmp_path)
    assert spec == ModelSpec(name="Qwen2-VL-7B-Instruct", backend="hf", source=str(folder.resolve()))


def test_local_folder_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = checkpoint(tmp_path / "ckpt")
    assert resolve_model("~/ckpt", base_dir=tmp_path / "unused").source == str(folder.resolve())


def test_folder_without_config_json(tmp_path: Path) -> None:
    (tmp_path / "runs" / "empty").mkdir(parents=True)
    with pytest.raises(ModelError) as exc:
        resolve_model("runs/empty", base_dir=tmp_path)
    assert str(exc.value) == (
        f"model folder {tmp_path / 'runs' / 'empty'} has no config.json; point --vlm-model at a checkpoint folder"
    )


@pytest.mark.parametrize("name", ["./missing", "../missing", "./a/b/c", "runs\\missing"])
def test_missing_folder(tmp_path: Path, name: str) -> None:
    base = tmp_path / "base"
    with pytest.raises(ModelError) as exc:
        resolve_model(name, base_dir=base)
    assert str(exc.value) == (
        f"model folder {base / name} does not exist; check the path (relative paths start at {base})"
    )


def test_missing_absolute_folder(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(ModelError) as exc:
        resolve_model(str(missing), base_dir=Path("/somewhere"))
    assert str(exc.value) == (
        f"model folder {missing} does not exist; check the path (relative paths start at /somewhere)"
    )


@pytest.mark.parametrize(
    ("name", "local_name"),
    [
        ("someorg/some-model", "someorg--some-model"),
        ("org/model.v2_final", "org--model.v2_final"),
        ("HuggingFaceTB/SmolVLM-256M-Instruct", "HuggingFaceTB--SmolVLM-256M-Instruct"),
    ],
)
def test_hub_id(tmp_path: Path, name: str, local_name: str) -> None:
    assert resolve_model(name, base_dir=tmp_path) == ModelSpec(name=local_name, backend="hf", source=name)


@pytest.mark.parametrize("alias", ["qwen2-vl-2b", "qwen2-vl-7b"])
def test_hub_id_of_an_alias_resolves_to_the_alias(tmp_path: Path, alias: str) -> None:
    # the same checkpoint shares its alias's name (and so its baselines)
    assert resolve_model(ALIASES[alias].source, base_dir=tmp_path) is ALIASES[alias]


def test_unknown_name_with_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as exc:
        resolve_model("tiny-shape", base_dir=tmp_path)
    assert str(exc.value) == (
        f"unknown model 'tiny-shape' (did you mean 'tiny-shapes'?); known aliases: {ALIAS_NAMES}; "
        "or give a hub id (owner/name) or a checkpoint folder"
    )


def test_unknown_name_without_close_match(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as exc:
        resolve_model("blip", base_dir=tmp_path)
    assert str(exc.value) == (
        f"unknown model 'blip'; known aliases: {ALIAS_NAMES}; or give a hub id (owner/name) or a checkpoint folder"
    )


def test_scripted_typo_suggests_the_alias(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"did you mean 'scripted:oracle'\?"):
        resolve_model("scripted:oracel", base_dir=tmp_path)


# --- ScriptedModel ---------------------------------------------------------------------------

SHAPES = ["circle", "square", "star", "background"]


@dataclass(frozen=True)
class Unlabelled:
    id: str

    def load(self) -> object:
        raise AssertionError


def images(n: int = 40) -> list[Img]:
    return [Img(f"{SHAPES[i % 4]}-0-{i:05d}", SHAPES[i % 4]) for i in range(n)]


def noisy(image_id: str) -> bool:
    return hashlib.sha256(image_id.encode()).digest()[0] < 77


def test_scripted_model_protocols() -> None:
    model = ScriptedModel("scripted:oracle", "oracle")
    assert isinstance(model, VisionLanguageModel)
    assert isinstance(model, Describes)
    assert model.name == "scripted:oracle"
    assert model.describe() == {"backend": "scripted", "behaviour": "oracle"}
    model.close()


def test_unknown_behaviour() -> None:
    with pytest.raises(ModelError) as exc:
        ScriptedModel("scripted:x", "clever")
    assert str(exc.value) == "unknown scripted behaviour 'clever'; known: oracle, noisy, mute"
    assert BEHAVIOURS == ("oracle", "noisy", "mute")


def test_oracle_answers() -> None:
    model = ScriptedModel("o", "oracle")
    cat = Img("x", "circle")
    answers = model.generate(
        [
            GenerationRequest(cat, "Choose one from square, circle. Answer:"),
            GenerationRequest(cat, "Answer the question in one word: yes or no. Is the circle in this photo?"),
            GenerationRequest(cat, "Answer the question in one word: yes or no. Is the square in this photo?"),
            GenerationRequest(Img("y", "teddy bear"), "What is it?"),
        ]
    )
    assert answers == ["Circle", "Yes.", "No.", "Teddy bear"]
    assert model.calls == 4


def test_oracle_is_always_right_with_both_strategies() -> None:
    examples = images()
    model = ScriptedModel("o", "oracle")
    closed = ClosedSet(ClosedSetParams(votes=3), classes=SHAPES, background="background", seed=0).run(model, examples)
    assert all(p.correct for p in closed)
    assert model.calls == 3 * len(examples)
    binary = Binary(BinaryParams(), classes=SHAPES, background="background", seed=0).run(model, examples)
    assert all(p.correct for p in binary)
    assert model.calls == 3 * len(examples) + sum(len(p.asked) for p in binary)


def test_mute_never_answers_readably() -> None:
    examples = images(8)
    model = ScriptedModel("m", "mute")
    answers = model.generate([GenerationRequest(ex, "Is the circle in this photo? yes or no") for ex in examples])
    assert answers == ["I cannot tell."] * 8
    closed = ClosedSet(ClosedSetParams(), classes=SHAPES, background=None, seed=0).run(model, examples)
    assert all(p.prediction is None and p.parsed == (None, None, None) for p in closed)
    binary = Binary(BinaryParams(), classes=SHAPES, background="background", seed=0).run(model, examples)
    # no answer is a "yes", so every question is asked; unreadable answers never default to "background"
    assert all(p.prediction is None and p.asked == ("circle", "square", "star") for p in binary)


def test_noisy_is_unreadable_for_a_stable_third_of_images() -> None:
    examples = images(400)
    model = ScriptedModel("n", "noisy")
    answers = model.generate([GenerationRequest(ex, "Choose one. Answer:") for ex in examples])
    again = ScriptedModel("n2", "noisy").generate([GenerationRequest(ex, "Choose one. Answer:") for ex in examples])
    assert answers == again
    unreadable = [ex.id for ex, a in zip(examples, answers) if a == "I cannot tell."]
    assert unreadable == [ex.id for ex in examples if noisy(ex.id)]
    assert 0.2 < len(unreadable) / len(examples) < 0.4
    for ex, answer in zip(examples, answers):
        if not noisy(ex.id):
            assert answer == ex.label.capitalize()


def test_noisy_depends_on_the_image_not_the_prompt() -> None:
    ex = next(e for e in images(40) if noisy(e.id))
    model = ScriptedModel("n", "noisy")
    assert set(model.generate([GenerationRequest(ex, p) for p in ("a", "yes or no", "Choose")])) == {"I cannot tell."}


def test_image_without_label_gets_an_unreadable_answer() -> None:
    model = ScriptedModel("o", "oracle")
    assert model.generate([GenerationRequest(Unlabelled("u"), "Is the circle in this photo? yes or no")]) == [
        "I cannot tell."
    ]


def test_calls_count_requests_across_batches() -> None:
    model = ScriptedModel("o", "oracle")
    model.generate([])
    model.generate([GenerationRequest(Img("a", "star"), "x")] * 3)
    model.generate([GenerationRequest(Img("b", "star"), "x")] * 2)
    assert model.calls == 5
