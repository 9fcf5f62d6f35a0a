"""Loading a model's processor, with an image-only fallback where torchvision is absent.

Processors with a video slot (Qwen2-VL, Qwen2.5-VL, InternVL, SmolVLM, ...) cannot be built by
``AutoProcessor`` in transformers 5.x without torchvision, because the video processor needs it.
Benchmarks here only send images, so in that case the same processor class is loaded without its
video slot: same tokenizer, same image processor, same chat template.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any


class ProcessorLoadError(RuntimeError):
    """The model's processor could not be loaded."""


@functools.cache
def image_only_processor_class(cls: Any) -> type:
    """A subclass of the processor class ``cls`` whose only sub-processors are image and tokenizer.

    transformers derives a processor's sub-processors from its ``__init__`` signature, so dropping
    ``video_processor`` from the signature is enough. The subclass keeps the parent's name so that
    ``save_pretrained`` writes the real ``processor_class`` and the saved folder loads anywhere, and
    the parent's other parameters (``image_seq_length`` ...), which transformers also reads off the
    signature to save and reload them.
    """
    # transformers reads a processor's parameters off ``__init__.__code__``, so the subclass needs
    # a real function with the parent's parameters (less video_processor), not a *args wrapper.
    parent = inspect.signature(cls.__init__)
    names = [
        name
        for name, param in list(parent.parameters.items())[1:]
        if name != "video_processor" and param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    defaults = {name: parent.parameters[name].default for name in names}
    for name, default in defaults.items():
        if default is inspect.Parameter.empty:
            defaults[name] = None
    params = ", ".join(f"{name}=_defaults[{name!r}]" for name in names)
    passed = ", ".join(f"{name}={name}" for name in names)
    source = f"def __init__(self, {params}, **kwargs):\n    _parent(self, video_processor=None, {passed}, **kwargs)\n"
    namespace: dict[str, Any] = {"_defaults": defaults, "_parent": cls.__init__}
    exec(source, namespace)  # noqa: S102 - the source is built from parameter names only
    __init__ = namespace["__init__"]

    return type(
        cls.__name__, (cls,), {"__init__": __init__, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    )


def has_video_slot(cls: Any) -> bool:
    return "video_processor" in cls.get_attributes()


def _processor_class_for(source: str, **kwargs: Any) -> Any:
    """The processor class transformers registers for the model type of ``source``'s config."""
    import transformers
    from transformers import AutoConfig
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    config = AutoConfig.from_pretrained(source, **kwargs)
    name = PROCESSOR_MAPPING_NAMES.get(config.model_type)
    return getattr(transformers, name, None) if name else None


def load_processor(source: str, *, revision: str | None = None, trust_remote_code: bool = False) -> Any:
    """Load the processor of ``source`` (hub id or folder), image-only when the video slot cannot load."""
    from transformers import AutoProcessor, ProcessorMixin
    from transformers.utils import is_torchvision_available

    kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
    first_error: Exception | None = None
    try:
        processor = AutoProcessor.from_pretrained(source, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the fallback below decides, and re-raises with context
        first_error = exc
        processor = None
    if isinstance(processor, ProcessorMixin) and getattr(processor, "image_processor", None) is not None:
        return processor

    cls = _processor_class_for(source, **kwargs)
    if cls is not None and has_video_slot(cls) and not is_torchvision_available():
        try:
            return image_only_processor_class(cls).from_pretrained(source, **kwargs)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - reported with the source and the reason
            raise ProcessorLoadError(
                f"could not load the processor of {source} (image-only, since torchvision is not installed): {exc}"
            ) from exc
    if first_error is not None:
        raise ProcessorLoadError(f"could not load the processor of {source}: {first_error}") from first_error
    raise ProcessorLoadError(
        f"{source} has no image processor (AutoProcessor returned {type(processor).__name__}); "
        "is it a vision-language model?"
    )
