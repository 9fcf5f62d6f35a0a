"""The spec loader against hostile text (issue 12.6): only SpecError ever escapes.

A hypothesis fuzz test mutates valid specs with YAML's sharp edges (tags, anchors, merge keys,
complex keys, NUL bytes, deep nesting); the cases an earlier 10,000-mutation run found are pinned
below by their messages. YAML merge keys (``<<: *defaults``) load as ``yaml.safe_load`` does.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_vlm.errors import SpecError
from pytest_vlm.spec import parse_spec

VALID = [
    """\
    dataset: images
    classes: [cat, dog, background]
    background: background
    thresholds: {accuracy: ">= 0.8"}
    strategies:
      closed_set: {votes: 3}
      binary: {}
    """,
    """\
    name: shapes
    dataset: {generated: shapes, count: 12, seed: 3, difficulty: hard, size: 32}
    models: [scripted:oracle, tiny-shapes]
    baseline: {max_flips: 2}
    strategies: [closed_set, likelihood]
    """,
    """\
    dataset: {manifest: labels.jsonl, rename: {c: cat}, max_per_class: 5}
    strategies:
      fast: {kind: closed_set, votes: 1, thresholds: {macro_f1: 0.5}}
    """,
]
SHARP = [
    "!!int 1x", "!!float .nanx", "!!timestamp 2024-13-45", "!!binary ???", "!!python/object:os.system x",
    "? [a, b]: 1\n", "? {a: 1}: 2\n", "&a x", "*a", "*nowhere", "<<: *a\n", "<<: [1, 2]\n", "<<: 5\n",
    "\x00", "\ufeff", "\t", ": ", "- ", "[" * 40, "{" * 40, "]", "}", "'", '"', "%YAML 1.1\n---\n", "--- !!set\n",
    "~", "null", "1e999", "-.inf", ".nan", "0x1F", "0o17", "1_000", "yes", "2001-12-14t21:59:43.10-05:00",
]  # fmt: skip


@st.composite
def mutated_spec(draw: st.DrawFn) -> str:
    text = textwrap.dedent(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 6))
        piece = draw(st.one_of(st.sampled_from(SHARP), st.text(max_size=6)))
        text = text[:at] + piece + text[at + cut :]
    return text


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,  # the same examples on every run and machine: a CI failure reproduces
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=mutated_spec())
def test_only_spec_errors_escape_the_loader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.vlm.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        parse_spec(path)
    except SpecError as exc:
        assert str(exc).startswith("fuzz.vlm.yaml")  # names the file
        assert "\n" not in str(exc).strip() or "line" in str(exc)


def error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cats.vlm.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as excinfo:
        parse_spec(path)
    return str(excinfo.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "? [a, b]: 1\ndataset: x\n",
            "cats.vlm.yaml: invalid YAML (line 1, column 3): a key must be a single value "
            "(a name or a number), not a list or a mapping",
        ),
        (
            "dataset: !!int 1x\n",
            "cats.vlm.yaml: invalid YAML (line 1, column 10): !!int cannot read '1x'; quote it to keep it as text",
        ),
        (
            "dataset: !!float .nanx\n",
            "cats.vlm.yaml: invalid YAML (line 1, column 10): !!float cannot read '.nanx'; quote it to keep it as text",
        ),
        (
            "dataset: !!timestamp 2024-13-45\n",
            "cats.vlm.yaml: invalid YAML (line 1, column 10): !!timestamp cannot read '2024-13-45'; quote it to keep it as text",
        ),
        (
            "dataset: [" * 3000 + "]" * 3000 + "\n",
            "cats.vlm.yaml: invalid YAML (line 1, column 501): nested deeper than 100 levels; a spec needs a handful",
        ),
        (
            'dataset: {folder: "im\\0ages"}\nstrategies: [closed_set]\n',
            "cats.vlm.yaml: dataset.folder: a path cannot hold a NUL character, got 'im\\x00ages'",
        ),
        (
            "strategies: [closed_set]\ndataset:\n  generated: shapes\n  count: 4\n  seed: -1\n",
            "cats.vlm.yaml: dataset.seed: must be >= 0, got -1",
        ),
        (
            "dataset: x\nseed: 2024-13-45\n",
            "cats.vlm.yaml: invalid YAML (line 2, column 7): !!timestamp cannot read '2024-13-45'; quote it to keep it as text",
        ),
    ],
    ids=[
        "unhashable-key",
        "int-tag",
        "float-tag",
        "timestamp-tag",
        "deep-nesting",
        "nul-in-path",
        "negative-seed",
        "implicit-timestamp",
    ],
)
def test_what_fuzzing_found_is_one_line_spec_errors(tmp_path: Path, text: str, message: str) -> None:
    assert error(tmp_path, text) == message


def test_yaml_merge_keys_load_like_safe_load(tmp_path: Path) -> None:
    text = """\
    dataset: {generated: shapes, count: 12}
    strategies:
      closed_set: &base
        votes: 3
        thresholds: {accuracy: ">= 0.5"}
      strict:
        <<: *base
        kind: closed_set
        votes: 5
      alike:
        <<: [*base]
        kind: closed_set
    """
    path = tmp_path / "cats.vlm.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    spec = parse_spec(path)
    votes = {s.id: s.params.votes for s in spec.strategies}
    assert votes == {"closed_set": 3, "strict": 5, "alike": 3}  # an explicit key wins over the merged one
    assert all(s.thresholds[0].value == 0.5 for s in spec.strategies)
    plain = yaml.safe_load(textwrap.dedent(text))["strategies"]
    assert {k: v.get("votes") for k, v in plain.items()} == votes


def test_duplicate_keys_are_still_refused_next_to_a_merge(tmp_path: Path) -> None:
    text = "base: &b {votes: 1}\ndataset: x\nstrategies:\n  closed_set:\n    <<: *b\n    votes: 2\n    votes: 3\n"
    assert error(tmp_path, text).startswith("cats.vlm.yaml: invalid YAML (line 7, column 5): duplicate key 'votes'")


def test_a_merge_of_something_not_a_mapping_is_a_spec_error(tmp_path: Path) -> None:
    message = error(tmp_path, "dataset: x\nstrategies:\n  closed_set:\n    <<: 5\n")
    assert message.startswith("cats.vlm.yaml: invalid YAML (line 4, column 9): expected a mapping or list of mappings")
