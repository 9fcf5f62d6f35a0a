"""Running one benchmark item: strategy -> metrics -> gate -> snapshot -> ItemResult."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_vlm import gate, snapshots
from pytest_vlm.datasets import Dataset
from pytest_vlm.metrics import compute_metrics, worst_confusions
from pytest_vlm.models.base import ClassifiesImages, Describes, MeasuresMemory, VisionLanguageModel
from pytest_vlm.models.hf import process_peak_rss_mb
from pytest_vlm.models.registry import ModelSpec
from pytest_vlm.results import ItemResult
from pytest_vlm.spec import BenchmarkSpec, StrategySpec
from pytest_vlm.strategies import STRATEGIES


class BenchmarkFailure(AssertionError):
    """Thresholds or the baseline failed; the message is the whole report."""


@dataclass(frozen=True)
class ItemPlan:
    """Everything one item needs, fixed at collection."""

    spec: BenchmarkSpec
    dataset: Dataset
    strategy: StrategySpec
    model: ModelSpec
    seed: int
    snapshot_path: Path | None = field(default=None)

    @property
    def name(self) -> str:
        return f"{self.spec.name}[{self.model.name}-{self.strategy.id}]"


def build_strategy(plan: ItemPlan) -> Any:
    cls = STRATEGIES[plan.strategy.kind]
    return cls(plan.strategy.params, classes=plan.dataset.classes, background=plan.spec.background, seed=plan.seed)


def run_item(
    plan: ItemPlan,
    model: VisionLanguageModel,
    *,
    cache: Any = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> tuple[ItemResult, list[str]]:
    """Run the strategy, score it and check the thresholds. Returns the result and its failure lines
    (empty when every threshold holds); the snapshot is checked by the caller.

    ``cache`` (models/cache.py's ResultCache) serves answers already computed; ``progress`` is called
    with (requests answered so far, requests planned or None) as chunks of answers come in."""
    from pytest_vlm import sweep
    from pytest_vlm.models.cache import wrap

    strategy = build_strategy(plan)
    examples = plan.dataset.examples
    planned = getattr(strategy, "planned_requests", None)
    total = planned(len(examples)) + sweep.planned_requests(plan) if planned else None
    done = [0]

    def advance(count: int) -> None:
        done[0] += count
        if progress is not None:
            progress(done[0], total)

    # Classifiers answer in one fast pass with no prompt: nothing worth caching.
    asked = model if isinstance(model, ClassifiesImages) else wrap(model, cache, progress=advance)
    if isinstance(model, MeasuresMemory):
        model.reset_peak_memory()
    start = time.perf_counter()
    predictions = strategy.run(asked, examples)
    seconds = time.perf_counter() - start
    memory = model.peak_memory_mb() if isinstance(model, MeasuresMemory) else process_peak_rss_mb()
    metrics = compute_metrics(
        [p.label for p in predictions],
        [p.prediction for p in predictions],
        plan.dataset.classes,
        seconds=seconds,
        calls=sum(len(p.raw) for p in predictions),
        peak_memory_mb=memory,
    )
    checks = gate.check(plan.strategy.thresholds, metrics)
    failures = gate_report(checks, metrics) if gate.violations(checks) else []
    result = ItemResult(
        nodeid="",
        benchmark=plan.spec.name,
        model=plan.model.name,
        strategy=plan.strategy.id,
        kind=plan.strategy.kind,
        status="failed" if failures else "passed",
        metrics=metrics,
        checks=tuple(checks),
        predictions=tuple(predictions),
        model_info=model.describe() if isinstance(model, Describes) else {},
    )
    if getattr(plan.strategy.params, "class_counts", None):
        result = replace(result, sweep=sweep.run_sweep(plan, asked, metrics))
    if getattr(asked, "cached", False):
        result = replace(result, cache_hits=asked.hits, cache_requests=asked.requests)
    return result, failures


def gate_report(checks: list[gate.Check], metrics: Any) -> list[str]:
    """The readable threshold table, with the worst confusions."""
    failed = len(gate.violations(checks))
    lines = [f"{failed} of {len(checks)} threshold(s) failed on {metrics.n} images:"]
    width = max(len(c.threshold.metric) for c in checks)
    lines.append(f"  {'metric':<{width}}  {'value':>9}  {'threshold':<11}  {'margin':>9}")
    for c in checks:
        lines.append(
            f"  {c.threshold.metric:<{width}}  {c.actual:>9.4f}  {c.threshold!s:<11}  {c.margin:>+9.4f}"
            f"  {'ok' if c.passed else 'FAIL'}"
        )
    confusions = worst_confusions(metrics)
    if confusions:
        lines.append(
            "worst confusions (true -> predicted: images): " + ", ".join(f"{t} -> {p}: {n}" for t, p, n in confusions)
        )
    return lines


def check_snapshot(plan: ItemPlan, result: ItemResult, snapshot: Any, update: bool) -> tuple[str, int, list[str]]:
    """Compare predictions with the stored baseline through syrupy; returns (state, flips, failure lines)."""
    path = plan.snapshot_path
    assert path is not None
    failures: list[str] = []
    try:
        baseline = snapshots.read_baseline(path)
    except ValueError as exc:
        baseline, failures = None, [str(exc)]
    diff = snapshots.diff_baseline(baseline, result.predictions) if baseline is not None else None
    assertion = snapshot.use_extension(snapshots.VlmSnapshotExtension)
    assertion.update_snapshots = update or assertion.update_snapshots
    text = snapshots.serialize_predictions(result.predictions)
    unchanged = path.is_file() and path.read_text(encoding="utf-8") == text
    matched = assertion == text  # in update mode syrupy writes the file here
    flips = len(diff.flips) if diff else 0
    if assertion.update_snapshots:
        return ("unchanged" if unchanged else "recorded"), flips, []
    if matched:
        return "matched", 0, []
    if baseline is None and not failures:
        return (
            "missing",
            0,
            [
                f"no baseline yet for {plan.model.name} on {plan.spec.name} / {plan.strategy.id} (expected {path}).",
                "Record one with --vlm-update-snapshots once you have checked the results.",
            ],
        )
    if diff is not None:
        failures += ["predictions differ from the baseline:"] + snapshots.describe_diff(diff, path)
        if diff.empty:  # same content, different text: e.g. a hand-edited file
            failures.insert(1, "the baseline file differs from what this run writes, but not in any prediction")
    failures.append("If the change is intended, accept it with --vlm-update-snapshots.")
    return "changed", flips, failures
