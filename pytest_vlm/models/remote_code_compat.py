"""Whether a remote-code checkpoint's own code can run with the installed transformers.

The published code of the seed checkpoints was written for transformers 4: MiniCPM-V-2_6's and
Phi-3-vision's modeling files import ``transformers.modeling_attn_mask_utils`` and call
``DynamicCache.from_legacy_cache``, ``.seen_tokens`` and ``get_usable_length``, all gone in
transformers 5; InternVL2's imports ``einops``, which it does not declare. Loading them would
download gigabytes and then fail deep inside their code, once per item. So they are refused up
front, with what works instead. A checkpoint folder's ``*.py`` files are scanned for the same
names, so a checkpoint whose code was brought up to date loads as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pytest_vlm.errors import ModelError
from pytest_vlm.models.spec import ModelSpec

# What the published code of the seed checkpoints needs that this environment lacks: transformers
# 5 removed these modules and cache methods, and InternVL2's code imports einops, which it does not
# declare. The tiny checkpoints of tests/ carry compatible code, so folders are scanned instead.
REMOVED_IN_TRANSFORMERS_5 = (
    "modeling_attn_mask_utils",
    "from_legacy_cache",
    "seen_tokens",
    "get_usable_length",
)
PUBLISHED_CODE_USES = {
    "openbmb/MiniCPM-V-2_6": REMOVED_IN_TRANSFORMERS_5,
    "microsoft/Phi-3-vision-128k-instruct": REMOVED_IN_TRANSFORMERS_5,
    "OpenGVLab/InternVL2-2B": ("einops",),
}
WORKS_INSTEAD = (
    "What works instead: serve it with vLLM and use --vlm-model vllm:{source}, or a transformers-native "
    "family (qwen2-vl-7b, qwen2.5-vl-7b, internvl3-2b, llava-v1.6-mistral-7b, llama-3.2-11b-vision)."
)


def missing_for(names: Sequence[str]) -> list[str]:
    """Which of the APIs and packages ``names`` this environment does not have."""
    import importlib.util

    from transformers import DynamicCache

    missing = []
    for name in names:
        if name == "modeling_attn_mask_utils":
            gone = importlib.util.find_spec("transformers.modeling_attn_mask_utils") is None
        elif name in REMOVED_IN_TRANSFORMERS_5:
            gone = not hasattr(DynamicCache, name)
        else:
            gone = importlib.util.find_spec(name) is None
        if gone:
            missing.append(name)
    return missing


def code_uses(spec: ModelSpec) -> tuple[str, ...]:
    """The known-fragile names the checkpoint's code uses: scanned in a folder's ``*.py`` files,
    from the table above for the published hub checkpoints, nothing known otherwise."""
    folder = Path(spec.source)
    if folder.is_dir():
        text = "\n".join(path.read_text(encoding="utf-8", errors="replace") for path in sorted(folder.glob("*.py")))
        fragile = (*REMOVED_IN_TRANSFORMERS_5, "einops")
        return tuple(name for name in fragile if name in text)
    return PUBLISHED_CODE_USES.get(spec.source, ())


def refuse_incompatible_code(spec: ModelSpec) -> None:
    """Fail before downloading or importing anything when the checkpoint's code cannot run here."""
    import transformers

    missing = missing_for(code_uses(spec))
    if not missing:
        return
    packages = [name for name in missing if name == "einops"]
    apis = [name for name in missing if name != "einops"]
    reasons = []
    if apis:
        reasons.append(
            f"uses transformers APIs that transformers {transformers.__version__} no longer has ({', '.join(apis)})"
        )
    if packages:
        reasons.append(f"imports {', '.join(packages)}, which is not installed (pip install {' '.join(packages)})")
    raise ModelError(
        f"model {spec.name} ({spec.source}): the checkpoint's own code {' and '.join(reasons)}, so it cannot "
        f"run with this transformers. {WORKS_INSTEAD.format(source=spec.source)}"
    )
