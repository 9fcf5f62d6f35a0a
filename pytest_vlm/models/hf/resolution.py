"""Resolution caps: how many pixels of each image a model's processor keeps.

Most families resize every image to a fixed grid (LLaVA-NeXT's pinpoints, Gemma 3's 896 px,
PaliGemma's 224 px, Mllama's tiles), so their token count is bounded by the checkpoint itself.
Qwen2-VL and Qwen2.5-VL keep the photo's own resolution up to the processor's ``max_pixels``
(12,845,056 in the published configs: 15,552 tokens for a 12 MP photo); their model cards
recommend ``max_pixels = 1280 * 28 * 28`` to balance speed and memory, and evaluation harnesses
(lmms-eval, VLMEvalKit) pass it explicitly. InternVL's tiling is bounded by ``max_patches``.

The default cap per family follows the model card (it only ever lowers the checkpoint's own);
``max_pixels`` in an alias's ``options``
(vlm-models.yaml, the rootdir's or a spec folder's) or ``--vlm-max-pixels`` overrides it. The cap
that ran is part of the model's fingerprint, so a cached answer never comes from another cap.
"""

from __future__ import annotations

from typing import Any

from pytest_vlm.errors import ModelError

# model_type -> the model card's recommended max_pixels.
DEFAULT_MAX_PIXELS: dict[str, int] = {"qwen2_vl": 1280 * 28 * 28, "qwen2_5_vl": 1280 * 28 * 28}


def _set_max_pixels(image_processor: Any, cap: int) -> None:
    size = dict(image_processor.size)
    image_processor.size = type(image_processor.size)(**{**size, "longest_edge": cap})
    if hasattr(image_processor, "max_pixels"):
        image_processor.max_pixels = cap


def apply_resolution_cap(processor: Any, model_type: str, model: str, requested: int | None) -> dict[str, Any]:
    """Set the processor's pixel cap (``requested``, else the family's default) and return what
    caps it now, for ``describe()`` and the fingerprint."""
    image_processor = processor.image_processor
    size: Any = getattr(image_processor, "size", None)
    has_pixels = size is not None and "longest_edge" in dict(size) and hasattr(image_processor, "merge_size")
    if not has_pixels:
        if requested is not None and requested != 0:
            raise ModelError(
                f"model {model}: max_pixels={requested} was asked for, but {type(image_processor).__name__} "
                "resizes every image to a fixed grid set by the checkpoint; remove max_pixels for this model "
                "(in vlm-models.yaml options, or --vlm-max-pixels)"
            )
        return {"fixed": _fixed(image_processor)}
    published = int(dict(size)["longest_edge"])
    default = DEFAULT_MAX_PIXELS.get(model_type)
    cap = requested if requested is not None else (min(default, published) if default else None)
    if cap:
        if cap < dict(size).get("shortest_edge", 0):
            raise ModelError(
                f"model {model}: max_pixels={cap} is below the processor's min_pixels "
                f"{dict(size)['shortest_edge']}; use a larger max_pixels"
            )
        _set_max_pixels(image_processor, cap)
    return {"max_pixels": int(dict(image_processor.size)["longest_edge"])}


def _fixed(image_processor: Any) -> Any:
    """What bounds a fixed-grid processor (its size and tiling keys), as plain data."""
    keys = ("size", "crop_size", "max_patches", "max_image_tiles", "image_grid_pinpoints", "max_image_size")
    import json

    def plain(value: Any) -> Any:  # SizeDict and friends: their set fields
        return {k: v for k, v in vars(value).items() if v is not None}

    found = {key: getattr(image_processor, key) for key in keys if getattr(image_processor, key, None) is not None}
    return json.loads(json.dumps(found, default=plain))


def requested_max_pixels(options: dict[str, Any], runtime_value: int | None, model: str) -> int | None:
    """The cap asked for: the alias's ``max_pixels`` option wins over ``--vlm-max-pixels``."""
    value = options.get("max_pixels", runtime_value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelError(f"model {model}: max_pixels must be a whole number of pixels >= 0, got {value!r}")
    return value
