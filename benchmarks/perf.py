"""Speed of the plugin's model path against the naive reference loop, measured side by side.

The naive path is what the reference study did: one ``generate`` call per prompt, batch 1. The
plugin path is ``HFModel`` as the benchmarks use it. Between the two, the script also times the
plugin with its techniques added one at a time, so each one's share is visible:

- ``batched``: whole prompts through ``generate`` in length-sorted, left-padded batches;
- ``+ reuse``: each image and the prompt's shared start encoded once, every question decoded on
  top of that cache by the plugin's own greedy loop (finished rows leave the batch);
- ``+ early stop`` (the default): a row stops as soon as its answer is settled among the choices.

All paths serve the same strategies on the same model and the same images, in one process. The
images are decoded once before timing, so every path reads the same pixels from memory and the
timings are of the model path alone. The script prints images per second of each (median over
``--repeats`` runs), the speed-ups over the naive loop and how often each path predicts the same
class as the naive one, then one JSON line:

    {"closed_set": {"speedup": X, "agreement": A, ...}, "binary": {...}, "model": ..., "device": ...}

Usage::

    python benchmarks/perf.py                                   # embedded model, CPU
    python benchmarks/perf.py --vlm-model qwen2-vl-7b --images 64 --vlm-device cuda
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pytest_vlm.data import shapes
from pytest_vlm.data.sources import generated_images
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.hf.model import HFModel
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.strategies import Binary, ClosedSet
from pytest_vlm.strategies.binary import BinaryParams
from pytest_vlm.strategies.closed_set import ClosedSetParams

CLASSES = (*shapes.SHAPES, shapes.BACKGROUND)


class NaiveModel:
    """The reference loop: every prompt through ``generate`` on its own (batch 1, no reuse)."""

    def __init__(self, fast: HFModel) -> None:
        self.name = f"{fast.name} (naive)"
        self.fast = fast

    def generate(self, requests: Sequence[GenerationRequest]) -> list[str]:
        import torch

        answers = []
        for request in requests:
            fast = self.fast
            inputs = fast.family.inputs(fast.processor, [request.image.load()], [fast._chat(request.prompt)])
            inputs = inputs.to(fast.device)
            with torch.inference_mode():
                output = self.fast.model.generate(
                    **inputs, generation_config=fast._generation_for(request.max_new_tokens)
                )
            new = output[:, inputs["input_ids"].shape[1] :]
            answers.append(self.fast.processor.batch_decode(new, skip_special_tokens=True)[0].strip())
        return answers

    def close(self) -> None:
        pass


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """An example whose pixels are already decoded: every path reads the same image from memory."""

    id: str
    label: str
    image: Image.Image

    def load(self) -> Image.Image:
        return self.image


def examples(count: int, seed: int) -> list[DecodedImage]:
    return [DecodedImage(g.id, g.label, g.load()) for g in generated_images(count, seed=seed, classes=CLASSES)]


def interleaved(
    strategy: object, paths: dict[str, object], images: list[DecodedImage], repeats: int
) -> dict[str, tuple[float, list]]:
    """Median images/s of each path over ``repeats`` rounds, and its last predictions. The paths
    take turns within each round, so a slow spell of the machine hits them all alike."""
    rates: dict[str, list[float]] = {name: [] for name in paths}
    predictions: dict[str, list] = {}
    for _ in range(repeats):
        for name, model in paths.items():
            forget = getattr(model, "forget", None)
            if forget is not None:
                forget()  # each run starts cold: no image or prefix kept from the previous one
            start = time.perf_counter()
            predictions[name] = strategy.run(model, images)  # type: ignore[attr-defined]
            rates[name].append(len(images) / (time.perf_counter() - start))
    return {name: (statistics.median(rates[name]), predictions[name]) for name in paths}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vlm-model", default="tiny-shapes", help="alias, hub id or checkpoint folder")
    parser.add_argument("--vlm-device", default="auto")
    parser.add_argument("--vlm-dtype", default="auto")
    parser.add_argument("--vlm-batch-size", type=int, default=64)
    parser.add_argument("--images", type=int, default=105, help="images per measurement")
    parser.add_argument("--repeats", type=int, default=7, help="runs per path; the median is reported")
    parser.add_argument("--seed", type=int, default=2026, help="shapes set seed")
    args = parser.parse_args(argv)

    spec = resolve_model(args.vlm_model, base_dir=Path.cwd())
    fast = HFModel(spec, RuntimeOptions(device=args.vlm_device, dtype=args.vlm_dtype, batch_size=args.vlm_batch_size))
    paths = {
        "naive": NaiveModel(fast),
        "batched": fast.variant(prefix_reuse=False, early_stop=False),
        "+ reuse": fast.variant(prefix_reuse=True, early_stop=False),
        "+ early stop": fast,
    }
    images = examples(args.images, args.seed)
    strategies = {
        "closed_set": ClosedSet(ClosedSetParams(votes=3), classes=CLASSES, background=shapes.BACKGROUND, seed=0),
        "binary": Binary(BinaryParams(), classes=CLASSES, background=shapes.BACKGROUND, seed=0),
    }
    for model in paths.values():  # first-call costs (and the one-off reuse check) out of the timings
        strategies["binary"].run(model, images[:2])
    info = fast.describe()
    report: dict[str, object] = {"model": spec.name, "device": fast.device, "images": len(images), "path": info["path"]}
    print(
        f"model {spec.name} on {fast.device} ({info['dtype']}, {info['path']}), {len(images)} images, "
        f"batch size {args.vlm_batch_size}, median of {args.repeats} runs per path"
    )
    for name, strategy in strategies.items():
        measured = interleaved(strategy, paths, images, args.repeats)
        naive_rate, naive_pred = measured["naive"]
        rows = {}
        for path, (rate, predicted) in measured.items():
            agreement = sum(a.prediction == b.prediction for a, b in zip(naive_pred, predicted)) / len(images)
            accuracy = sum(p.correct for p in predicted) / len(images)
            rows[path] = {
                "images_per_second": round(rate, 2),
                "speedup": round(rate / naive_rate, 2),
                "agreement": agreement,
            }
            print(
                f"{name:<11} {path:<13} {rate:8.1f} img/s   speedup {rate / naive_rate:5.1f}x   "
                f"agreement {agreement:.3f}   accuracy {accuracy:.3f}"
            )
        plugin = rows["+ early stop"]
        report[name] = {
            "speedup": plugin["speedup"],
            "agreement": plugin["agreement"],
            "naive_images_per_second": rows["naive"]["images_per_second"],
            "plugin_images_per_second": plugin["images_per_second"],
            "steps": {path: rows[path] for path in ("batched", "+ reuse", "+ early stop")},
        }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
