"""Train ``tiny-shapes-open``: ``tiny-shapes`` taught to answer open questions, reproducibly, on a CPU.

Usage::

    python -m pytest_vlm.tiny.train_open --out pytest_vlm/tiny/tiny-shapes-open
    python -m pytest_vlm.tiny.train_open --eval-only pytest_vlm/tiny/tiny-shapes-open

It starts from the shipped ``tiny-shapes`` weights (their sha256 is checked first, so the start is
always the same) and fine-tunes the whole model on four prompt kinds through the real Qwen2-VL chat
template, each batch one kind:

* "Describe the image." -> "a red star on a grey background" (references from
  :mod:`pytest_vlm.data.captions`, the first, canonical one is the target);
* "What colour is the shape?" -> "red" ("there is no shape" on background images);
* the closed-set and binary prompts of ``tiny-shapes`` (so it keeps classifying).

``tiny-shapes`` itself is left as it is: every classification baseline and speed number shipped
for it stays valid. Every random choice comes from seeded generators over plain integers and the
thread count is fixed, so the same command writes the same ``model.safetensors``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pytest_vlm.data import captions, shapes
from pytest_vlm.tiny import train

START = Path(__file__).resolve().parent / "tiny-shapes"
START_DIGEST = "7618dddb4768fc3f30ebd509e708ac6bab36482b46bcfd230cc6ef6756fb5c45"
KINDS = ("describe", "colour", "closed", "binary")
OPEN_EVAL_COUNT = 140  # 20 per class
MAX_NEW_TOKENS = 16


@dataclass(frozen=True)
class OpenTrainConfig:
    """Everything that decides the weights; the defaults are what ships."""

    seed: int = 0
    # torch threads: the weights depend on it; one thread also wastes least on a shared CPU.
    threads: int = 1
    pool_easy: int = 2100
    pool_medium: int = 8400
    steps: int = 1500
    batch: int = 32
    lr: float = 5e-4
    lr_vision: float = 3e-4
    warmup: int = 100
    # Share of batches per prompt kind, in the order of KINDS.
    describe_share: float = 0.35
    colour_share: float = 0.25
    closed_share: float = 0.2
    binary_share: float = 0.2


@dataclass
class SamplePool:
    """Pre-rendered training samples (image, label and colours) of one or more difficulties."""

    samples: list[shapes.ShapeSample]

    @classmethod
    def render(cls, cfg: OpenTrainConfig) -> SamplePool:
        counts = {"easy": cfg.pool_easy, "medium": cfg.pool_medium}
        return cls(
            [
                sample
                for difficulty, count in counts.items()
                for sample in shapes.generate(
                    count, seed=train.TRAIN_SEEDS[difficulty], classes=train.CLASSES, difficulty=difficulty
                )
            ]
        )

    def draw(self, rng: np.random.Generator) -> tuple[Image.Image, shapes.ShapeSample]:
        """A random sample and its image, mirrored half the time (colours and labels survive a mirror)."""
        sample = self.samples[int(rng.integers(len(self.samples)))]
        image = sample.image
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return image, sample


def example(
    pool: SamplePool, cfg: OpenTrainConfig, rng: np.random.Generator, kind: str
) -> tuple[Image.Image, str, str]:
    """One (image, question, answer) of ``kind``."""
    if kind == "binary":
        image, sample = pool.draw(rng)
        if sample.label != shapes.BACKGROUND and rng.random() < 0.5:
            return image, train.binary_question(sample.label), "yes"
        absent = [s for s in shapes.SHAPES if s != sample.label]
        return image, train.binary_question(absent[int(rng.integers(len(absent)))]), "no"
    image, sample = pool.draw(rng)
    if kind == "closed":
        question, answer = train.closed_example(rng, sample.label, 0.7)
        return image, question, answer
    return image, captions.QUESTIONS[kind], captions.references(sample, kind)[0]


def fine_tune(model: Any, processor: Any, pool: SamplePool, cfg: OpenTrainConfig) -> None:
    """The whole model on the four prompt kinds, the vision tower at its own learning rate."""
    rng = np.random.default_rng([cfg.seed, 3])
    vision_params = list(model.model.visual.parameters())
    vision_ids = {id(p) for p in vision_params}
    other_params = [p for p in model.parameters() if id(p) not in vision_ids]
    optimizer = train.make_optimizer([(other_params, cfg.lr), (vision_params, cfg.lr_vision)])
    shares = np.array([cfg.describe_share, cfg.colour_share, cfg.closed_share, cfg.binary_share])
    model.train()
    log: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for step in range(cfg.steps):
        train.set_lr(optimizer, train.lr_factor(step, cfg.steps, cfg.warmup))
        kind = KINDS[int(rng.choice(len(KINDS), p=shares / shares.sum()))]
        rows = [example(pool, cfg, rng, kind) for _ in range(cfg.batch)]
        prompts = [train.chat_prompt(processor, question) for _, question, _ in rows]
        batch = train.answer_batch(processor, [image for image, _, _ in rows], prompts, [a for _, _, a in rows])
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        log[kind].append(loss.item())
        if (step + 1) % 100 == 0:
            losses = "  ".join(f"{k} {np.mean(v):.3f}" for k, v in log.items() if v)
            print(f"step {step + 1}: {losses}", flush=True)
            log = {kind: [] for kind in KINDS}


def generate_answers(
    model: Any, processor: Any, images: list[Image.Image], questions: list[str], batch_size: int = 64
) -> list[str]:
    """Greedy full-text answers (up to MAX_NEW_TOKENS tokens) to each (image, question) pair."""
    answers: list[str] = []
    for start in range(0, len(questions), batch_size):
        prompts = [train.chat_prompt(processor, q) for q in questions[start : start + batch_size]]
        inputs = processor(text=prompts, images=images[start : start + batch_size], return_tensors="pt", padding=True)
        with torch.no_grad():
            output = model.generate(**inputs, do_sample=False, max_new_tokens=MAX_NEW_TOKENS)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        answers += [t.strip() for t in processor.batch_decode(new_tokens, skip_special_tokens=True)]
    return answers


def evaluate_open(folder: Path, *, seed: int, difficulty: str, count: int = OPEN_EVAL_COUNT) -> dict[str, float]:
    """Exact-match rates of the saved model's answers to the open questions (canonical reference)."""
    from transformers import AutoModelForImageTextToText

    from pytest_vlm.models.hf.processor import load_processor

    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    processor = load_processor(str(folder))
    processor.tokenizer.padding_side = "left"
    samples = shapes.generate(count, seed=seed, classes=train.CLASSES, difficulty=difficulty)
    images = [s.image for s in samples]
    results = {}
    for task, question in captions.QUESTIONS.items():
        answers = generate_answers(model, processor, images, [question] * count)
        hits = [a in captions.references(s, task) for a, s in zip(answers, samples)]
        results[f"{task}_exact"] = float(np.mean(hits))
        print(f"  {task}: " + " | ".join(answers[:7]), flush=True)
    return results


def load_start() -> tuple[Any, Any]:
    """The shipped tiny-shapes model and processor, after checking they are the expected weights."""
    from transformers import AutoModelForImageTextToText

    from pytest_vlm.models.hf.processor import load_processor

    digest = train.sha256(START / train.WEIGHTS)
    if digest != START_DIGEST:
        raise RuntimeError(
            f"{START / train.WEIGHTS} has sha256 {digest}, not {START_DIGEST}: tiny-shapes-open starts "
            "from the shipped tiny-shapes; retrain it first (python -m pytest_vlm.tiny.train) or restore it"
        )
    model = AutoModelForImageTextToText.from_pretrained(START)
    processor = load_processor(str(START))
    processor.tokenizer.padding_side = "right"
    return model, processor


def evaluate_all(folder: Path, names: list[str]) -> dict[str, dict[str, float]]:
    """Classification (as tiny-shapes reports it) and open-question results on the named sets."""
    results = train.run_evaluations(folder, names)
    for name in names:
        seed, difficulty = train.EVAL_SETS[name]
        results[name].update(evaluate_open(folder, seed=seed, difficulty=difficulty))
        print(f"{name}: " + "  ".join(f"{k} {v:.4f}" for k, v in results[name].items()), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    from transformers.utils import logging

    from pytest_vlm.tiny.checkpoints import build_qwen2_vl

    args = train.parse_args(argv, module="pytest_vlm.tiny.train_open", config=OpenTrainConfig, doc=__doc__)
    torch.set_num_threads(args.threads)
    logging.disable_progress_bar()
    if args.eval_only:
        evaluate_all(args.eval_only, args.eval_sets)
        return 0
    out: Path = args.out
    if (out / train.WEIGHTS).exists() and not args.force:
        print(f"{out / train.WEIGHTS} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    cfg = OpenTrainConfig(**{name: getattr(args, name) for name in asdict(OpenTrainConfig())})
    wall, cpu = time.perf_counter(), time.process_time()
    torch.manual_seed(cfg.seed)
    model, processor = load_start()
    pool = SamplePool.render(cfg)
    print(f"rendered training images in {time.perf_counter() - wall:.0f}s", flush=True)
    fine_tune(model, processor, pool, cfg)
    build_qwen2_vl(out, model=model.eval())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    digest = train.sha256(out / train.WEIGHTS)
    print(f"trained in {wall:.0f}s ({cpu:.0f}s CPU); {train.WEIGHTS} sha256 {digest}", flush=True)
    results = evaluate_all(out, args.eval_sets)
    from pytest_vlm.tiny.open_card import model_card

    run = train.TrainingRun(
        command=train.training_command(cfg, out, module="pytest_vlm.tiny.train_open"),
        parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=len(processor.tokenizer),
        wall_seconds=wall,
        cpu_seconds=cpu,
        digest=digest,
        results=results,
    )
    (out / train.MODEL_CARD).write_text(model_card(cfg, run), encoding="utf-8")
    if args.check and args.check != digest:
        print(f"sha256 mismatch: expected {args.check}, wrote {digest}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
