"""Model aliases: the one place that maps a short name to a backend and a checkpoint."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pytest_vlm.errors import ModelError, did_you_mean

TINY_SHAPES_DIR = Path(__file__).resolve().parent.parent / "tiny" / "tiny-shapes"
DEFAULT_MODEL = "tiny-shapes"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(frozen=True)
class ModelSpec:
    """How to load one model. ``name`` is what items, snapshots and reports call it."""

    name: str
    backend: str  # "hf" (transformers) or "scripted" (rule-based, for testing specs)
    source: str  # hub id or folder for "hf"; the behaviour for "scripted"
    revision: str | None = None
    trust_remote_code: bool = False
    notes: str = ""
    wraps: ModelSpec | None = None  # the model a wrapper (models/degraded.py) runs


ALIASES: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "tiny-shapes",
            "hf",
            str(TINY_SHAPES_DIR),
            notes="embedded 544k-parameter Qwen2-VL trained on generated shapes; demos, tests and CI examples",
        ),
        ModelSpec("qwen2-vl-2b", "hf", "Qwen/Qwen2-VL-2B-Instruct"),
        ModelSpec("qwen2-vl-7b", "hf", "Qwen/Qwen2-VL-7B-Instruct"),
        ModelSpec("scripted:oracle", "scripted", "oracle", notes="always right: checks spec plumbing"),
        ModelSpec("scripted:noisy", "scripted", "noisy", notes="unreadable answers for ~30% of images"),
        ModelSpec("scripted:mute", "scripted", "mute", notes="never gives a readable answer"),
    )
}


def resolve_model(name: str, *, base_dir: Path) -> ModelSpec:
    """An alias, a local checkpoint folder (relative to ``base_dir``) or a hub id -> ModelSpec."""
    name = name.strip()
    if name in ALIASES:
        return ALIASES[name]
    if name.startswith("degraded:"):
        from pytest_vlm.models.degraded import resolve_degraded

        return resolve_degraded(name, base_dir=base_dir)
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"model folder {path} has no config.json; point --vlm-model at a checkpoint folder")
        return ModelSpec(name=path.name, backend="hf", source=str(path.resolve()))
    if _HUB_ID.fullmatch(name) and not name.startswith("."):
        for spec in ALIASES.values():
            if spec.source == name:  # the same checkpoint shares its alias's baselines
                return spec
        return ModelSpec(name=name.replace("/", "--"), backend="hf", source=name)
    if name.startswith((".", "/", "~")) or "/" in name or "\\" in name:
        raise ModelError(f"model folder {path} does not exist; check the path (relative paths start at {base_dir})")
    raise ModelError(
        f"unknown model {name!r}{did_you_mean(name, ALIASES)}; known aliases: {', '.join(ALIASES)}; "
        "or give a hub id (owner/name) or a checkpoint folder"
    )
