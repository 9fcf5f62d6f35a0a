"""The class-count sweep: closed-set accuracy on seeded subsets of 10, 25, 50... classes.

The reference study measured how closed-set accuracy changes with the number of classes listed in
the prompt. For each size ``n`` of a strategy's ``class_counts``, the subset of classes is drawn
with a seed derived from sha256 of (seed, n): the same in every process and run. The background
class, when the benchmark has one, is always part of the subset and counts towards ``n`` (it is
the "none of the above" answer the other classes need). Only images of the chosen classes are
asked about, with the closed-set prompt listing just those classes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pytest_vlm.results import SweepPoint
from pytest_vlm.scoring.metrics import Metrics, compute_metrics
from pytest_vlm.strategies.class_subsets import class_subset


def planned_requests(plan: Any) -> int:
    """Model requests the sweep will make (sizes equal to the full class list reuse the main run)."""
    params = plan.strategy.params
    classes = plan.dataset.classes
    total = 0
    for n in getattr(params, "class_counts", ()) or ():
        if n < len(classes):
            subset = set(class_subset(classes, plan.spec.background, n, plan.seed))
            total += params.votes * sum(1 for ex in plan.dataset.examples if ex.label in subset)
    return total


def run_sweep(plan: Any, model: Any, full: Metrics) -> tuple[SweepPoint, ...]:
    """Run the closed-set strategy of ``plan`` on each subset size; ``full`` is the main run's metrics."""
    from pytest_vlm.strategies.closed_set import ClosedSet

    params = plan.strategy.params
    classes = plan.dataset.classes
    points = []
    for n in params.class_counts or ():
        if n == len(classes):
            points.append(SweepPoint(n, tuple(classes), full.n, full.accuracy, full.macro_f1, full.unparseable_rate))
            continue
        subset = class_subset(classes, plan.spec.background, n, plan.seed)
        examples = [ex for ex in plan.dataset.examples if ex.label in subset]
        own = dataclasses.replace(params, class_counts=())
        strategy = ClosedSet(own, classes=subset, background=plan.spec.background, seed=plan.seed)
        predictions = strategy.run(model, examples)
        metrics = compute_metrics(
            [p.label for p in predictions],
            [p.prediction for p in predictions],
            subset,
            seconds=1.0,  # speed is not reported per size
            calls=sum(len(p.raw) for p in predictions),
            peak_memory_mb=0.0,
        )
        points.append(SweepPoint(n, subset, metrics.n, metrics.accuracy, metrics.macro_f1, metrics.unparseable_rate))
    return tuple(points)
