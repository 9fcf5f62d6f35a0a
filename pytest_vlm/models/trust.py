"""Which models run code shipped with their checkpoint, and whether the user allowed it.

Running a checkpoint's code runs whatever its author (or whoever can push to its repository)
wrote, with your permissions. So an alias or a folder only *declares* that a model needs remote
code (``ModelSpec.trust_remote_code``); it loads only when the user opted in
(``ModelSpec.allow_remote_code``: ``--vlm-trust-remote-code``, ini ``vlm_trust_remote_code`` or the
spec's ``trust_remote_code`` key). :func:`require_opt_in` refuses before anything is downloaded or
imported, and says how to opt in. Nothing here loads a model.
"""

from __future__ import annotations

import json
from pathlib import Path

from pytest_vlm.errors import ModelError
from pytest_vlm.models.aliases import ALIASES
from pytest_vlm.models.spec import ModelSpec

# config.json ``model_type`` of each family's original checkpoint -> backend name.
MODEL_TYPES = {"minicpmv": "minicpm-v", "phi3_v": "phi3-vision", "internvl_chat": "internvl-chat"}
BACKENDS = tuple(MODEL_TYPES.values())

OPT_IN_HELP = (
    "opt in with --vlm-trust-remote-code (or 'vlm_trust_remote_code = true' in your pytest ini file), "
    "or in the benchmark spec with 'trust_remote_code: [{name}]' (or 'trust_remote_code: true' for all of "
    "its models). Read the checkpoint's *.py files first: they run with your permissions."
)


class RemoteCodeRefused(ModelError):
    """A model needs its checkpoint's own code and the user has not opted in."""


def family_of_folder(folder: Path) -> str | None:
    """The remote-code backend for a checkpoint folder, from its config.json ``model_type``."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the hf backend reports unreadable configs with the folder's name
    return MODEL_TYPES.get(str(config.get("model_type"))) if isinstance(config, dict) else None


def require_opt_in(spec: ModelSpec) -> None:
    """Refuse a model that needs remote code unless the user opted in; nothing is loaded before."""
    if needs_remote_code(spec) and not spec.allow_remote_code:
        alias = ALIASES.get(spec.name)
        name = spec.name if alias is not None and alias.source == spec.source else spec.source
        raise RemoteCodeRefused(
            f"model {spec.name} ({spec.source}) runs Python code shipped with the checkpoint "
            f"(trust_remote_code), which pytest-vlm never does by default; {OPT_IN_HELP.format(name=name)}"
        )


def needs_remote_code(spec: ModelSpec) -> bool:
    """Declared by the alias or folder, and implied by the remote-code backends (which always pass
    ``trust_remote_code=True`` to transformers), so a user alias cannot slip past the opt-in."""
    return spec.trust_remote_code or spec.backend in BACKENDS
