"""Model names -> ModelSpec: an alias, ``openai:MODEL``, ``degraded:F:MODEL``, a checkpoint folder or a hub id."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from pytest_vlm.errors import ModelError, SpecError, did_you_mean
from pytest_vlm.models.aliases import ALIASES
from pytest_vlm.models.backends import folder_backend
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.models.trust import needs_remote_code

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")

# What --vlm-model (and a spec's 'models') takes besides an alias, as --vlm-list-models shows it.
NAME_FORMS = (
    ("OWNER/NAME", "a hub id, e.g. Qwen/Qwen2-VL-7B-Instruct (downloaded into the Hugging Face cache)"),
    ("PATH", "a checkpoint folder (config.json, weights, processor); write --vlm-model=PATH on the command line"),
    ("openai:MODEL", "MODEL on an OpenAI-compatible server: --vlm-api-base, else api.openai.com"),
    ("openai:MODEL@URL", "MODEL on the server at URL, e.g. openai:Qwen/Qwen2-VL-7B-Instruct@http://gpu-box:8000/v1"),
    (
        "degraded:FRACTION:MODEL",
        "MODEL shown a blank image for about FRACTION of the images, e.g. degraded:0.1:tiny-shapes",
    ),
)


def name_forms() -> list[str]:
    """The lines --vlm-list-models prints after the aliases."""
    width = max(len(form) for form, _ in NAME_FORMS)
    return ["", "other model names:", *(f"  {form.ljust(width)}  {meaning}" for form, meaning in NAME_FORMS)]


def resolve_model(name: str, *, base_dir: Path, aliases: Mapping[str, ModelSpec] | None = None) -> ModelSpec:
    """An alias, a local checkpoint folder (relative to ``base_dir``) or a hub id -> ModelSpec.

    ``aliases`` defaults to the built-in ones; pass the session's (built-in plus the user's).
    """
    known = ALIASES if aliases is None else aliases
    name = name.strip()
    if name in known:
        return known[name]
    if name.startswith("openai:"):
        return openai_model(name)
    if name.startswith("degraded:"):
        from pytest_vlm.models.degraded import resolve_degraded

        return resolve_degraded(name, resolve=lambda inner: resolve_model(inner, base_dir=base_dir))
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"model folder {path} has no config.json; point --vlm-model at a checkpoint folder")
        backend = folder_backend(path)
        spec = ModelSpec(name=path.name, backend=backend, source=str(path.resolve()))
        return replace(spec, trust_remote_code=needs_remote_code(spec))
    if _HUB_ID.fullmatch(name) and not name.startswith("."):
        for spec in known.values():
            if spec.source == name:  # the same checkpoint shares its alias's baselines
                return spec
        return ModelSpec(name=name.replace("/", "--"), backend="hf", source=name)
    if name.startswith((".", "/", "~")) or "/" in name or "\\" in name:
        raise ModelError(f"model folder {path} does not exist; check the path (relative paths start at {base_dir})")
    raise ModelError(
        f"unknown model {name!r}{did_you_mean(name, known)}; known aliases: {', '.join(known)}; "
        "or give a hub id (owner/name) or a checkpoint folder"
    )


def openai_model(name: str) -> ModelSpec:
    """``openai:MODEL[@URL]``: MODEL on an OpenAI-compatible server (URL, else --vlm-api-base, else OpenAI)."""
    from pytest_vlm.models.openai_compat import parse_model_name

    model, url = parse_model_name(name)
    return ModelSpec(name=f"openai:{model}", backend="openai", source=model, options=(("url", url),) if url else ())


def with_opt_in(
    models: Sequence[ModelSpec],
    *,
    cli: bool,
    spec_trust: bool | tuple[str, ...],
    base_dir: Path,
    where: str,
    aliases: Mapping[str, ModelSpec] | None = None,
) -> list[ModelSpec]:
    """``models`` with ``allow_remote_code`` set where the user opted in: on the command line / ini
    (``cli``) or in the benchmark spec (``spec_trust``: true, or the names of the trusted models,
    resolved like ``models`` entries, with ``aliases``; ``where`` names the spec file for errors)."""
    trusted: set[str] = set()
    if isinstance(spec_trust, tuple):
        for i, name in enumerate(spec_trust):
            try:
                trusted.add(resolve_model(name, base_dir=base_dir, aliases=aliases).source)
            except ModelError as exc:
                raise SpecError(f"{where}: trust_remote_code[{i}]", str(exc)) from None
    return [
        replace(m, allow_remote_code=True)
        if needs_remote_code(m) and (cli or spec_trust is True or m.source in trusted)
        else m
        for m in models
    ]
