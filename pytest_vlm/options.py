"""The ``--vlm-*`` command-line options and their ``vlm_*`` ini keys, read once into VlmOptions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

DEFAULT_FILES = ("*.vlm.yaml", "*.vlm.yml")


@dataclass(frozen=True)
class VlmOptions:
    models: tuple[str, ...]  # from --vlm-model / vlm_models; empty: each spec's own, else the default
    update_snapshots: bool
    json_path: Path | None
    device: str
    dtype: str
    batch_size: int
    files: tuple[str, ...]
    seed: int | None
    baseline: str | None = None  # --vlm-baseline: compare with this model's baselines instead of each model's own
    markdown_path: Path | None = None
    html_path: Path | None = None


# (option, ini key, help, kind): one table so each flag and its ini key cannot drift apart.
_VALUED = (
    ("--vlm-device", "vlm_device", "device for models: auto (GPU when present), cpu, cuda, cuda:1 ...", "auto"),
    ("--vlm-dtype", "vlm_dtype", "weights dtype: auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16", "auto"),
    ("--vlm-batch-size", "vlm_batch_size", "prompts per model call batch", "32"),
    ("--vlm-json", "vlm_json", "write every metric and per-image prediction as JSON to this path", None),
    ("--vlm-seed", "vlm_seed", "seed of the closed-set shuffles, overriding each spec's 'seed'", None),
    (
        "--vlm-baseline",
        "vlm_baseline",
        "compare every model with this model's stored baselines (read-only) instead of its own",
        None,
    ),
    ("--vlm-markdown", "vlm_markdown", "write a Markdown summary to this path", None),
    ("--vlm-html", "vlm_html", "write a self-contained HTML report to this path", None),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("vlm", "vision-language model benchmarks (pytest-vlm)")
    group.addoption(
        "--vlm-model",
        action="append",
        default=[],
        metavar="NAME",
        help="model to benchmark: alias, hub id or checkpoint folder; repeat or comma-separate for several "
        "(default: the spec's 'models', else ini vlm_models, else tiny-shapes)",
    )
    parser.addini("vlm_models", "models to benchmark when --vlm-model is not given", type="linelist", default=[])
    group.addoption(
        "--vlm-update-snapshots",
        action="store_true",
        default=False,
        help="record the predictions of the models and benchmarks that ran as their new baselines "
        "(other models' baselines are never touched)",
    )
    group.addoption(
        "--vlm-files",
        metavar="GLOB",
        action="append",
        default=[],
        help=f"file name patterns collected as benchmark specs (default: {' '.join(DEFAULT_FILES)})",
    )
    parser.addini(
        "vlm_files", "file name patterns collected as benchmark specs", type="args", default=list(DEFAULT_FILES)
    )
    group.addoption("--vlm-list-models", action="store_true", default=False, help="list the model aliases and exit")
    for flag, ini, help_text, default in _VALUED:
        group.addoption(flag, dest=ini, default=None, metavar="VALUE", help=f"{help_text} (ini: {ini})")
        parser.addini(ini, help_text, default=default)


def _split(values: list[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _value(config: pytest.Config, ini: str) -> str | None:
    cli = config.getoption(ini)
    value = cli if cli is not None else config.getini(ini)
    return str(value).strip() if value not in (None, "") else None


def _int(config: pytest.Config, ini: str, minimum: int) -> int | None:
    value = _value(config, ini)
    if value is None:
        return None
    flag = "--" + ini.replace("_", "-")
    try:
        number = int(value)
    except ValueError:
        raise pytest.UsageError(f"{flag} / {ini}: expected an integer, got {value!r}") from None
    if number < minimum:
        raise pytest.UsageError(f"{flag} / {ini}: must be >= {minimum}, got {number}")
    return number


def read_options(config: pytest.Config) -> VlmOptions:
    models = _split(config.getoption("vlm_model")) or _split(config.getini("vlm_models"))
    json_path = _value(config, "vlm_json")
    return VlmOptions(
        models=models,
        update_snapshots=bool(config.getoption("vlm_update_snapshots")),
        json_path=Path(config.invocation_params.dir, json_path) if json_path else None,
        device=_value(config, "vlm_device") or "auto",
        dtype=_value(config, "vlm_dtype") or "auto",
        batch_size=_int(config, "vlm_batch_size", 1) or 32,
        files=tuple(config.getoption("vlm_files")) or tuple(config.getini("vlm_files")),
        seed=_int(config, "vlm_seed", 0),
        baseline=_value(config, "vlm_baseline"),
        markdown_path=_path(config, "vlm_markdown"),
        html_path=_path(config, "vlm_html"),
    )


def _path(config: pytest.Config, ini: str) -> Path | None:
    value = _value(config, ini)
    return Path(config.invocation_params.dir, value) if value else None
