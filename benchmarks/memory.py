"""Memory of the transformers backend at real image sizes: planned batches and measured peaks.

Three parts, each printed as a table, then one JSON line:

1. **Planned batch** of the real 7-8B checkpoints, from their published configs: image tokens as
   the real processor counts them (models/memory.py), per-token bytes from the text config, and
   the batch the planner fills (``--vlm-batch-size`` 64 as the row ceiling) within the CPU budget
   (4 GiB) and on an A100 40 GB once the bf16 weights are loaded. No weights are needed.
2. **Measured peak RSS** of each tiny family checkpoint (tiny/families.py: the family's real
   processor and template, layers shrunk) answering closed-set questions about 24 photos of each
   size, each measurement in a fresh process (peak RSS is per process); on a GPU, also the peak of
   allocated GPU memory.
3. **300 photos of 3000x3000** (JPEG files) through tiny-shapes, closed_set votes 1, no result
   cache: the peak RSS of the process (target under 2 GB; 11.2 GB before the byte bounds).

Usage::

    python benchmarks/memory.py              # everything, CPU
    python benchmarks/memory.py --vlm-device cuda
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SIZES = {"640x480": (640, 480), "1920x1080": (1920, 1080), "3000x3000": (3000, 3000)}
PROMPT_TOKENS = 80  # a closed-set prompt with 21 class names, in the chat template
NEW_TOKENS = 12
A100_BYTES = 40 * 10**9
MODELS = ("Qwen2-VL-7B-Instruct", "llava-v1.6-mistral-7b-hf", "InternVL3-8B-hf")


def planned_batches() -> list[dict[str, Any]]:
    from pytest_vlm.models.hf.families import family_for
    from pytest_vlm.models.hf.memory import (
        BATCH_IMAGE_BYTES,
        CPU_BATCH_BYTES,
        GPU_FREE_SHARE,
        Budget,
        Cost,
        ImageTokens,
        bytes_per_token,
    )

    rows = []
    from pytest_vlm.models.hf.resolution import DEFAULT_MAX_PIXELS
    from pytest_vlm.tiny import published

    processors = {
        "Qwen2-VL-7B-Instruct": published.qwen2_vl_7b_processor(max_pixels=DEFAULT_MAX_PIXELS["qwen2_vl"]),
        "llava-v1.6-mistral-7b-hf": published.llava_next_mistral_processor(),
        "InternVL3-8B-hf": published.internvl3_8b_processor(),
    }
    for name in MODELS:
        tokens = ImageTokens(processors[name], family_for(published.MODEL_TYPES[name]))
        per_token = bytes_per_token(published.text_config(name), element_size=2)
        gpu_free = int((A100_BYTES - 2 * published.PARAMETERS[name]) * GPU_FREE_SHARE)
        for label, (width, height) in SIZES.items():
            image = tokens.count((height, width), lambda: None)
            cost = Cost(image + PROMPT_TOKENS + NEW_TOKENS, width * height * 3)
            plans = {}
            for where, budget_bytes in (("cpu", CPU_BATCH_BYTES), ("a100_40gb", gpu_free)):
                budget = Budget(tokens=budget_bytes // per_token, image_bytes=BATCH_IMAGE_BYTES, rows=64)
                plans[where] = len(next(budget.batches(list(range(64)), lambda _: cost)))  # noqa: B023
            rows.append({"model": name, "image": label, "image_tokens": image, **plans})
    return rows


def measure(family: str, size: str, count: int, device: str) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    import torch

    from pytest_vlm.data import shapes
    from pytest_vlm.data.sources import FileImage
    from pytest_vlm.models.device import RuntimeOptions, process_peak_rss_mb
    from pytest_vlm.models.hf.model import HFModel
    from pytest_vlm.models.resolve import resolve_model
    from pytest_vlm.strategies import ClosedSet
    from pytest_vlm.strategies.closed_set import ClosedSetParams

    classes = (*shapes.SHAPES, shapes.BACKGROUND)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        width, height = SIZES[size]
        photo = root / "photo.jpg"
        image = shapes.sample(0, seed=1, classes=classes, size=256).image.resize((width, height))
        image.save(photo, quality=90)
        del image
        data = photo.read_bytes()
        examples = []
        for i in range(count):  # distinct files: each is decoded and cached on its own
            path = root / f"{i:04d}.jpg"
            path.write_bytes(data)
            examples.append(FileImage(f"{i:04d}", classes[i % len(classes)], path, origin="memory.py"))
        if family == "tiny-shapes":
            source = "tiny-shapes"
        else:
            from pytest_vlm.tiny.families import TINY_FAMILIES

            build = next(f.build for f in TINY_FAMILIES if f.name == family)
            source = str(build(root / family, 0))
        model = HFModel(resolve_model(source, base_dir=Path.cwd()), RuntimeOptions(device=device))
        model.reset_peak_memory()
        strategy = ClosedSet(ClosedSetParams(votes=1), classes=classes, background=shapes.BACKGROUND, seed=0)
        strategy.run(model, examples)  # type: ignore[arg-type]
        result = {
            "family": family,
            "image": size,
            "images": count,
            "peak_rss_mb": round(process_peak_rss_mb()),
            "image_cache_mb": round(model._images.bytes / 2**20),
            "token_budget": model.budget.tokens,
        }
        if device.startswith("cuda") or model.device.startswith("cuda"):
            result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(model.device) / 2**20)
        return result


def _in_fresh_process(family: str, size: str, count: int, device: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure", family, size, str(count), "--vlm-device", device]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vlm-device", default="cpu")
    parser.add_argument("--images", type=int, default=24, help="photos per family measurement")
    parser.add_argument("--photos", type=int, default=300, help="3000x3000 photos through tiny-shapes")
    parser.add_argument("--families", default="qwen2-vl,llava-next-mistral,internvl,idefics3,gemma3,mllama")
    parser.add_argument("--measure", nargs=3, metavar=("FAMILY", "SIZE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        family, size, count = args.measure
        print(json.dumps(measure(family, size, int(count), args.vlm_device)))
        return 0

    report: dict[str, Any] = {"device": args.vlm_device}
    plans = planned_batches()
    print("planned batch (rows of one image + a closed-set prompt; --vlm-batch-size 64 is the ceiling)")
    print(f"{'model':<26} {'image':<10} {'img tokens':>10} {'cpu 4 GiB':>10} {'A100 40GB':>10}")
    for row in plans:
        print(
            f"{row['model']:<26} {row['image']:<10} {row['image_tokens']:>10} {row['cpu']:>10} {row['a100_40gb']:>10}"
        )
    report["planned"] = plans

    measured = []
    print(f"\nmeasured peak ({args.images} photos per run, a fresh process each, {args.vlm_device})")
    print(f"{'tiny family':<20} {'image':<10} {'peak RSS MB':>12} {'image cache MB':>15} {'peak GPU MB':>12}")
    for family in args.families.split(","):
        for size in SIZES:
            row = _in_fresh_process(family, size, args.images, args.vlm_device)
            measured.append(row)
            gpu = row.get("peak_gpu_mb", "-")
            print(f"{family:<20} {size:<10} {row['peak_rss_mb']:>12} {row['image_cache_mb']:>15} {gpu:>12}")
    report["measured"] = measured

    big = _in_fresh_process("tiny-shapes", "3000x3000", args.photos, args.vlm_device)
    print(
        f"\n{args.photos} photos of 3000x3000 through tiny-shapes (closed_set votes 1): "
        f"peak RSS {big['peak_rss_mb']} MB (target < 2048 MB; 11.2 GB before the byte bounds)"
    )
    report["photos_3000"] = big
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
