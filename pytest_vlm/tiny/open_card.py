"""The model card of ``tiny-shapes-open`` (written by ``train_open`` after training)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pytest_vlm.data import captions
from pytest_vlm.tiny import train


def model_card(cfg: Any, run: train.TrainingRun) -> str:
    """What the model is, how it was trained, how well it does, the weights' digest."""
    rows = "\n".join(
        f"| {name} (seed {train.EVAL_SETS[name][0]}, {train.EVAL_SETS[name][1]}) | {m['closed_vote3']:.1%} "
        f"| {m['binary_strategy']:.1%} | {m['describe_exact']:.1%} | {m['colour_exact']:.1%} |"
        for name, m in run.results.items()
    )
    settings = "\n".join(f"| `{name}` | {value} |" for name, value in asdict(cfg).items())
    questions = "\n".join(f"- `{question}`" for question in captions.QUESTIONS.values())
    return f"""# tiny-shapes-open

`tiny-shapes` (a tiny Qwen2-VL, {run.parameters:,} parameters) fine-tuned to also answer open questions about
the generated shapes, so that pytest-vlm's open-ended strategy has a real model to run with no download.

**What it is for:** demos, tests and CI examples of open-ended benchmarks. It is **not a real-world
captioner**: it has only ever seen 64x64 generated shapes and knows four prompts.

## Prompts

One user message `[{{"type": "image"}}, {{"type": "text", "text": PROMPT}}]` with `add_generation_prompt=True`:

{questions}
- the closed-set and binary prompts of `tiny-shapes`.

Answers: `a red star on a grey background` (`an empty grey background` when there is no shape); `red` (`there
is no shape`). Colours are one of {", ".join(captions.COLOURS)}, named from the RGB the generator drew
(`pytest_vlm.data.captions.colour_name`: hue, saturation and value bands).

## Training

Starts from the shipped `tiny-shapes` weights (sha256 checked) and fine-tunes the whole model for {cfg.steps} steps of
batch {cfg.batch}, each batch one prompt kind drawn at random (describe {cfg.describe_share:.0%}, colour
{cfg.colour_share:.0%}, closed set {cfg.closed_share:.0%}, yes/no {cfg.binary_share:.0%}); {cfg.pool_easy} easy and
{cfg.pool_medium} medium training images (shape-set seeds {train.TRAIN_SEEDS["easy"]} and {train.TRAIN_SEEDS["medium"]})
mirrored at random; loss on the answer tokens only; learning rate {cfg.lr} ({cfg.lr_vision} for the vision tower).

```
{run.command}
```

Measured on the 2-core CPU it was trained on ({cfg.threads} torch thread(s), other jobs running):
{run.wall_seconds / 60:.1f} minutes wall time ({run.cpu_seconds / 60:.1f} CPU minutes), rendering the images included.

| setting | value |
|---|---|
{settings}

## Accuracy

Classification on 350 images per set as for `tiny-shapes`; open questions on the first 140 images of each set,
greedy, exact match with a reference.

| set | closed set, vote of 3 | binary strategy | describe, exact | colour, exact |
|---|---|---|---|---|
{rows}

## Weights

`model.safetensors` sha256: `{run.digest}`

The same command reproduces these weights bit for bit on the same software stack; `--check {run.digest}` verifies it.
"""
