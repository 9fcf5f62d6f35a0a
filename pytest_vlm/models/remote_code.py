"""Checkpoints that ship their own modelling code (``trust_remote_code``), each called the way its
model card documents: MiniCPM-V-2_6's ``model.chat``, Phi-3-vision's processor + ``generate``, and
the original InternVL2's ``model.batch_chat`` with the card's ``load_image`` tiling.

Nothing here runs unless the user opted in: see models/trust.py.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from pytest_vlm.models.base import GenerationRequest, ImageSource
from pytest_vlm.models.device import DeviceModel, RuntimeOptions, checkpoint_identity, load_error
from pytest_vlm.models.remote_code_compat import refuse_incompatible_code
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.models.trust import require_opt_in


def load_remote_code_model(spec: ModelSpec, runtime: RuntimeOptions) -> RemoteCodeModel:
    require_opt_in(spec)
    refuse_incompatible_code(spec)  # published code written for transformers 4: refused before any download
    families: dict[str, type[RemoteCodeModel]] = {
        "minicpm-v": MiniCPMV,
        "phi3-vision": Phi3Vision,
        "internvl-chat": InternVLChat,
    }
    return families[spec.backend](spec, runtime)


class RemoteCodeModel(DeviceModel, abc.ABC):
    """What the three families share: device, dtype, loading errors, memory, describe, close."""

    backend = ""

    def __init__(self, spec: ModelSpec, runtime: RuntimeOptions) -> None:
        self._place(spec, runtime)
        try:
            self.load()
        except (OSError, ValueError, ImportError, AttributeError, TypeError) as exc:
            # Remote code fails in all sorts of ways (a missing pip package, an incompatible
            # transformers); say which model and where, and keep the original message.
            raise load_error(
                f"model {spec.name} from {spec.source} with its own code",
                f"{type(exc).__name__}: {exc}",
                "remote code may also need the packages and transformers version its model card lists.",
            ) from exc
        self.model.eval()

    @abc.abstractmethod
    def load(self) -> None:
        """Load ``self.model`` (and its tokenizer or processor) the way the model card does."""

    @abc.abstractmethod
    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        """The answers, the way the family's model card calls the model."""

    def _from_pretrained(self, auto_class: Any, **kwargs: Any) -> Any:
        model = auto_class.from_pretrained(
            self.spec.source, revision=self.spec.revision, trust_remote_code=True, dtype=self.dtype, **kwargs
        )
        return model.to(self.device)

    def _batches(self, requests: Sequence[GenerationRequest]) -> list[list[int]]:
        """Request indices in batches of ``batch_size``, similar prompt lengths together (little
        padding); the index breaks ties, so batching is a pure function of the requests."""
        order = sorted(range(len(requests)), key=lambda i: (requests[i].max_new_tokens, len(requests[i].prompt), i))
        return [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]

    def _max_new_tokens(self, requests: Sequence[GenerationRequest], batch: list[int]) -> int:
        """The alias's generation budget when it sets one, else the longest the batch asks for."""
        return self.spec.max_new_tokens or max(requests[i].max_new_tokens for i in batch)

    @staticmethod
    def _images(requests: Sequence[GenerationRequest]) -> dict[str, Any]:
        """Each request's image decoded once per call, however many prompts ask about it."""
        images: dict[str, Any] = {}
        for request in requests:
            source: ImageSource = request.image
            if source.id not in images:
                images[source.id] = source.load().convert("RGB")
        return images

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "source": self.spec.source,
            "revision": self.spec.revision,
            "architecture": type(self.model).__name__,
            "remote_code": True,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
            "batch_size": self.batch_size,
        }

    def fingerprint(self) -> dict[str, Any] | None:
        """What the answers depend on, for the result cache (models/cache/results.py): a local folder by its
        files' hashes, its code included (added by the cache), a hub model by its resolved commit;
        a hub model without one cannot be pinned, so it is not cached (None)."""
        import torch
        import transformers

        where = checkpoint_identity(self.spec.source, self.model.config)
        if where is None:
            return None
        return {
            **where,
            "backend": self.backend,
            "remote_code": True,
            "architecture": type(self.model).__name__,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device.split(":")[0],
            "decoding": {"greedy": True, "budget": self.spec.max_new_tokens},
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        }


class MiniCPMV(RemoteCodeModel):
    """openbmb/MiniCPM-V-2_6: ``model.chat(image=None, msgs=..., tokenizer=tokenizer)`` with the
    image and the question in one user message, as its card shows. ``chat`` also takes a list of
    such conversations (``msgs=[msgs_1, msgs_2, ...]``, its code's batch inference, which returns a
    list of answers); that is how batches of ``batch_size`` prompts are asked.

    ``sampling=False`` alone means 3-beam search with repetition penalty 1.2 in MiniCPM-V's code;
    ``num_beams=1`` and ``repetition_penalty=1.0`` (which its ``chat`` applies over those defaults)
    make it the greedy decoding every other backend uses.
    """

    backend = "minicpm-v"

    def load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.model = self._from_pretrained(AutoModel)
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.spec.source, revision=self.spec.revision, trust_remote_code=True
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import torch

        images = self._images(requests)
        answers = [""] * len(requests)
        for batch in self._batches(requests):
            conversations = [
                [{"role": "user", "content": [images[requests[i].image.id], requests[i].prompt]}] for i in batch
            ]
            with torch.inference_mode():
                texts = self.model.chat(
                    image=None,
                    msgs=conversations,
                    tokenizer=self.tokenizer,
                    sampling=False,
                    max_new_tokens=self._max_new_tokens(requests, batch),
                    num_beams=1,
                    repetition_penalty=1.0,
                )
            for i, text in zip(batch, texts, strict=True):
                answers[i] = str(text).strip()
        return answers


class Phi3Vision(RemoteCodeModel):
    """microsoft/Phi-3-vision-128k-instruct: the card's chat prompt (``<|image_1|>`` then the
    question), its processor, ``model.generate`` and ``batch_decode`` of the new tokens.

    Its processor takes one prompt at a time, so each prompt is processed alone and the rows are
    batched here: input ids left-padded (prompts must end together for decoder-only generation),
    pixel values padded to the same number of crops (``image_sizes`` says how many are real).
    """

    backend = "phi3-vision"

    def load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoProcessor

        self.processor = AutoProcessor.from_pretrained(
            self.spec.source, revision=self.spec.revision, trust_remote_code=True
        )
        # The card's setting for machines without flash-attention.
        self.model = self._from_pretrained(AutoModelForCausalLM, attn_implementation="eager")
        self.tokenizer = self.processor.tokenizer
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else self.tokenizer.eos_token_id

    def prompt(self, question: str) -> str:
        messages = [{"role": "user", "content": "<|image_1|>\n" + question}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _batch(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(row["input_ids"].shape[1] for row in rows)
        crops = max(row["pixel_values"].shape[1] for row in rows)
        ids, mask, pixels = [], [], []
        for row in rows:
            pad = width - row["input_ids"].shape[1]
            ids.append(torch.nn.functional.pad(row["input_ids"], (pad, 0), value=self.pad_token_id))
            mask.append(torch.nn.functional.pad(row["attention_mask"], (pad, 0), value=0))
            extra = crops - row["pixel_values"].shape[1]
            pixels.append(torch.nn.functional.pad(row["pixel_values"], (0, 0) * 3 + (0, extra)))
        return {
            "input_ids": torch.cat(ids).to(self.device),
            "attention_mask": torch.cat(mask).to(self.device),
            "pixel_values": torch.cat(pixels).to(self.device, self.dtype),
            "image_sizes": torch.cat([row["image_sizes"] for row in rows]).to(self.device),
        }

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import torch

        images = self._images(requests)
        prompts = [self.prompt(r.prompt) for r in requests]
        answers = [""] * len(requests)
        for batch in self._batches(requests):
            rows = [self.processor(prompts[i], [images[requests[i].image.id]], return_tensors="pt") for i in batch]
            inputs = self._batch(rows)
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs,
                    eos_token_id=self.tokenizer.eos_token_id,
                    pad_token_id=self.pad_token_id,
                    max_new_tokens=self._max_new_tokens(requests, batch),
                    do_sample=False,
                )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            texts = self.processor.batch_decode(
                new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False
            )
            for i, text in zip(batch, texts):
                answers[i] = text.strip()
        return answers


class InternVLChat(RemoteCodeModel):
    """OpenGVLab/InternVL2-2B (the original remote-code checkpoint): the card's ``load_image``
    (448-pixel tiles plus a thumbnail, ImageNet normalisation, see :func:`internvl_pixel_values`)
    and its batch inference, ``model.batch_chat(tokenizer, pixel_values, num_patches_list=...,
    questions=..., generation_config=dict(max_new_tokens=..., do_sample=False))``, ``batch_size``
    prompts per call. Each image is tiled once however many prompts ask about it.
    """

    backend = "internvl-chat"
    max_tiles = 12  # the card's max_num

    def load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.model = self._from_pretrained(AutoModel)
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.spec.source, revision=self.spec.revision, trust_remote_code=True, use_fast=False
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import torch

        images = self._images(requests)
        tiles = {key: internvl_pixel_values(image, max_num=self.max_tiles) for key, image in images.items()}
        answers = [""] * len(requests)
        for batch in self._batches(requests):
            pixels = [tiles[requests[i].image.id] for i in batch]
            # batch_chat writes eos_token_id into the config it gets: a fresh one per call.
            config = {"max_new_tokens": self._max_new_tokens(requests, batch), "do_sample": False}
            with torch.inference_mode():
                texts = self.model.batch_chat(
                    self.tokenizer,
                    torch.cat(pixels).to(self.device, self.dtype),
                    num_patches_list=[p.shape[0] for p in pixels],
                    questions=["<image>\n" + requests[i].prompt for i in batch],
                    generation_config=config,
                )
            for i, text in zip(batch, texts, strict=True):
                answers[i] = str(text).strip()
        return answers


# InternVL2's documented preprocessing, without torchvision (not a dependency of pytest-vlm).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def closest_aspect_ratio(
    aspect_ratio: float, ratios: Sequence[tuple[int, int]], width: int, height: int, image_size: int
) -> tuple[int, int]:
    """The card's ``find_closest_aspect_ratio``: the grid whose aspect is closest; on a tie, the
    later (larger) grid when the image has more than half that grid's pixels."""
    best_diff = float("inf")
    best = (1, 1)
    area = width * height
    for ratio in ratios:
        diff = abs(aspect_ratio - ratio[0] / ratio[1])
        if diff < best_diff:
            best_diff, best = diff, ratio
        elif diff == best_diff and area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
            best = ratio
    return best


def internvl_tiles(image: Any, *, image_size: int = 448, min_num: int = 1, max_num: int = 12) -> list[Any]:
    """The card's ``dynamic_preprocess`` with ``use_thumbnail=True``: the image resized to the
    closest grid of ``image_size`` tiles (at most ``max_num``), cut row by row, plus the whole
    image resized to one tile when there is more than one."""
    width, height = image.size
    ratios = sorted(
        {
            (i, j)
            for n in range(min_num, max_num + 1)
            for i in range(1, n + 1)
            for j in range(1, n + 1)
            if min_num <= i * j <= max_num
        },
        key=lambda r: r[0] * r[1],
    )
    columns, rows = closest_aspect_ratio(width / height, ratios, width, height, image_size)
    resized = image.resize((image_size * columns, image_size * rows))  # PIL's default: bicubic
    tiles = [
        resized.crop((c * image_size, r * image_size, (c + 1) * image_size, (r + 1) * image_size))
        for r in range(rows)
        for c in range(columns)
    ]
    if len(tiles) != 1:
        tiles.append(image.resize((image_size, image_size)))
    return tiles


def internvl_pixel_values(image: Any, *, image_size: int = 448, max_num: int = 12) -> Any:
    """The card's ``load_image``: tiles -> RGB -> bicubic resize to ``image_size`` (a no-op for
    tiles) -> [0, 1] -> ImageNet normalisation; shape (tiles, 3, image_size, image_size)."""
    import numpy as np
    import torch
    from PIL import Image

    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
    std = np.asarray(IMAGENET_STD, dtype=np.float32)
    arrays = []
    for tile in internvl_tiles(image.convert("RGB"), image_size=image_size, max_num=max_num):
        if tile.size != (image_size, image_size):
            tile = tile.resize((image_size, image_size), Image.Resampling.BICUBIC)
        array = np.asarray(tile, dtype=np.float32) / 255.0
        arrays.append(((array - mean) / std).transpose(2, 0, 1))
    return torch.from_numpy(np.stack(arrays))
