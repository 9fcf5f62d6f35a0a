"""Intervals around the metrics: Wilson intervals of proportions, seeded bootstrap intervals of F1.

Pure functions over plain numbers and label lists. Each is checked against an independent
computation (stdlib ``fractions``/``math``, scikit-learn, published tables) in tests/test_stats.py.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from pytest_vlm.scoring.metrics import UNPARSEABLE, Interval

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: a two-sided 95% interval
BOOTSTRAP_RESAMPLES = 1000


def wilson_interval(successes: int, n: int, z: float = Z95) -> Interval:
    """The Wilson score interval of a proportion (Wilson 1927; Newcombe 1998, method 3).

    Unlike the normal ("Wald") interval it stays inside [0, 1] and does not collapse to a point at
    0 or n successes, which matters for accuracies near 1 on a few hundred images.
    """
    if n <= 0:
        raise ValueError(f"an interval needs at least one trial, got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..{n}, got {successes}")
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # Exact ends at 0 and n (the formula gives them only up to rounding).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def bootstrap_seed(image_ids: Sequence[str]) -> int:
    """A seed from sha256 of the sorted image ids: every model and strategy run on the same images
    resamples the same images (paired), in every process, whatever PYTHONHASHSEED."""
    digest = hashlib.sha256("\x1f".join(["pytest-vlm bootstrap", *sorted(image_ids)]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def resample_indices(n: int, seed: int, resamples: int = BOOTSTRAP_RESAMPLES):  # -> numpy array (resamples, n)
    import numpy as np

    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap_f1(
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    labels: Sequence[str],
    indices,  # (resamples, n) integer array from resample_indices
) -> dict[str, list[float]]:
    """Macro and weighted F1 of every resample, as scikit-learn computes them over ``labels``
    (zero_division=0; an unparseable prediction is wrong and credits no class)."""
    import numpy as np

    labels = list(labels)
    code = {label: i for i, label in enumerate(labels)}
    unknown = len(labels)  # unparseable or outside the class list
    true = np.array([code[t] for t in y_true])
    pred = np.array([code.get(p, unknown) if p is not None and p != UNPARSEABLE else unknown for p in y_pred])
    resamples, n = indices.shape
    t, p = true[indices], pred[indices]
    rows = np.repeat(np.arange(resamples), n).reshape(resamples, n) * (unknown + 1)
    size = resamples * (unknown + 1)
    hit = t == p
    tp = np.bincount((rows + t)[hit], minlength=size).reshape(resamples, -1)[:, :unknown]
    support = np.bincount((rows + t).ravel(), minlength=size).reshape(resamples, -1)[:, :unknown]
    predicted = np.bincount((rows + p).ravel(), minlength=size).reshape(resamples, -1)[:, :unknown]
    denominator = support + predicted
    f1 = np.divide(2 * tp, denominator, out=np.zeros(tp.shape, dtype=float), where=denominator > 0)
    macro = f1.mean(axis=1)
    weighted = (f1 * support).sum(axis=1) / n
    return {"macro_f1": macro.tolist(), "weighted_f1": weighted.tolist()}


def percentile_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    import numpy as np

    tail = (1 - level) / 2 * 100
    low, high = np.percentile(np.asarray(values, dtype=float), [tail, 100 - tail])
    return Interval(float(low), float(high))


def metric_intervals(
    image_ids: Sequence[str],
    y_true: Sequence[str],
    y_pred: Sequence[str | None],
    labels: Sequence[str],
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, Interval]:
    """95% intervals: Wilson for accuracy, seeded percentile bootstrap (over images) for the F1s.

    Images are put in id order first, so the intervals depend on which images and predictions
    there are, never on the order a strategy returned them in."""
    order = sorted(range(len(image_ids)), key=lambda i: image_ids[i])
    image_ids = [image_ids[i] for i in order]
    y_true = [y_true[i] for i in order]
    y_pred = [y_pred[i] for i in order]
    n = len(y_true)
    correct = sum(1 for t, p in zip(y_true, y_pred) if t == p)
    intervals = {"accuracy": wilson_interval(correct, n)}
    indices = resample_indices(n, bootstrap_seed(image_ids), resamples)
    for name, values in bootstrap_f1(y_true, y_pred, labels, indices).items():
        intervals[name] = percentile_interval(values)
    return intervals
