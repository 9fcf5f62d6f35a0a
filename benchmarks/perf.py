"""Speed of the plugin's model path against the naive reference loop, measured side by side.

The naive path is what the reference study did: one ``generate`` call per prompt, batch 1. The
plugin path is ``HFModel.generate`` as the benchmarks use it. Both serve the same strategies on
the same model and images, in one process; the script prints images per second of each (median
over repeats), the speed-up and how often the two paths predict the same class, then one JSON line:

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
from pathlib import Path

from pytest_vlm import shapes
from pytest_vlm.datasets import GeneratedImage
from pytest_vlm.models.base import GenerationRequest
from pytest_vlm.models.hf import HFModel, RuntimeOptions
from pytest_vlm.models.registry import resolve_model
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
            inputs = self.fast.processor(
                images=[request.image.load()], text=[self.fast._chat(request.prompt)], return_tensors="pt"
            ).to(self.fast.device)
            with torch.inference_mode():
                output = self.fast.model.generate(
                    **inputs, generation_config=self.fast._generation, max_new_tokens=request.max_new_tokens
                )
            new = output[:, inputs["input_ids"].shape[1] :]
            answers.append(self.fast.processor.batch_decode(new, skip_special_tokens=True)[0].strip())
        return answers

    def close(self) -> None:
        pass


def examples(count: int, seed: int) -> list[GeneratedImage]:
    return [
        GeneratedImage(
            id=shapes.sample_id(CLASSES[i % len(CLASSES)], seed, i),
            label=CLASSES[i % len(CLASSES)],
            index=i,
            seed=seed,
            classes=CLASSES,
            difficulty="medium",
            size=64,
        )
        for i in range(count)
    ]


def measure(strategy: object, model: object, images: list[GeneratedImage], repeats: int) -> tuple[float, list]:
    """Median images/s over ``repeats`` runs, and the predictions of the last run."""
    rates, predictions = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        predictions = strategy.run(model, images)  # type: ignore[attr-defined]
        rates.append(len(images) / (time.perf_counter() - start))
    return statistics.median(rates), predictions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vlm-model", default="tiny-shapes", help="alias, hub id or checkpoint folder")
    parser.add_argument("--vlm-device", default="auto")
    parser.add_argument("--vlm-dtype", default="auto")
    parser.add_argument("--vlm-batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=70, help="images per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="runs per path; the median is reported")
    parser.add_argument("--seed", type=int, default=2026, help="shapes set seed")
    args = parser.parse_args(argv)

    spec = resolve_model(args.vlm_model, base_dir=Path.cwd())
    fast = HFModel(spec, RuntimeOptions(device=args.vlm_device, dtype=args.vlm_dtype, batch_size=args.vlm_batch_size))
    naive = NaiveModel(fast)
    images = examples(args.images, args.seed)
    strategies = {
        "closed_set": ClosedSet(ClosedSetParams(votes=3), classes=CLASSES, background=shapes.BACKGROUND, seed=0),
        "binary": Binary(BinaryParams(), classes=CLASSES, background=shapes.BACKGROUND, seed=0),
    }
    fast.generate([GenerationRequest(images[0], "warm-up", 2)])  # first-call costs out of the timings
    report: dict[str, object] = {"model": spec.name, "device": fast.device, "images": len(images)}
    print(
        f"model {spec.name} on {fast.device} ({fast.describe()['dtype']}), {len(images)} images, "
        f"median of {args.repeats} runs per path"
    )
    for name, strategy in strategies.items():
        naive_rate, naive_pred = measure(strategy, naive, images, args.repeats)
        fast_rate, fast_pred = measure(strategy, fast, images, args.repeats)
        agreement = sum(a.prediction == b.prediction for a, b in zip(naive_pred, fast_pred)) / len(images)
        accuracy = sum(p.correct for p in fast_pred) / len(images)
        speedup = fast_rate / naive_rate
        print(
            f"{name:<11} naive {naive_rate:8.1f} img/s   plugin {fast_rate:8.1f} img/s   "
            f"speedup {speedup:5.1f}x   agreement {agreement:.3f}   accuracy {accuracy:.3f}"
        )
        report[name] = {
            "speedup": round(speedup, 2),
            "agreement": agreement,
            "naive_images_per_second": round(naive_rate, 2),
            "plugin_images_per_second": round(fast_rate, 2),
        }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
