"""Baseline comparison and its gates; closed-set diagnostics; the degraded model wrapper."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes import FakeModel, Img
from pytest_vlm.baseline.comparison import BaselineGates, compare, evaluate, merge_gates, parse_baseline_gates
from pytest_vlm.baseline.significance import mcnemar_exact
from pytest_vlm.errors import ModelError, SpecError
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.models.degraded import BlankImage, DegradedModel, is_blanked
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.scoring.diagnostics import closed_set_diagnostics, shown_order
from pytest_vlm.spec import parse_spec
from pytest_vlm.strategies.base import ImagePrediction

CLASSES = ["cat", "dog", "fox"]


def pred(image_id: str, label: str, prediction: str | None, parsed: tuple = (), asked: tuple = ()) -> ImagePrediction:
    return ImagePrediction(image_id, label, prediction, asked or ("",) * len(parsed), ("",) * len(parsed), parsed)


# (id, label, baseline prediction, new prediction)
CASES = [
    ("a", "cat", "cat", "cat"),
    ("b", "cat", "cat", "dog"),  # right -> wrong
    ("c", "dog", "dog", "cat"),  # right -> wrong
    ("d", "dog", "cat", "dog"),  # wrong -> right
    ("e", "fox", "dog", "cat"),  # wrong -> other wrong
    ("f", "fox", "fox", "fox"),
    ("g", "fox", "fox", None),  # right -> unparseable
]


def baseline_and_run() -> tuple[dict, list[ImagePrediction]]:
    baseline = {i: {"label": t, "prediction": old, "answers": [old]} for i, t, old, _ in CASES}
    run = [pred(i, t, new, (new,)) for i, t, _, new in CASES]
    return baseline, run


def test_compare_counts_flips_and_discordant_pairs() -> None:
    from sklearn.metrics import f1_score

    baseline, run = baseline_and_run()
    found = compare(baseline, run, CLASSES, baseline_name="old", path="old.json")
    assert [(f.image_id, f.old, f.new) for f in found.flips] == [
        ("b", "cat", "dog"),
        ("c", "dog", "cat"),
        ("d", "cat", "dog"),
        ("e", "dog", "cat"),
        ("g", "fox", None),
    ]
    assert (found.n, found.b, found.c) == (7, 3, 1)
    assert found.flip_rate == pytest.approx(5 / 7)
    assert found.accuracy_old == pytest.approx(5 / 7) and found.accuracy_new == pytest.approx(3 / 7)
    assert found.accuracy_delta == pytest.approx(-2 / 7)
    assert found.p_worse == pytest.approx(mcnemar_exact(3, 1).p_worse) == pytest.approx(5 / 16)
    truth = [t for _, t, _, _ in CASES]
    old_f1 = f1_score(truth, [o for *_, o, _ in CASES], labels=CLASSES, average=None, zero_division=0)
    new_f1 = f1_score(truth, [n or "?" for *_, n in CASES], labels=CLASSES, average=None, zero_division=0)
    for k, name in enumerate(CLASSES):
        assert found.f1_delta[name] == pytest.approx(new_f1[k] - old_f1[k])
    again = type(found).from_dict(found.to_dict())
    assert again == found


def test_compare_counts_added_and_removed_images() -> None:
    baseline, run = baseline_and_run()
    baseline["zz"] = {"label": "cat", "prediction": "cat", "answers": ["cat"]}
    found = compare(baseline, run + [pred("new", "cat", "cat", ("cat",))], CLASSES, baseline_name="o", path="p")
    assert (found.n, found.added, found.removed) == (7, 1, 1)


def test_gates() -> None:
    baseline, run = baseline_and_run()
    found = compare(baseline, run, CLASSES, baseline_name="old", path="old.json")
    assert evaluate(BaselineGates(), found) == ()
    budget = evaluate(BaselineGates(max_flip_rate=0.5), found)
    assert budget == (
        {
            "gate": "max_flip_rate",
            "passed": False,
            "detail": "flip rate 0.7143 (5 of 7 images) > max_flip_rate 0.5",
        },
    )
    assert evaluate(BaselineGates(max_flip_rate=0.72), found)[0]["passed"]
    # b=3 > c=1 but p=5/16: a drop within noise.
    noise = evaluate(BaselineGates(alpha=0.05), found)[0]
    assert noise["passed"]
    assert noise["detail"] == (
        "3 image(s) now wrong, 1 now right; exact McNemar one-sided p=0.3125, p >= alpha 0.05: a drop within noise"
    )
    # With alpha above p, the same drop is significant.
    significant = evaluate(BaselineGates(alpha=0.4), found)[0]
    assert not significant["passed"]
    assert significant["detail"].endswith("p < alpha 0.4: a significant drop")
    # Improvements never fail, however significant.
    better = [pred(i, t, t, (t,)) for i, t, _, _ in CASES]
    improved = compare(
        {i: {**v, "prediction": "fox" if v["label"] != "fox" else "cat"} for i, v in baseline.items()},
        better,
        CLASSES,
        baseline_name="o",
        path="p",
    )
    assert improved.c == 7 and improved.b == 0
    verdict = evaluate(BaselineGates(alpha=0.5), improved)[0]
    assert verdict["passed"] and verdict["detail"].endswith("no drop")


def test_parse_and_merge_gates() -> None:
    assert parse_baseline_gates({}) == {}
    assert parse_baseline_gates({"no_significant_drop": True}) == {"alpha": 0.05}
    assert parse_baseline_gates({"no_significant_drop": {}}) == {"alpha": 0.05}
    assert parse_baseline_gates({"no_significant_drop": {"alpha": 0.01}, "max_flip_rate": 0}) == {
        "alpha": 0.01,
        "max_flip_rate": 0.0,
    }
    spec_wide = parse_baseline_gates({"no_significant_drop": True, "max_flip_rate": 0.1})
    assert merge_gates(spec_wide, parse_baseline_gates({"no_significant_drop": False})) == BaselineGates(0.1, None)
    assert not BaselineGates().active and BaselineGates(alpha=0.05).active


SPEC = """
dataset: {generated: shapes, count: 7}
strategies:
  closed_set: {BASELINE_STRATEGY}
  binary: {}
BASELINE_TOP
"""


def write(tmp_path: Path, top: str = "", strategy: str = "") -> Path:
    path = tmp_path / "g.vlm.yaml"
    text = SPEC.replace("BASELINE_TOP", top).replace("{BASELINE_STRATEGY}", "{" + strategy + "}")
    path.write_text(text)
    return path


def test_spec_baseline_keys(tmp_path: Path) -> None:
    spec = parse_spec(
        write(tmp_path, "baseline: {max_flip_rate: 0.1, no_significant_drop: true}", "baseline: {max_flip_rate: 0.2}")
    )
    closed, binary = spec.strategies
    assert closed.baseline_gates == BaselineGates(max_flip_rate=0.2, alpha=0.05)
    assert binary.baseline_gates == BaselineGates(max_flip_rate=0.1, alpha=0.05)
    assert parse_spec(write(tmp_path)).strategies[0].baseline_gates == BaselineGates()


@pytest.mark.parametrize(
    ("top", "strategy", "message"),
    [
        (
            "baseline: {max_flip: 0.1}",
            "",
            "g.vlm.yaml: baseline.max_flip: unknown key (did you mean 'max_flip_rate'?); allowed keys: max_flip_rate, no_significant_drop",
        ),
        ("baseline: {max_flip_rate: 1.5}", "", "g.vlm.yaml: baseline.max_flip_rate: must be between 0 and 1, got 1.5"),
        (
            "baseline: {max_flip_rate: 'lots'}",
            "",
            "g.vlm.yaml: baseline.max_flip_rate: expected a number between 0 and 1, got str 'lots'",
        ),
        (
            "baseline: {max_flip_rate: true}",
            "",
            "g.vlm.yaml: baseline.max_flip_rate: expected a number between 0 and 1, got bool True",
        ),
        (
            "baseline: {no_significant_drop: {alpha: 0}}",
            "",
            "g.vlm.yaml: baseline.no_significant_drop.alpha: must be strictly between 0 and 1, got 0",
        ),
        (
            "baseline: {no_significant_drop: {alfa: 0.1}}",
            "",
            "g.vlm.yaml: baseline.no_significant_drop.alfa: unknown key; the only key is 'alpha'",
        ),
        (
            "baseline: {no_significant_drop: yes please}",
            "",
            "g.vlm.yaml: baseline.no_significant_drop: expected true, false or {alpha: 0.05}, got 'yes please'",
        ),
        ("baseline: 0.05", "", "g.vlm.yaml: baseline: expected a mapping such as '{max_flip_rate: 0.05}', got 0.05"),
        (
            "",
            "baseline: {no_significant_drop: {alpha: 2}}",
            "g.vlm.yaml: strategies.closed_set.baseline.no_significant_drop.alpha: must be strictly between 0 and 1, got 2",
        ),
    ],
)
def test_spec_baseline_errors(tmp_path: Path, top: str, strategy: str, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec(write(tmp_path, top, strategy))
    assert str(exc.value) == message


# --- closed-set diagnostics ---


def test_shown_order() -> None:
    assert shown_order("dog, cat, fox", CLASSES) == ["dog", "cat", "fox"]
    # A name that is the start of another, and a name holding the separator's characters.
    names = ["sea", "sea lion", "a, b"]
    assert shown_order("sea lion, a, b, sea", names) == ["sea lion", "a, b", "sea"]
    assert shown_order("sea, sea lion, a, b", names) == ["sea", "sea lion", "a, b"]
    assert shown_order("dog, cat", CLASSES) is None  # not every class
    assert shown_order("dog, cow, fox", CLASSES) is None


def test_closed_set_diagnostics() -> None:
    predictions = [
        # unanimous and right; the right class sat in slots 1, 2, 3
        pred("a", "cat", "cat", ("cat", "cat", "cat"), ("cat, dog, fox", "dog, cat, fox", "dog, fox, cat")),
        # 2 of 3, wrong: the wrong class sat first twice; the right vote in slot 3
        pred("b", "dog", "cat", ("cat", "cat", "dog"), ("cat, dog, fox", "cat, fox, dog", "fox, cat, dog")),
        # one unreadable vote, 1 of 3 agree after a tie is broken
        pred("c", "fox", "fox", ("fox", None, "dog"), ("fox, cat, dog", "cat, dog, fox", "cat, dog, fox")),
        # nothing readable
        pred("d", "fox", None, (None, None, None), ("cat, dog, fox",) * 3),
    ]
    d = closed_set_diagnostics(predictions, CLASSES)
    assert d["votes"] == 3
    assert d["agreement"] == {"a": 3, "b": 2, "c": 1, "d": 0}
    assert d["agreement_histogram"] == [
        {"agreed": 3, "images": 1, "accuracy": 1.0},
        {"agreed": 2, "images": 1, "accuracy": 0.0},
        {"agreed": 1, "images": 1, "accuracy": 1.0},
        {"agreed": 0, "images": 1, "accuracy": 0.0},
    ]
    bias = d["position_bias"]
    # right votes: a: slots 1,2,3; b's "dog" in slot 3; c's "fox" in slot 1
    assert bias["right"] == [2, 1, 2]
    # wrong votes: b: "cat" in slots 1, 1; c: "dog" in slot 2
    assert bias["wrong"] == [2, 1, 0]
    assert bias["unreadable_votes"] == 4 and bias["unknown_order_votes"] == 0


# --- the degraded model ---


def test_degraded_resolves_and_wraps() -> None:
    spec = resolve_model("degraded:0.25:scripted:oracle", base_dir=Path.cwd())
    assert spec.name == "degraded:0.25:scripted:oracle" and spec.backend == "degraded"
    assert spec.wraps == resolve_model("scripted:oracle", base_dir=Path.cwd())


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "degraded:0.1",
            "model 'degraded:0.1' names no model to degrade; write it as degraded:FRACTION:MODEL, e.g. degraded:0.1:tiny-shapes",
        ),
        (
            "degraded:lots:tiny-shapes",
            "model 'degraded:lots:tiny-shapes': 'lots' is not a fraction; write it as degraded:FRACTION:MODEL*",
        ),
        (
            "degraded:1.5:tiny-shapes",
            "model 'degraded:1.5:tiny-shapes': the fraction must be between 0 and 1, got 1.5; *",
        ),
        ("degraded:0.1:tiny-shapez", "unknown model 'tiny-shapez' (did you mean 'tiny-shapes'?)*"),
    ],
)
def test_degraded_errors(name: str, message: str) -> None:
    import fnmatch

    with pytest.raises(ModelError) as exc:
        resolve_model(name, base_dir=Path.cwd())
    assert fnmatch.fnmatch(str(exc.value), message), str(exc.value)


def test_degraded_blanks_a_seeded_fraction() -> None:
    ids = [f"img-{i}" for i in range(4000)]
    share = sum(is_blanked(i, 0.1) for i in ids) / len(ids)
    assert 0.085 < share < 0.115
    assert [is_blanked(i, 0.1) for i in ids] == [is_blanked(i, 0.1) for i in ids]  # deterministic
    assert not any(is_blanked(i, 0.0) for i in ids) and all(is_blanked(i, 1.0) for i in ids)
    assert [is_blanked(i, 0.1) for i in ids] != [is_blanked(i, 0.1, salt="1") for i in ids]

    inner = FakeModel(lambda r: r.image.id)
    model = DegradedModel(resolve_model("degraded:0.5:scripted:oracle", base_dir=Path.cwd()), inner)
    images = [Img(f"img-{i}", "cat") for i in range(20)]
    answers = model.generate([GenerationRequest(img, "q") for img in images])
    for img, answer in zip(images, answers):
        assert answer == (f"{img.id}#blank" if is_blanked(img.id, 0.5) else img.id)
    assert model.describe()["fraction"] == 0.5
    with pytest.raises(ModelError, match="model degraded:0.5:scripted:oracle cannot score answers"):
        model.score([])
    model.close()
    assert inner.closed


def test_blank_image_is_grey_and_sized_like_the_original() -> None:
    from PIL import Image

    class Source:
        id = "x"

        def load(self) -> Image.Image:
            return Image.new("RGB", (40, 30), (255, 0, 0))

    blank = BlankImage(Source()).load()
    assert blank.size == (40, 30) and blank.getcolors() == [(1200, (128, 128, 128))]
    assert BlankImage(Source()).id == "x#blank"
