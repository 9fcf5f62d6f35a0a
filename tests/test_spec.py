"""Benchmark specs: valid forms, defaults, and every error message (file name and key path included)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_vlm.baseline.thresholds import Threshold
from pytest_vlm.errors import SpecError
from pytest_vlm.scoring.metrics import METRICS
from pytest_vlm.spec import DATASET_KEYS, TOP_LEVEL_KEYS, benchmark_name, parse_spec
from pytest_vlm.strategies.binary import PROMPT as BINARY_PROMPT
from pytest_vlm.strategies.binary import BinaryParams
from pytest_vlm.strategies.closed_set import PROMPT as CLOSED_SET_PROMPT
from pytest_vlm.strategies.closed_set import ClosedSetParams

MINIMAL = "dataset: images\nstrategies: [closed_set]\n"
TOP_KEYS = ", ".join(TOP_LEVEL_KEYS)
DS_KEYS = ", ".join(DATASET_KEYS)
METRIC_NAMES = ", ".join(METRICS)


def write(tmp_path: Path, text: str, name: str = "cats.vlm.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def parse(tmp_path: Path, text: str, name: str = "cats.vlm.yaml"):
    return parse_spec(write(tmp_path, text, name))


def error(tmp_path: Path, text: str, name: str = "cats.vlm.yaml") -> str:
    with pytest.raises(SpecError) as exc:
        parse(tmp_path, text, name)
    return str(exc.value)


# --- valid specs -----------------------------------------------------------------------------


def test_complete_spec(tmp_path: Path) -> None:
    spec = parse(
        tmp_path,
        """
        name: shapes-easy
        description: Six shapes and an empty background.
        dataset:
          folder: data/shapes
          max_per_class: 5
          rename:
            bg: background
        classes: [circle, square, background]
        background: background
        models: [tiny-shapes, "scripted:oracle"]
        snapshot: false
        seed: 42
        thresholds:
          accuracy: ">= 0.8"
          unparseable_rate: 0.1
        strategies:
          closed_set:
            votes: 5
            prompt: "Pick one of {classes}."
            max_new_tokens: 8
            thresholds:
              accuracy: "> 0.9"
          binary:
            order: [square, circle]
            prompt: "Is there a {class}? yes or no"
            max_new_tokens: 3
        """,
    )
    assert spec.path == tmp_path / "cats.vlm.yaml"
    assert spec.folder == tmp_path
    assert spec.name == "shapes-easy"
    assert spec.description == "Six shapes and an empty background."
    assert spec.dataset.kind == "folder"
    assert spec.dataset.path == (tmp_path / "data" / "shapes").resolve()
    assert spec.dataset.max_per_class == 5
    assert spec.dataset.rename == {"bg": "background"}
    assert spec.dataset.generator is None
    assert spec.classes == ("circle", "square", "background")
    assert spec.background == "background"
    assert spec.models == ("tiny-shapes", "scripted:oracle")
    assert spec.snapshot is False
    assert spec.seed == 42
    closed_set, binary = spec.strategies
    assert (closed_set.id, closed_set.kind) == ("closed_set", "closed_set")
    assert closed_set.params == ClosedSetParams(votes=5, prompt="Pick one of {classes}.", max_new_tokens=8)
    # the strategy's own accuracy threshold replaces the spec-wide one; the rest are inherited
    assert closed_set.thresholds == (
        Threshold("unparseable_rate", "<=", 0.1),
        Threshold("accuracy", ">", 0.9),
    )
    assert (binary.id, binary.kind) == ("binary", "binary")
    assert binary.params == BinaryParams(
        order=("square", "circle"), prompt="Is there a {class}? yes or no", max_new_tokens=3
    )
    assert binary.thresholds == (
        Threshold("accuracy", ">=", 0.8),
        Threshold("unparseable_rate", "<=", 0.1),
    )


def test_minimal_spec_defaults(tmp_path: Path) -> None:
    spec = parse(tmp_path, MINIMAL)
    assert spec.name == "cats"
    assert spec.description == ""
    assert spec.dataset.kind == "folder"  # dataset as a string: a folder
    assert spec.dataset.path == (tmp_path / "images").resolve()
    assert spec.dataset.max_per_class is None
    assert spec.dataset.rename == {}
    assert spec.classes is None
    assert spec.background is None
    assert spec.models == ()
    assert spec.snapshot is True
    assert spec.seed == 0
    (strategy,) = spec.strategies
    assert strategy.id == strategy.kind == "closed_set"
    assert strategy.params == ClosedSetParams()
    assert strategy.params.prompt == CLOSED_SET_PROMPT
    assert strategy.thresholds == ()


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("cats.vlm.yaml", "cats"),
        ("cats.vlm.yml", "cats"),
        ("cats.yaml", "cats"),
        ("caltech-256.v2.vlm.yaml", "caltech-256.v2"),
    ],
)
def test_name_defaults_to_the_file_name(tmp_path: Path, file_name: str, expected: str) -> None:
    assert benchmark_name(Path(file_name)) == expected
    assert parse(tmp_path, MINIMAL, name=file_name).name == expected


def test_strategies_as_a_list(tmp_path: Path) -> None:
    spec = parse(tmp_path, "dataset: images\nstrategies: [binary, closed_set]\n")
    assert [(s.id, s.kind) for s in spec.strategies] == [("binary", "binary"), ("closed_set", "closed_set")]
    assert spec.strategies[0].params == BinaryParams()
    assert spec.strategies[0].params.prompt == BINARY_PROMPT


def test_strategy_without_options(tmp_path: Path) -> None:
    spec = parse(tmp_path, "dataset: images\nstrategies:\n  binary:\n")
    assert spec.strategies[0].params == BinaryParams()


def test_strategy_kind_with_a_free_id(tmp_path: Path) -> None:
    spec = parse(
        tmp_path,
        """
        dataset: images
        strategies:
          closed_set:
          five_votes:
            kind: closed_set
            votes: 5
          bin.v2+rev:
            kind: binary
            order: "b, a"
        """,
    )
    assert [(s.id, s.kind) for s in spec.strategies] == [
        ("closed_set", "closed_set"),
        ("five_votes", "closed_set"),
        ("bin.v2+rev", "binary"),
    ]
    assert spec.strategies[1].params == ClosedSetParams(votes=5)
    assert spec.strategies[2].params.order == ("b", "a")


def test_per_strategy_thresholds_override_spec_wide_ones(tmp_path: Path) -> None:
    spec = parse(
        tmp_path,
        """
        dataset: images
        thresholds:
          accuracy: 0.9
          macro_f1: 0.8
          unparseable_rate: "< 0.2"
        strategies:
          closed_set:
            thresholds:
              macro_f1: ">= 0.5"
              calls_per_image: 3
          binary:
        """,
    )
    closed_set, binary = spec.strategies
    assert closed_set.thresholds == (
        Threshold("accuracy", ">=", 0.9),
        Threshold("unparseable_rate", "<", 0.2),
        Threshold("macro_f1", ">=", 0.5),
        Threshold("calls_per_image", "<=", 3.0),
    )
    assert binary.thresholds == (
        Threshold("accuracy", ">=", 0.9),
        Threshold("macro_f1", ">=", 0.8),
        Threshold("unparseable_rate", "<", 0.2),
    )


def test_shorthand_lists_and_numbers(tmp_path: Path) -> None:
    spec = parse(tmp_path, "dataset: images\nstrategies: [closed_set]\nclasses: 'cat, dog , bird'\nmodels: a/b, c\n")
    assert spec.classes == ("cat", "dog", "bird")
    assert spec.models == ("a/b", "c")
    spec = parse(tmp_path, "dataset: images\nstrategies: [closed_set]\nclasses: [1, 2.5, three]\n")
    assert spec.classes == ("1", "2.5", "three")


def test_manifest_and_generated_datasets(tmp_path: Path) -> None:
    spec = parse(tmp_path, "dataset:\n  manifest: ../lists/labels.csv\nstrategies: [closed_set]\n")
    assert spec.dataset.kind == "manifest"
    assert spec.dataset.path == (tmp_path.parent / "lists" / "labels.csv").resolve()

    spec = parse(tmp_path, "dataset:\n  generated: shapes\n  count: 12\nstrategies: [closed_set]\n")
    assert (spec.dataset.kind, spec.dataset.generator, spec.dataset.count) == ("generated", "shapes", 12)
    assert (spec.dataset.seed, spec.dataset.difficulty, spec.dataset.size, spec.dataset.path) == (0, "medium", 64, None)

    spec = parse(
        tmp_path,
        """
        dataset:
          generated: shapes
          count: 30
          seed: 7
          difficulty: hard
          size: 32
          max_per_class: 2
        classes: [circle, background]
        background: background
        strategies: [binary]
        """,
    )
    ds = spec.dataset
    assert (ds.count, ds.seed, ds.difficulty, ds.size, ds.max_per_class) == (30, 7, "hard", 32, 2)


def test_yaml_booleans_for_snapshot(tmp_path: Path) -> None:
    assert parse(tmp_path, MINIMAL + "snapshot: no\n").snapshot is False
    assert parse(tmp_path, MINIMAL + "snapshot: true\n").snapshot is True


# --- errors: the file ------------------------------------------------------------------------


def test_error_carries_where_and_message(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as exc:
        parse(tmp_path, MINIMAL + "seed: x\n")
    assert exc.value.where == "cats.vlm.yaml: seed"
    assert exc.value.message == "expected an integer, got str 'x'"
    assert str(exc.value) == "cats.vlm.yaml: seed: expected an integer, got str 'x'"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec(tmp_path / "gone.vlm.yaml")
    assert str(exc.value).startswith("gone.vlm.yaml: cannot read the file: [Errno 2] No such file or directory")


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "cats.vlm.yaml"
    path.write_bytes(b"dataset: \xff\xfe\n")
    with pytest.raises(SpecError) as exc:
        parse_spec(path)
    assert str(exc.value).startswith("cats.vlm.yaml: cannot read the file: 'utf-8' codec can't decode byte 0xff")


@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    assert error(tmp_path, text) == (
        "cats.vlm.yaml: the file is empty; a spec needs at least 'dataset' and 'strategies'"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dataset: images\nstrategies: [closed_set\n", "invalid YAML (line 3, column 1): expected ',' or ']'"),
        ("dataset: images\n\tstrategies: x\n", "invalid YAML (line 2, column 1): found character '\\t'"),
        (
            "dataset: images\nstrategies:\n  closed_set:\n    votes: 3\n   prompt: x\n",
            "invalid YAML (line 5, column 4): expected <block end>",
        ),
    ],
)
def test_invalid_yaml_names_the_line(tmp_path: Path, text: str, expected: str) -> None:
    assert error(tmp_path, text).startswith(f"cats.vlm.yaml: {expected}")


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    assert error(tmp_path, "dataset: images\nstrategies: [closed_set]\ndataset: other\n") == (
        "cats.vlm.yaml: invalid YAML (line 3, column 1): duplicate key 'dataset' (first on line 1)"
    )


def test_duplicate_nested_key(tmp_path: Path) -> None:
    text = "dataset: images\nstrategies:\n  closed_set:\n    votes: 3\n    votes: 4\n"
    assert error(tmp_path, text) == (
        "cats.vlm.yaml: invalid YAML (line 5, column 5): duplicate key 'votes' (first on line 4)"
    )


def test_yaml_is_data_only(tmp_path: Path) -> None:
    text = "dataset: !!python/object/apply:os.system ['echo hi']\nstrategies: [closed_set]\n"
    assert "invalid YAML (line 1, column 10)" in error(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("- dataset\n- strategies\n", "list ['dataset', 'strategies']"),
        ("just words\n", "str 'just words'"),
        ("42\n", "int 42"),
    ],
)
def test_not_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    assert error(tmp_path, text) == f"cats.vlm.yaml: expected a mapping (key: value lines), got {got}"


def test_unknown_top_level_key_with_did_you_mean(tmp_path: Path) -> None:
    assert error(tmp_path, MINIMAL + "treshold:\n  accuracy: 0.9\n") == (
        f"cats.vlm.yaml: treshold: unknown key (did you mean 'thresholds'?); allowed keys: {TOP_KEYS}"
    )
    assert error(tmp_path, "dataset: images\nstrategy: [closed_set]\n") == (
        f"cats.vlm.yaml: strategy: unknown key (did you mean 'strategies'?); allowed keys: {TOP_KEYS}"
    )


def test_unknown_top_level_key_without_close_match(tmp_path: Path) -> None:
    assert error(tmp_path, MINIMAL + "zzz: 1\n") == f"cats.vlm.yaml: zzz: unknown key; allowed keys: {TOP_KEYS}"


@pytest.mark.parametrize(
    ("text", "missing"),
    [("strategies: [closed_set]\n", "dataset"), ("dataset: images\n", "strategies"), ("name: x\n", "dataset")],
)
def test_missing_required_key(tmp_path: Path, text: str, missing: str) -> None:
    assert error(tmp_path, text) == f"cats.vlm.yaml: missing required key {missing!r}"


# --- errors: top-level values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("name: my cats", "name: 'my cats' may only use letters, digits and _ . + - (it names tests and folders)"),
        ("name: cats/dogs", "name: 'cats/dogs' may only use letters, digits and _ . + - (it names tests and folders)"),
        ("name: ''", "name: expected a non-empty string, got str ''"),
        ("name: 12", "name: expected a non-empty string, got int 12"),
        ("name:", "name: expected a non-empty string, got nothing"),
        ("snapshot: 'yes'", "snapshot: expected true or false, got str 'yes'"),
        ("snapshot: 1", "snapshot: expected true or false, got int 1"),
        ("seed: 1.5", "seed: expected an integer, got float 1.5"),
        ("seed: true", "seed: expected an integer, got bool True"),
        ("classes: []", "classes: expected a non-empty list of names, got list []"),
        ("classes: 5", "classes: expected a non-empty list of names, got int 5"),
        ("classes: {cat: 1}", "classes: expected a non-empty list of names, got dict {'cat': 1}"),
        ("classes:", "classes: expected a non-empty list of names, got nothing"),
        ("classes: [cat, dog, cat]", "classes: duplicate names: cat"),
        ("classes: 'dog, cat, dog, cat'", "classes: duplicate names: cat, dog"),
        ("classes: [cat, null]", "classes.1: expected a non-empty string, got nothing"),
        ("classes: [cat, '  ']", "classes.1: expected a non-empty string, got str '  '"),
        ("classes: 'cat,,dog'", "classes.1: expected a non-empty string, got str ''"),
        ("models: [a, a]", "models: duplicate names: a"),
        ("models: []", "models: expected a non-empty list of names, got list []"),
        ("background: ''", "background: expected a non-empty string, got str ''"),
    ],
)
def test_bad_top_level_values(tmp_path: Path, line: str, message: str) -> None:
    assert error(tmp_path, MINIMAL + line + "\n") == f"cats.vlm.yaml: {message}"


def test_bad_name_from_the_file_name(tmp_path: Path) -> None:
    assert error(tmp_path, MINIMAL, name="my cats.vlm.yaml") == (
        "my cats.vlm.yaml: name: 'my cats' may only use letters, digits and _ . + - (it names tests and folders)"
    )


def test_background_not_in_classes(tmp_path: Path) -> None:
    assert error(tmp_path, MINIMAL + "classes: [cat, dog]\nbackground: dgo\n") == (
        "cats.vlm.yaml: background: 'dgo' is not one of the classes (did you mean 'dog'?); add it to 'classes'"
    )
    assert error(tmp_path, MINIMAL + "classes: [cat, dog]\nbackground: clutter\n") == (
        "cats.vlm.yaml: background: 'clutter' is not one of the classes; add it to 'classes'"
    )


def test_background_without_classes_is_checked_later(tmp_path: Path) -> None:
    # without 'classes' the classes come from the dataset, so the spec cannot check yet
    assert parse(tmp_path, MINIMAL + "background: clutter\n").background == "clutter"


# --- errors: thresholds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("thresholds: [accuracy]", "thresholds: expected a mapping (key: value lines), got list ['accuracy']"),
        ("thresholds:", "thresholds: expected a mapping (key: value lines), got nothing"),
        (
            "thresholds:\n  acuracy: 0.9",
            f"thresholds.acuracy: unknown metric 'acuracy' (did you mean 'accuracy'?); known metrics: {METRIC_NAMES}",
        ),
        (
            "thresholds:\n  accuracy: '=> 0.9'",
            "thresholds.accuracy: cannot read threshold '=> 0.9'; write it as '>= 0.9', '> 0.9', '<= 0.05' or '< 0.05'",
        ),
        ("thresholds:\n  accuracy:", "thresholds.accuracy: expected a threshold such as '>= 0.9', got None"),
        ("thresholds:\n  accuracy: true", "thresholds.accuracy: expected a threshold such as '>= 0.9', got True"),
    ],
)
def test_bad_spec_wide_thresholds(tmp_path: Path, block: str, message: str) -> None:
    assert error(tmp_path, MINIMAL + block + "\n") == f"cats.vlm.yaml: {message}"


def test_bad_strategy_threshold(tmp_path: Path) -> None:
    text = "dataset: images\nstrategies:\n  binary:\n    thresholds:\n      unparsable_rate: 0.1\n"
    assert error(tmp_path, text) == (
        "cats.vlm.yaml: strategies.binary.thresholds.unparsable_rate: unknown metric "
        f"'unparsable_rate' (did you mean 'unparseable_rate'?); known metrics: {METRIC_NAMES}"
    )
    text = "dataset: images\nstrategies:\n  binary:\n    thresholds: 0.9\n"
    assert error(tmp_path, text) == (
        "cats.vlm.yaml: strategies.binary.thresholds: expected a mapping (key: value lines), got float 0.9"
    )


# --- errors: strategies ----------------------------------------------------------------------

STRATEGY_KEYS = {
    "closed_set": "votes, prompt, max_new_tokens, class_counts, kind, thresholds, baseline",
    "binary": "order, prompt, max_new_tokens, kind, thresholds, baseline",
}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "strategies: []",
            "strategies: needs at least one strategy; known kinds: closed_set, binary, likelihood, direct",
        ),
        (
            "strategies: {}",
            "strategies: needs at least one strategy; known kinds: closed_set, binary, likelihood, direct",
        ),
        ("strategies:", "strategies: expected a mapping (key: value lines), got nothing"),
        ("strategies: closed_set", "strategies: expected a mapping (key: value lines), got str 'closed_set'"),
        ("strategies: [closed_set, binary, closed_set]", "strategies.2: duplicate strategy 'closed_set'"),
        ("strategies: [closed_set, 5]", "strategies.1: expected a non-empty string, got int 5"),
        (
            "strategies: [closed]",
            (
                "strategies.closed: unknown strategy kind 'closed' (did you mean 'closed_set'?); known kinds: "
                "closed_set, binary, likelihood, direct; to name a strategy freely, add 'kind: <kind>' under it"
            ),
        ),
        (
            "strategies:\n  fancy:\n    votes: 3",
            (
                "strategies.fancy: unknown strategy kind 'fancy'; known kinds: closed_set, binary, likelihood, direct; "
                "to name a strategy freely, add 'kind: <kind>' under it"
            ),
        ),
        (
            "strategies:\n  mine:\n    kind: binar",
            (
                "strategies.mine.kind: unknown strategy kind 'binar' (did you mean 'binary'?); "
                "known kinds: closed_set, binary, likelihood, direct"
            ),
        ),
        ("strategies:\n  mine:\n    kind: 3", "strategies.mine.kind: expected a non-empty string, got int 3"),
        (
            "strategies:\n  my-strategy:\n    kind: binary",
            "strategies.my-strategy: a strategy id may only use letters, digits and _ . +",
        ),
        (
            "strategies:\n  'two words':\n    kind: binary",
            "strategies.two words: a strategy id may only use letters, digits and _ . +",
        ),
        ("strategies:\n  closed_set: 3", "strategies.closed_set: expected a mapping (key: value lines), got int 3"),
        (
            "strategies:\n  closed_set: [votes]",
            "strategies.closed_set: expected a mapping (key: value lines), got list ['votes']",
        ),
        (
            "strategies:\n  closed_set:\n    vote: 3",
            f"strategies.closed_set.vote: unknown key (did you mean 'votes'?); allowed keys: {STRATEGY_KEYS['closed_set']}",
        ),
        (
            "strategies:\n  binary:\n    votes: 3",
            f"strategies.binary.votes: unknown key; allowed keys: {STRATEGY_KEYS['binary']}",
        ),
        (
            "strategies:\n  closed_set:\n    votes: three",
            "strategies.closed_set.votes: expected an integer, got str 'three'",
        ),
        ("strategies:\n  closed_set:\n    votes: 0", "strategies.closed_set.votes: must be >= 1, got 0"),
        ("strategies:\n  closed_set:\n    votes: -2", "strategies.closed_set.votes: must be >= 1, got -2"),
        (
            "strategies:\n  closed_set:\n    votes: 2.5",
            "strategies.closed_set.votes: expected an integer, got float 2.5",
        ),
        (
            "strategies:\n  closed_set:\n    votes: true",
            "strategies.closed_set.votes: expected an integer, got bool True",
        ),
        (
            "strategies:\n  closed_set:\n    max_new_tokens: '8'",
            "strategies.closed_set.max_new_tokens: expected an integer, got str '8'",
        ),
        (
            "strategies:\n  closed_set:\n    prompt: 5",
            "strategies.closed_set.prompt: expected a non-empty string, got int 5",
        ),
        (
            "strategies:\n  closed_set:\n    prompt: ''",
            "strategies.closed_set.prompt: expected a non-empty string, got str ''",
        ),
        (
            "strategies:\n  closed_set:\n    prompt: 'What is this? Answer:'",
            (
                "strategies.closed_set: the prompt must contain {classes} (where the class names go); "
                "got 'What is this? Answer:'"
            ),
        ),
        (
            "strategies:\n  five:\n    kind: closed_set\n    prompt: 'Pick one of {class}.'",
            "strategies.five: the prompt must contain {classes} (where the class names go); got 'Pick one of {class}.'",
        ),
        (
            "strategies:\n  binary:\n    prompt: 'Is it one of {classes}?'",
            "strategies.binary: the prompt must contain {class} (where the class names go); got 'Is it one of {classes}?'",
        ),
        ("strategies:\n  binary:\n    order: [a, b, a]", "strategies.binary.order: duplicate names: a"),
        (
            "strategies:\n  binary:\n    order: []",
            "strategies.binary.order: expected a non-empty list of names, got list []",
        ),
        (
            "strategies:\n  binary:\n    order: [a, null]",
            "strategies.binary.order.1: expected a non-empty string, got nothing",
        ),
    ],
)
def test_bad_strategies(tmp_path: Path, block: str, message: str) -> None:
    assert error(tmp_path, "dataset: images\n" + block + "\n") == f"cats.vlm.yaml: {message}"


# --- errors: dataset -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("dataset:", "dataset: expected a mapping (key: value lines), got nothing"),
        ("dataset: [a, b]", "dataset: expected a mapping (key: value lines), got list ['a', 'b']"),
        ("dataset: ''", "dataset.folder: expected a non-empty string, got str ''"),
        ("dataset:\n  folder: 5", "dataset.folder: expected a non-empty string, got int 5"),
        ("dataset:\n  manifest:", "dataset.manifest: expected a non-empty string, got nothing"),
        (
            "dataset:\n  folders: images",
            f"dataset.folders: unknown key (did you mean 'folder'?); allowed keys: {DS_KEYS}",
        ),
        (
            "dataset:\n  folder: images\n  max_per_klass: 3",
            f"dataset.max_per_klass: unknown key (did you mean 'max_per_class'?); allowed keys: {DS_KEYS}",
        ),
        (
            "dataset:\n  max_per_class: 3",
            "dataset: needs exactly one of folder, manifest, generated, hf_dataset (found none)",
        ),
        (
            "dataset:\n  folder: images\n  manifest: labels.csv",
            "dataset: needs exactly one of folder, manifest, generated, hf_dataset (found folder, manifest)",
        ),
        (
            "dataset:\n  folder: images\n  manifest: labels.csv\n  generated: shapes",
            "dataset: needs exactly one of folder, manifest, generated, hf_dataset (found folder, manifest, generated)",
        ),
        (
            "dataset:\n  generated: shape\n  count: 5",
            "dataset.generated: unknown generator 'shape' (did you mean 'shapes'?); known: shapes",
        ),
        ("dataset:\n  generated: mnist\n  count: 5", "dataset.generated: unknown generator 'mnist'; known: shapes"),
        ("dataset:\n  generated: shapes", "dataset: a generated dataset needs 'count' (number of images)"),
        ("dataset:\n  generated: shapes\n  count: 0", "dataset.count: must be >= 1, got 0"),
        ("dataset:\n  generated: shapes\n  count: ten", "dataset.count: expected an integer, got str 'ten'"),
        (
            "dataset:\n  generated: shapes\n  count: 5\n  difficulty: extreme",
            "dataset.difficulty: 'extreme' is not one of easy, medium, hard",
        ),
        (
            "dataset:\n  generated: shapes\n  count: 5\n  difficulty: Easy",
            "dataset.difficulty: 'Easy' is not one of easy, medium, hard",
        ),
        ("dataset:\n  generated: shapes\n  count: 5\n  size: 8", "dataset.size: must be >= 16, got 8"),
        ("dataset:\n  generated: shapes\n  count: 5\n  seed: x", "dataset.seed: expected an integer, got str 'x'"),
        (
            "dataset:\n  folder: images\n  count: 5",
            "dataset.count: only applies to generated datasets, not to a folder",
        ),
        ("dataset:\n  folder: images\n  seed: 1", "dataset.seed: only applies to generated datasets, not to a folder"),
        (
            "dataset:\n  manifest: a.csv\n  difficulty: easy",
            "dataset.difficulty: only applies to generated datasets, not to a manifest",
        ),
        (
            "dataset:\n  manifest: a.csv\n  size: 32",
            "dataset.size: only applies to generated datasets, not to a manifest",
        ),
        ("dataset:\n  folder: images\n  max_per_class: 0", "dataset.max_per_class: must be >= 1, got 0"),
        (
            "dataset:\n  folder: images\n  max_per_class: all",
            "dataset.max_per_class: expected an integer, got str 'all'",
        ),
        (
            "dataset:\n  folder: images\n  rename: [a, b]",
            "dataset.rename: expected a mapping (key: value lines), got list ['a', 'b']",
        ),
        (
            "dataset:\n  folder: images\n  rename:\n    bg:",
            "dataset.rename.bg: expected a non-empty string, got nothing",
        ),
    ],
)
def test_bad_dataset(tmp_path: Path, block: str, message: str) -> None:
    assert error(tmp_path, block + "\nstrategies: [closed_set]\n") == f"cats.vlm.yaml: {message}"


def test_error_names_the_spec_file_not_its_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    message = error(tmp_path, MINIMAL + "seed: x\n", name="sub/dogs.vlm.yml")
    assert message == "dogs.vlm.yml: seed: expected an integer, got str 'x'"


def test_rename_only_for_file_datasets(tmp_path: Path) -> None:
    text = "dataset: {generated: shapes, count: 6, rename: {circle: round}}\nstrategies: [closed_set]\n"
    assert error(tmp_path, text) == (
        "cats.vlm.yaml: dataset.rename: only applies to folder, manifest and hf_dataset datasets; list 'classes' instead"
    )
