"""Aliases a project adds or overrides in YAML (ini ``vlm_aliases``, ``vlm-models.yaml``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_vlm.errors import ModelError, SpecError
from pytest_vlm.models.aliases import ALIASES
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.models.user_aliases import load_alias_file, table

REFERENCE_STUDY = (
    "qwen2-vl-2b",
    "qwen2-vl-7b",
    "qwen2.5-vl-3b",
    "qwen2.5-vl-7b",
    "minicpm-v-2_6",
    "llama-3.2-11b-vision",
    "llava-v1.6-mistral-7b",
    "llama3-llava-next-8b",
    "phi-3-vision",
    "internvl2-2b",
    "internvl3-1b",
    "smolvlm",
    "idefics3-8b",
    "paligemma",
    "gemma-3-4b",
    "gpt-4o",
    "gpt-4o-mini",
    "tiny-shapes-classifier",
    "vit-base-patch16-224",
    "clip-vit-base-patch32",
)


def write(tmp_path: Path, text: str, name: str = "models.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_required_alias_is_built_in() -> None:
    missing = [name for name in REFERENCE_STUDY if name not in ALIASES]
    assert missing == []
    remote = {name for name, spec in ALIASES.items() if spec.trust_remote_code}
    assert remote == {"minicpm-v-2_6", "phi-3-vision", "internvl2-2b"}
    assert {ALIASES[n].backend for n in ("gpt-4o", "gpt-4o-mini")} == {"openai"}
    assert {ALIASES[n].backend for n in ("tiny-shapes-classifier", "vit-base-patch16-224")} == {"classifier"}
    assert ALIASES["llava-v1.6-mistral-7b"].source == "llava-hf/llava-v1.6-mistral-7b-hf"
    assert ALIASES["internvl3-1b"].source.endswith("-hf")


def test_specs_stay_hashable_with_options() -> None:
    spec = ModelSpec("x", "openai", "gpt-4o", options=(("base_url", "http://localhost:8000/v1"),))
    assert {spec: 1}[spec] == 1
    assert spec.option("base_url") == "http://localhost:8000/v1"
    assert spec.option("timeout", 30) == 30


def test_new_alias_with_every_field(tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    path = write(
        tmp_path,
        """
models:
  my-qwen:
    source: ./ckpt
    revision: 5f3a2c1
    dtype: bfloat16
    max_new_tokens: 24
    trust_remote_code: true
    notes: fine-tuned
    options: {base_url: "http://x/v1", timeout: 30}
""",
    )
    aliases = load_alias_file(path, ALIASES)
    assert aliases["my-qwen"] == ModelSpec(
        "my-qwen",
        "hf",
        str((tmp_path / "ckpt").resolve()),
        revision="5f3a2c1",
        trust_remote_code=True,
        notes="fine-tuned",
        dtype="bfloat16",
        max_new_tokens=24,
        options=(("base_url", "http://x/v1"), ("timeout", 30)),
        origin=str(path),
    )
    assert resolve_model("my-qwen", base_dir=Path("/elsewhere"), aliases=aliases) is aliases["my-qwen"]
    assert "my-qwen" not in ALIASES  # the built-in table is never modified


def test_override_keeps_the_fields_not_given(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  qwen2-vl-7b: {revision: abc123}\n  gpt-4o: {options: {base_url: 'http://y'}}\n")
    aliases = load_alias_file(path, ALIASES)
    assert aliases["qwen2-vl-7b"].source == "Qwen/Qwen2-VL-7B-Instruct"
    assert aliases["qwen2-vl-7b"].revision == "abc123"
    assert aliases["gpt-4o"].backend == "openai" and aliases["gpt-4o"].option("base_url") == "http://y"
    assert list(aliases)[: len(ALIASES)] == list(ALIASES)  # overriding keeps the listing order


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models:\n  x: {sorce: a/b}\n", "models.yaml: models.x.sorce: unknown key (did you mean 'source'?)"),
        ("models:\n  x: {backend: hf}\n", "models.yaml: models.x: missing required key 'source'"),
        ("models:\n  x: {source: a/b, backend: torch}\n", "models.yaml: models.x.backend: unknown backend 'torch'"),
        ("models:\n  x: {source: a/b, dtype: fp8}\n", "models.yaml: models.x.dtype: unknown dtype 'fp8'"),
        ("models:\n  x: {source: a/b, max_new_tokens: 0}\n", "models.yaml: models.x.max_new_tokens: must be >= 1"),
        ("models:\n  x: {source: a/b, options: {k: [1]}}\n", "models.yaml: models.x.options.k: expected a string"),
        ("models:\n  a/b: {source: a/b}\n", "models.yaml: models.a/b: an alias name must be a non-empty string"),
        ("model:\n  x: {source: a/b}\n", "models.yaml: model: unknown key (did you mean 'models'?)"),
        ("models: [x]\n", "models.yaml: models: expected a mapping"),
        ("models:\n  x: {source: a/b}\n  x: {source: c/d}\n", "models.yaml: invalid YAML (line 3, column 3): dup"),
    ],
)
def test_bad_alias_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        load_alias_file(write(tmp_path, text), ALIASES)
    assert str(exc.value).startswith(message)


def test_unknown_name_lists_user_aliases_too(tmp_path: Path) -> None:
    aliases = load_alias_file(write(tmp_path, "models:\n  my-model: {source: org/model}\n"), ALIASES)
    with pytest.raises(
        ModelError, match=r"unknown model 'my-modle' \(did you mean 'my-model'\?\); known aliases: .*my-model"
    ):
        resolve_model("my-modle", base_dir=tmp_path, aliases=aliases)


def test_table_marks_user_aliases_and_remote_code(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  mine: {source: org/model, revision: r1}\n")
    lines = table(load_alias_file(path, ALIASES), "tiny-shapes")
    assert lines[0].split() == ["alias", "backend", "hub", "id", "/", "source", "remote", "code", "notes"]
    row = {line.split()[0]: line for line in lines[1:]}
    assert row["mine"].split()[:4] == ["mine", "hf", "org/model@r1", "no"]
    assert row["mine"].endswith(f"[from {path}]")
    assert row["phi-3-vision"].split()[3] == "yes"
    assert all(line == line.rstrip() for line in lines)


# --- through pytest ------------------------------------------------------------------------------

SPEC = """
dataset: {generated: shapes, count: 6}
classes: [circle, square, background]
background: background
strategies: [closed_set]
snapshot: false
"""


def test_list_models_shows_every_alias_and_the_projects(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", **{"config/models": "models:\n  team-model: {source: org/team-vlm, notes: ours}\n"})
    pytester.makeini("[pytest]\nvlm_aliases = config/models.yaml\n")
    result = pytester.runpytest("--vlm-list-models")
    assert result.ret == 0
    names = {line.split()[0] for line in result.stdout.lines if line.strip()}
    assert set(REFERENCE_STUDY) <= names
    result.stdout.fnmatch_lines(["team-model*hf*org/team-vlm*no*ours*config/models.yaml]"])


def test_bad_ini_alias_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", models="models:\n  x: {sorce: a/b}\n")
    pytester.makeini("[pytest]\nvlm_aliases = models.yaml\n")
    result = pytester.runpytest("--vlm-list-models")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: vlm_aliases: models.yaml: models.x.sorce: unknown key (did you mean 'source'?)*"]
    )


def test_vlm_models_yaml_next_to_the_benchmarks(pytester: pytest.Pytester) -> None:
    bench = pytester.mkdir("bench")
    (bench / "shapes.vlm.yaml").write_text(SPEC + "models: [judge]\n")
    (bench / "vlm-models.yaml").write_text("models:\n  judge: {backend: scripted, source: oracle}\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*shapes.vlm.yaml::shapes[[]judge-closed_set[]] PASSED*"])


def test_bad_vlm_models_yaml_next_to_a_benchmark_fails_its_collection(pytester: pytest.Pytester) -> None:
    bench = pytester.mkdir("bench")
    (bench / "shapes.vlm.yaml").write_text(SPEC + "models: [judge]\n")
    (bench / "vlm-models.yaml").write_text("models:\n  judge: {backend: scripted, sorce: oracle}\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*ERROR collecting bench/shapes.vlm.yaml*", "vlm-models.yaml: models.judge.sorce: unknown key (did you mean*"]
    )


def test_rootdir_vlm_models_yaml_serves_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    pytester.makefile(".yaml", **{"vlm-models": "models:\n  judge: {backend: scripted, source: oracle}\n"})
    result = pytester.runpytest("--vlm-model", "judge", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*shapes[[]judge-closed_set[]] PASSED*"])


def test_unknown_model_on_the_command_line_suggests(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    result = pytester.runpytest("--vlm-model", "gemma-3-4")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --vlm-model: unknown model 'gemma-3-4' (did you mean 'gemma-3-4b'?); known aliases: *"]
    )
