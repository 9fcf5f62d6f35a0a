"""Running one benchmark item: strategy -> metrics -> gate -> snapshot -> ItemResult."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_vlm.baseline import comparison as baseline_comparison
from pytest_vlm.baseline import snapshots
from pytest_vlm.baseline import thresholds as gate
from pytest_vlm.data.sources import Dataset
from pytest_vlm.models.base import ClassifiesImages, Describes, MeasuresMemory, VisionLanguageModel
from pytest_vlm.models.device import process_peak_rss_mb
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.results import ItemResult
from pytest_vlm.scoring.diagnostics import closed_set_diagnostics
from pytest_vlm.scoring.intervals import metric_intervals
from pytest_vlm.scoring.metrics import compute_metrics, worst_confusions
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
    baseline_path: Path | None = None  # --vlm-baseline: another model's baseline file, read-only
    baseline_model: str | None = None

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

    ``cache`` (models/cache/results.py's ResultCache) serves answers already computed; ``progress`` is called
    with (requests answered so far, requests planned or None) as chunks of answers come in."""
    from pytest_vlm.models.cache.results import CachingModel, wrap
    from pytest_vlm.scoring import sweep

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
    metrics = replace(
        metrics,
        intervals=metric_intervals(
            [p.image_id for p in predictions],
            [p.label for p in predictions],
            [p.prediction for p in predictions],
            plan.dataset.classes,
        ),
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
        diagnostics=closed_set_diagnostics(predictions, plan.dataset.classes)
        if plan.strategy.kind == "closed_set"
        else {},
    )
    if getattr(plan.strategy.params, "class_counts", None):
        result = replace(result, sweep=sweep.run_sweep(plan, asked, metrics))
    if isinstance(asked, CachingModel) and asked.cached:
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


def _compare(
    plan: ItemPlan, baseline: dict[str, Any], result: ItemResult, path: Path, name: str
) -> baseline_comparison.Comparison:
    found = baseline_comparison.compare(
        baseline, result.predictions, plan.dataset.classes, baseline_name=name, path=str(path)
    )
    return replace(found, gates=baseline_comparison.evaluate(plan.strategy.baseline_gates, found))


def gate_failures(found: baseline_comparison.Comparison, diff: snapshots.BaselineDiff, path: Path) -> list[str]:
    """The baseline gates' report when one failed (empty when all hold)."""
    failed = [g for g in found.gates if not g["passed"]]
    if not failed:
        return []
    lines = [f"{len(failed)} of {len(found.gates)} baseline gate(s) failed against {found.baseline}:"]
    lines += [f"  {g['gate']}: {'ok' if g['passed'] else 'FAIL'}  {g['detail']}" for g in found.gates]
    lines.append(found.summary())
    return lines + snapshots.describe_diff(diff, path)


def check_snapshot(
    plan: ItemPlan, result: ItemResult, snapshot: Any, update: bool
) -> tuple[str, int, list[str], baseline_comparison.Comparison | None]:
    """Compare predictions with the stored baseline through syrupy; returns (state, flips, failure
    lines, comparison). With baseline gates configured, they decide instead of the exact match."""
    path = plan.snapshot_path
    assert path is not None
    failures: list[str] = []
    try:
        baseline = snapshots.read_baseline(path)
    except ValueError as exc:
        baseline, failures = None, [str(exc)]
    diff = snapshots.diff_baseline(baseline, result.predictions) if baseline is not None else None
    found = _compare(plan, baseline, result, path, plan.model.name) if baseline is not None else None
    assertion = snapshot.use_extension(snapshots.VlmSnapshotExtension)
    assertion.update_snapshots = update or assertion.update_snapshots
    text = snapshots.serialize_predictions(result.predictions)
    unchanged = path.is_file() and path.read_text(encoding="utf-8") == text
    matched = assertion == text  # in update mode syrupy writes the file here
    flips = len(diff.flips) if diff else 0
    if assertion.update_snapshots:
        return ("unchanged" if unchanged else "recorded"), flips, [], found
    if matched:
        return "matched", 0, [], found
    if found is not None and diff is not None and plan.strategy.baseline_gates.active:
        failures = gate_failures(found, diff, path)
        if failures:
            failures.append("If the change is intended, accept it with --vlm-update-snapshots.")
        return ("changed" if flips else "matched"), flips, failures, found
    if baseline is None and not failures:
        return (
            "missing",
            0,
            [
                f"no baseline yet for {plan.model.name} on {plan.spec.name} / {plan.strategy.id} (expected {path}).",
                "Record one with --vlm-update-snapshots once you have checked the results.",
            ],
            None,
        )
    if diff is not None:
        failures += ["predictions differ from the baseline:"] + snapshots.describe_diff(diff, path)
        if diff.empty:  # same content, different text: e.g. a hand-edited file
            failures.insert(1, "the baseline file differs from what this run writes, but not in any prediction")
    failures.append("If the change is intended, accept it with --vlm-update-snapshots.")
    return "changed", flips, failures, found


def check_other_baseline(
    plan: ItemPlan, result: ItemResult
) -> tuple[str, int, list[str], baseline_comparison.Comparison | None]:
    """--vlm-baseline: compare with another model's stored baseline, which is only ever read."""
    path, name = plan.baseline_path, plan.baseline_model
    assert path is not None and name is not None
    try:
        baseline = snapshots.read_baseline(path)
    except ValueError as exc:
        return "error", 0, [str(exc)], None
    if baseline is None:
        return (
            "missing",
            0,
            [
                f"no baseline of {name} on {plan.spec.name} / {plan.strategy.id} to compare with "
                f"(--vlm-baseline {name}): {path} does not exist.",
                f"Record it first: pytest {plan.spec.path} --vlm-model {name} --vlm-update-snapshots",
            ],
            None,
        )
    diff = snapshots.diff_baseline(baseline, result.predictions)
    found = _compare(plan, baseline, result, path, name)
    flips = len(diff.flips)
    state = "changed" if flips else "matched"
    if plan.strategy.baseline_gates.active:
        return state, flips, gate_failures(found, diff, path), found
    if diff.empty:
        return "matched", 0, [], found
    failures = [f"predictions differ from the baseline of {name}:"] + snapshots.describe_diff(diff, path)
    failures.append(
        f"Any difference fails unless the spec sets baseline gates (max_flip_rate, no_significant_drop); "
        f"the baseline of {name} is only read, never written."
    )
    return "changed", flips, failures, found
