"""Reference answers to open questions about the generated shapes: captions and colours.

The generator knows what it drew, so it writes the references: ``"a red star on a grey
background"`` for "Describe the image." and ``"red"`` for "What colour is the shape?". Colours are
named from RGB by hue, saturation and value into eleven basic names, so every image has one name
per colour, the same on every machine.
"""

from __future__ import annotations

import colorsys

from pytest_vlm.data.shapes import BACKGROUND, ShapeSample

COLOURS: tuple[str, ...] = (
    "black",
    "white",
    "grey",
    "red",
    "orange",
    "brown",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
)
# Open questions the generator can answer, by task name.
QUESTIONS: dict[str, str] = {
    "describe": "Describe the image.",
    "colour": "What colour is the shape?",
}
NO_SHAPE = "there is no shape"
# Hue (degrees) upper bounds of the chromatic names, in order round the circle.
_HUES: tuple[tuple[float, str], ...] = (
    (15.0, "red"),
    (45.0, "orange"),
    (70.0, "yellow"),
    (165.0, "green"),
    (255.0, "blue"),
    (290.0, "purple"),
    (340.0, "pink"),
    (360.0, "red"),
)


def colour_name(rgb: tuple[int, int, int]) -> str:
    """The basic colour name of ``rgb`` (0-255 channels)."""
    hue, saturation, value = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
    if value < 0.2:
        return "black"
    if saturation < 0.25:
        return "white" if value > 0.85 else "grey"
    degrees = hue * 360.0
    name = next(name for bound, name in _HUES if degrees < bound)
    if name == "orange" and value < 0.6:
        return "brown"
    return name


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def references(sample: ShapeSample, task: str) -> tuple[str, ...]:
    """The reference answers to ``QUESTIONS[task]`` about ``sample``; the first is the canonical one."""
    if task not in QUESTIONS:
        raise ValueError(f"unknown open question {task!r}; known: {', '.join(QUESTIONS)}")
    background = colour_name(sample.background_colour)
    if sample.label == BACKGROUND or sample.colour is None:
        if task == "colour":
            return (NO_SHAPE, "no shape")
        return (f"an empty {background} background", f"a plain {background} background")
    colour = colour_name(sample.colour)
    if task == "colour":
        return (colour, f"the shape is {colour}")
    return (
        f"{_article(colour)} {colour} {sample.label} on {_article(background)} {background} background",
        f"{_article(colour)} {colour} {sample.label}",
    )
