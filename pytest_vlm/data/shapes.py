"""A generated image set: coloured shapes on varied backgrounds.

It is the data behind the embedded ``tiny-shapes`` model (trained on it) and the shipped benchmarks
(evaluated on held-out indices of it). Every image is a pure function of ``(seed, index, difficulty)``,
so the set needs no files and is the same on every machine and in every process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "heart")
# The label of images with no shape on them (Caltech256's "clutter" plays this part).
BACKGROUND = "background"
Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")

_SUPERSAMPLE = 4


@dataclass(frozen=True)
class ShapeSample:
    """One generated image and its label."""

    id: str
    label: str
    image: Image.Image


def _polygon(label: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Vertices of ``label`` centred on (cx, cy) with outer radius ``r``, rotated by ``angle``."""
    if label == "square":
        pts = [(math.cos(a), math.sin(a)) for a in (math.pi / 4 + k * math.pi / 2 for k in range(4))]
    elif label == "triangle":
        pts = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))]
    elif label == "star":
        pts = [
            ((1.0 if k % 2 == 0 else 0.42) * math.cos(a), (1.0 if k % 2 == 0 else 0.42) * math.sin(a))
            for k, a in enumerate(-math.pi / 2 + k * math.pi / 5 for k in range(10))
        ]
    elif label == "cross":
        w = 0.34
        pts = [
            (-w, -1),
            (w, -1),
            (w, -w),
            (1, -w),
            (1, w),
            (w, w),
            (w, 1),
            (-w, 1),
            (-w, w),
            (-1, w),
            (-1, -w),
            (-w, -w),
        ]
    elif label == "heart":
        pts = []
        for k in range(48):
            t = 2 * math.pi * k / 48
            x = 16 * math.sin(t) ** 3
            y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
            pts.append((x / 17.0, -y / 17.0 + 0.1))
    else:  # pragma: no cover - guarded by callers
        raise ValueError(f"unknown shape {label!r}; known shapes: {', '.join(SHAPES)}")
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * ca - y * sa), cy + r * (x * sa + y * ca)) for x, y in pts]


def _luma(rgb: np.ndarray) -> float:
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def _colours(rng: np.random.Generator, difficulty: str) -> tuple[np.ndarray, np.ndarray]:
    """A background and a foreground colour; easier sets keep a clear brightness contrast."""
    min_contrast = {"easy": 110.0, "medium": 60.0, "hard": 0.0}[difficulty]
    while True:
        bg = rng.integers(0, 256, size=3).astype(np.float64)
        fg = rng.integers(0, 256, size=3).astype(np.float64)
        if abs(_luma(bg) - _luma(fg)) >= min_contrast:
            return bg, fg


def render(label: str, rng: np.random.Generator, size: int = 64, difficulty: str = "medium") -> Image.Image:
    """Draw one ``label`` shape with random placement, colours and background, as an RGB image.

    ``label`` may be :data:`BACKGROUND`: the same random background with no shape on it.
    """
    if label not in SHAPES and label != BACKGROUND:
        raise ValueError(f"unknown shape {label!r}; known shapes: {', '.join(SHAPES)}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; use one of {', '.join(DIFFICULTIES)}")
    big = size * _SUPERSAMPLE
    bg, fg = _colours(rng, difficulty)
    # Background: flat, or a linear gradient between bg and a nearby colour.
    gradient_p = {"easy": 0.0, "medium": 0.35, "hard": 0.6}[difficulty]
    if rng.random() < gradient_p:
        other = np.clip(bg + rng.normal(0, 45 if difficulty != "hard" else 90, size=3), 0, 255)
        theta = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:big, 0:big] / (big - 1)
        t = np.clip((np.cos(theta) * (xx - 0.5) + np.sin(theta) * (yy - 0.5)) + 0.5, 0, 1)[..., None]
        canvas = (bg * (1 - t) + other * t).astype(np.uint8)
    else:
        canvas = np.broadcast_to(bg.astype(np.uint8), (big, big, 3)).copy()
    image = Image.fromarray(canvas, "RGB")
    lo, hi = {"easy": (0.30, 0.42), "medium": (0.22, 0.42), "hard": (0.14, 0.45)}[difficulty]
    r = rng.uniform(lo, hi) * big
    margin = r * 1.02
    cx = rng.uniform(margin, big - margin)
    cy = rng.uniform(margin, big - margin)
    angle = rng.uniform(-math.pi, math.pi) if difficulty == "hard" else rng.uniform(-0.35, 0.35)
    draw = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in fg)
    if label == BACKGROUND:
        pass
    elif label == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon(_polygon(label, cx, cy, r, angle), fill=colour)
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    noise_sd = {"easy": 3.0, "medium": 6.0, "hard": 14.0}[difficulty]
    arr = np.asarray(image, dtype=np.float64) + rng.normal(0, noise_sd, size=(size, size, 3))
    return Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8), "RGB")


def sample_id(label: str, seed: int, index: int) -> str:
    """The id of the ``index``-th image of set ``seed``; stable, so snapshots can name images."""
    return f"{label}-{seed}-{index:05d}"


def sample(
    index: int,
    *,
    seed: int = 0,
    classes: tuple[str, ...] = SHAPES,
    size: int = 64,
    difficulty: str = "medium",
) -> ShapeSample:
    """The ``index``-th image of the set named by ``seed`` (labels cycle through ``classes``)."""
    label = classes[index % len(classes)]
    # A SeedSequence over plain integers is stable across processes and platforms (unlike hash()).
    rng = np.random.default_rng([seed, index, DIFFICULTIES.index(difficulty)])
    return ShapeSample(
        id=sample_id(label, seed, index), label=label, image=render(label, rng, size=size, difficulty=difficulty)
    )


def generate(
    count: int,
    *,
    seed: int = 0,
    classes: tuple[str, ...] = SHAPES,
    size: int = 64,
    difficulty: str = "medium",
) -> list[ShapeSample]:
    """``count`` images of the set named by ``seed``, labels balanced across ``classes``."""
    return [sample(i, seed=seed, classes=classes, size=size, difficulty=difficulty) for i in range(count)]
