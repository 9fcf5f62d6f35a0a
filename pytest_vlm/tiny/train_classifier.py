"""Train the embedded ``tiny-shapes-classifier``, the conventional baseline for the shapes benchmarks.

Usage::

    python -m pytest_vlm.tiny.train_classifier --out pytest_vlm/tiny/tiny-shapes-classifier
    python -m pytest_vlm.tiny.train_classifier --eval-only pytest_vlm/tiny/tiny-shapes-classifier

A tiny ``ResNetForImageClassification`` (a real transformers architecture, built from its config
class) with a ``ConvNextImageProcessor`` (what hub ResNets ship with; its PIL implementation needs no
torchvision), trained from scratch on the same generated images as ``tiny-shapes``: shape-set seeds
0 (easy) and 1 (medium), mirrored left-right at random. The saved folder loads with
``AutoModelForImageClassification`` / ``AutoImageProcessor.from_pretrained`` like any hub classifier,
and its ``id2label`` holds the benchmark's class names.

Deterministic: seeded generators over plain integers, one CPU thread, so the same command writes the
same ``model.safetensors`` on the same software stack (``--check SHA256`` verifies it). Seeds 2026 and
2027 are the held-out sets the shipped benchmarks use; the model card reports accuracy on them.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pytest_vlm.data import shapes
from pytest_vlm.tiny import train as vlm_training

# The same training seeds as tiny-shapes (a fair comparison), the same held-out evaluation sets.
from pytest_vlm.tiny.train import EVAL_COUNT, EVAL_SETS, MODEL_CARD, TRAIN_SEEDS, WEIGHTS, sha256

CLASSES: tuple[str, ...] = (*shapes.SHAPES, shapes.BACKGROUND)
THREADS = 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the weights; the defaults are what ships."""

    seed: int = 0
    embedding_size: int = 16
    hidden_sizes: str = "16,32,64,96"  # one ResNet stage per entry, one basic block each
    pool_easy: int = 3000
    pool_medium: int = 9000
    steps: int = 2000
    batch: int = 64
    lr: float = 3e-3
    warmup: int = 50
    weight_decay: float = 0.05


def resnet_config(cfg: TrainConfig) -> Any:
    from transformers import ResNetConfig

    hidden = [int(h) for h in cfg.hidden_sizes.split(",")]
    return ResNetConfig(  # type: ignore[call-arg]  # a PreTrainedConfig kwarg the typed signature omits
        num_channels=3,
        embedding_size=cfg.embedding_size,
        hidden_sizes=hidden,
        depths=[1] * len(hidden),
        layer_type="basic",
        num_labels=len(CLASSES),
        id2label=dict(enumerate(CLASSES)),
        label2id={c: i for i, c in enumerate(CLASSES)},
    )


def image_processor(size: int = 64) -> Any:
    """Resize the shortest edge to ``size`` (no crop: crop_pct 1); the processor's default mean/std (0.5)."""
    from transformers import ConvNextImageProcessor

    return ConvNextImageProcessor(size={"shortest_edge": size}, crop_pct=1.0)


def render_pool(count: int, difficulty: str, processor: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Training images of one difficulty, through the model's own image processor, once."""
    samples = shapes.generate(count, seed=TRAIN_SEEDS[difficulty], classes=CLASSES, difficulty=difficulty)
    pixels = processor(images=[s.image for s in samples], return_tensors="pt")["pixel_values"]
    return pixels, torch.tensor([CLASSES.index(s.label) for s in samples])


def lr_factor(step: int, steps: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def train(cfg: TrainConfig) -> tuple[Any, Any]:
    """A trained model and its image processor."""
    from transformers import ResNetForImageClassification

    processor = image_processor()
    started = time.perf_counter()
    pools = [render_pool(n, d, processor) for d, n in (("easy", cfg.pool_easy), ("medium", cfg.pool_medium))]
    pixels, labels = torch.cat([p for p, _ in pools]), torch.cat([lab for _, lab in pools])
    print(f"rendered {len(labels)} training images in {time.perf_counter() - started:.0f}s", flush=True)

    torch.manual_seed(cfg.seed)
    model = ResNetForImageClassification(resnet_config(cfg))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng([cfg.seed, 1])
    model.train()
    losses, hits = [], []
    for step in range(cfg.steps):
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * lr_factor(step, cfg.steps, cfg.warmup)
        index = torch.from_numpy(rng.integers(len(labels), size=cfg.batch))
        batch = pixels[index]
        # Every shape is symmetric about the vertical axis and tilts both ways: a mirrored image is as
        # likely a sample of the set. Mirroring commutes with this processor (resize to same size, normalise).
        flip = torch.from_numpy(rng.random(cfg.batch) < 0.5)
        batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
        logits = model(pixel_values=batch).logits
        loss = F.cross_entropy(logits, labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        hits.append((logits.argmax(-1) == labels[index]).float().mean().item())
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}: loss {np.mean(losses):.3f} acc {np.mean(hits):.3f}", flush=True)
            losses, hits = [], []
    return model.eval(), processor


def evaluate(folder: str | Path, *, seed: int, difficulty: str, count: int = EVAL_COUNT) -> float:
    """Accuracy of the saved classifier in ``folder`` on ``count`` images of shape set ``seed``.

    Loads through the Auto classes, like any hub classifier, so it also checks that the folder works.
    """
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)
    samples = shapes.generate(count, seed=seed, classes=CLASSES, difficulty=difficulty)
    predictions: list[str] = []
    for start in range(0, count, 64):
        chunk = samples[start : start + 64]
        inputs = processor(images=[s.image for s in chunk], return_tensors="pt")
        with torch.inference_mode():
            logits = model(**inputs).logits
        predictions += [model.config.id2label[int(i)] for i in logits.argmax(-1)]
    return float(np.mean([p == s.label for p, s in zip(predictions, samples)]))


def training_command(cfg: TrainConfig, out: Path) -> str:
    return vlm_training.training_command(cfg, out, "pytest_vlm.tiny.train_classifier")


@dataclass(frozen=True)
class TrainingRun:
    """What a finished training run measured, for the model card."""

    command: str
    parameters: int
    weights_bytes: int
    wall_seconds: float
    cpu_seconds: float
    digest: str
    results: dict[str, float]


def model_card(cfg: TrainConfig, run: TrainingRun) -> str:
    rows = "\n".join(
        f"| {name} (seed {EVAL_SETS[name][0]}, {EVAL_SETS[name][1]}) | {accuracy:.1%} |"
        for name, accuracy in run.results.items()
    )
    settings = "\n".join(f"| `{name}` | {value} |" for name, value in asdict(cfg).items())
    return f"""# tiny-shapes-classifier

A tiny ResNet (`ResNetForImageClassification`) trained from scratch on the generated shapes of
`pytest_vlm.data.shapes`: the conventional-classifier baseline that pytest-vlm reports next to the
`tiny-shapes` vision-language model, with no download.

**What it is for:** the `direct` baseline row of the shipped shapes benchmarks, demos and tests. It is
**not a real-world classifier**: it has only ever seen 64x64 generated shapes.

## Architecture

- {run.parameters:,} parameters, {run.weights_bytes / 1e6:.2f} MB of fp32 safetensors.
- ResNet with basic blocks: stem of {cfg.embedding_size} channels (7x7 conv, stride 2, max-pool), stages of
  {cfg.hidden_sizes} channels with one block each, global average pooling, a linear layer over 7 labels.
- Image processor: `ConvNextImageProcessor` (as hub ResNets ship), shortest edge 64, `crop_pct` 1.0
  (no crop), mean and std 0.5 (its defaults). Its PIL implementation needs no torchvision.
- `id2label`: {", ".join(f"{i}: {c}" for i, c in enumerate(CLASSES))}.

## Data

`pytest_vlm.data.shapes` images (64x64), 7 classes: {", ".join(CLASSES)} (an image with no shape).
The first {cfg.pool_easy} easy images of shape-set seed {TRAIN_SEEDS["easy"]} and the first {cfg.pool_medium} medium ones of
seed {TRAIN_SEEDS["medium"]} (a subset of what `tiny-shapes` was trained on), rendered once, mirrored left-right at random. Seed
{EVAL_SETS["validation"][0]} was the validation set while developing; seeds {EVAL_SETS["benchmark"][0]} and
{EVAL_SETS["hard"][0]} are held out for the benchmarks below.

## Training

{cfg.steps} steps of AdamW (learning rate {cfg.lr}, {cfg.warmup} warm-up steps then cosine decay to 5%, weight decay
{cfg.weight_decay}), batch {cfg.batch}, cross-entropy; deterministic (seeded generators, {THREADS} CPU thread).

```
{run.command}
```

Measured on the shared 2-core CPU it was trained on, with {THREADS} thread: {run.wall_seconds / 60:.1f} minutes wall time
({run.cpu_seconds / 60:.1f} CPU minutes), rendering the images included.

| setting | value |
|---|---|
{settings}

## Accuracy

{EVAL_COUNT} images per set, 50 per class; the prediction is the arg-max label.

| set | accuracy |
|---|---|
{rows}

## Weights

`model.safetensors` sha256: `{run.digest}`

The same command reproduces these weights bit for bit on the same software stack
(torch {torch.__version__}); `--check {run.digest}` verifies it.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return vlm_training.parse_args(argv, module="pytest_vlm.tiny.train_classifier", config=TrainConfig, doc=__doc__)


def run_evaluations(folder: Path, names: list[str]) -> dict[str, float]:
    results = {}
    for name in names:
        seed, difficulty = EVAL_SETS[name]
        results[name] = evaluate(folder, seed=seed, difficulty=difficulty)
        print(f"{name}: accuracy {results[name]:.4f}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    from transformers.utils import logging

    args = parse_args(argv)
    torch.set_num_threads(THREADS)  # the thread count is part of what decides the weights
    logging.disable_progress_bar()
    if args.eval_only:
        run_evaluations(args.eval_only, args.eval_sets)
        return 0

    out: Path = args.out
    if (out / WEIGHTS).exists() and not args.force:
        print(f"{out / WEIGHTS} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    cfg = TrainConfig(**{name: getattr(args, name) for name in asdict(TrainConfig())})
    wall, cpu = time.perf_counter(), time.process_time()
    model, processor = train(cfg)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    digest = sha256(out / WEIGHTS)
    print(f"trained in {wall:.0f}s ({cpu:.0f}s CPU); {WEIGHTS} sha256 {digest}", flush=True)
    run = TrainingRun(
        command=training_command(cfg, out),
        parameters=sum(p.numel() for p in model.parameters()),
        weights_bytes=(out / WEIGHTS).stat().st_size,
        wall_seconds=wall,
        cpu_seconds=cpu,
        digest=digest,
        results=run_evaluations(out, args.eval_sets),
    )
    (out / MODEL_CARD).write_text(model_card(cfg, run), encoding="utf-8")
    if args.check and args.check != digest:
        print(f"sha256 mismatch: expected {args.check}, wrote {digest}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
