"""Model aliases a project defines or overrides in YAML, without touching the package.

Two places, both optional, later ones winning:

1. the files named by the ini key ``vlm_aliases`` (paths relative to the ini file's folder);
2. a ``vlm-models.yaml`` next to the benchmark files: in the rootdir for ``--vlm-model`` names,
   and in each spec's own folder for the names in that spec's ``models:``.

Schema (every key but the alias name optional; an alias that already exists is overridden
field by field, so ``qwen2-vl-7b: {revision: <sha>}`` only pins a revision)::

    models:
      my-qwen:
        backend: hf                       # hf (default), openai, classifier, scripted,
                                          # minicpm-v, phi3-vision, internvl-chat (remote code)
        source: ./checkpoints/run-42      # hub id, or a folder relative to this file
        revision: 5f3a2c1                 # pinned hub revision
        dtype: bfloat16                   # weights dtype on GPU
        max_new_tokens: 24                # generation budget for every prompt
        trust_remote_code: false
        notes: fine-tuned on our shapes
        options: {base_url: "http://localhost:8000/v1"}   # backend-specific settings
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_vlm.models.aliases import ALIASES, TINY_SHAPES_DIR
from pytest_vlm.models.backends import BACKEND_NAMES
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.spec import _bool, _check_keys, _int, _mapping, _str, _Where, load_yaml

FILE_NAME = "vlm-models.yaml"
DTYPES = ("auto", "float32", "bfloat16", "float16")
ENTRY_KEYS = (
    "backend",
    "source",
    "revision",
    "dtype",
    "max_new_tokens",
    "trust_remote_code",
    "notes",
    "options",
)
ALIASES_KEY = pytest.StashKey[dict[str, ModelSpec]]()  # built-in + ini files + rootdir vlm-models.yaml


def load_alias_file(path: Path, base: Mapping[str, ModelSpec]) -> dict[str, ModelSpec]:
    """``base`` with the aliases of the YAML file ``path`` added or overridden."""
    data = load_yaml(path)
    where = _Where(path)
    top = _mapping(data, where)
    _check_keys(top, ("models",), where, required=("models",))
    models = _mapping(top["models"], where / "models")
    aliases = dict(base)
    for name, entry in models.items():
        at = where / "models" / name
        if not isinstance(name, str) or not name.strip() or "/" in name:
            raise at.error("an alias name must be a non-empty string without '/' (hub ids and folders resolve as is)")
        aliases[name] = _entry(name, _mapping(entry, at), at, path, base.get(name))
    return aliases


def _choice(value: Any, at: _Where, what: str, allowed: Sequence[str]) -> str:
    text = _str(value, at)
    if text not in allowed:
        raise at.error(f"unknown {what} {text!r}; use one of {', '.join(allowed)}")
    return text


def _entry(name: str, entry: Mapping[str, Any], at: _Where, path: Path, old: ModelSpec | None) -> ModelSpec:
    _check_keys(entry, ENTRY_KEYS, at, required=() if old else ("source",))
    fields: dict[str, Any] = {"name": name, "origin": str(path)}
    if "backend" in entry:
        fields["backend"] = _choice(entry["backend"], at / "backend", "backend", BACKEND_NAMES)
    if "source" in entry:
        source = _str(entry["source"], at / "source").strip()
        folder = (path.parent / source).resolve()
        # a relative folder is relative to the YAML file, wherever pytest runs from
        fields["source"] = str(folder) if source.startswith(".") or folder.is_dir() else source
    for key in ("revision", "notes"):
        if key in entry:
            fields[key] = _str(entry[key], at / key)
    if "dtype" in entry:
        fields["dtype"] = _choice(entry["dtype"], at / "dtype", "dtype", DTYPES)
    if "max_new_tokens" in entry:
        fields["max_new_tokens"] = _int(entry["max_new_tokens"], at / "max_new_tokens", minimum=1)
    if "trust_remote_code" in entry:
        fields["trust_remote_code"] = _bool(entry["trust_remote_code"], at / "trust_remote_code")
    if "options" in entry:
        options = _mapping(entry["options"], at / "options")
        for key, value in options.items():
            if not isinstance(value, (str, int, float, bool)):
                raise (at / "options" / key).error(f"expected a string, number or true/false, got {value!r}")
        fields["options"] = tuple(sorted((str(k), v) for k, v in options.items()))
    if old is not None:
        return dataclasses.replace(old, **fields)
    return ModelSpec(**{"backend": "hf", **fields})


def session_aliases(config: pytest.Config) -> dict[str, ModelSpec]:
    """Built-in aliases, then the ``vlm_aliases`` ini files, then ``vlm-models.yaml`` in the rootdir."""
    aliases = dict(ALIASES)
    ini_dir = config.inipath.parent if config.inipath is not None else config.rootpath
    for name in config.getini("vlm_aliases"):
        aliases = load_alias_file(ini_dir / name, aliases)
    local = config.rootpath / FILE_NAME
    if local.is_file():
        aliases = load_alias_file(local, aliases)
    return aliases


def folder_aliases(folder: Path, base: dict[str, ModelSpec], rootpath: Path) -> dict[str, ModelSpec]:
    """``base`` plus the ``vlm-models.yaml`` of a spec's folder (the rootdir's is already in ``base``)."""
    local = folder / FILE_NAME
    if local.is_file() and folder.resolve() != rootpath.resolve():
        return load_alias_file(local, base)
    return base


def table(aliases: Mapping[str, ModelSpec], default: str) -> list[str]:
    """The lines ``--vlm-list-models`` prints: alias, backend, hub id/source, remote code, notes."""
    rows = [("alias", "backend", "hub id / source", "remote code", "notes")]
    for spec in aliases.values():
        embedded = not spec.origin and Path(spec.source).parent == TINY_SHAPES_DIR.parent
        source = "<embedded with pytest-vlm>" if embedded else spec.source
        if spec.revision:
            source += f"@{spec.revision}"
        notes = [spec.notes] if spec.notes else []
        if spec.name == default:
            notes.insert(0, "(default)")
        if spec.origin:
            notes.append(f"[from {spec.origin}]")
        rows.append((spec.name, spec.backend, source, "yes" if spec.trust_remote_code else "no", " ".join(notes)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return [("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4]).rstrip() for row in rows]
