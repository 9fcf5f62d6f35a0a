"""Running one benchmark item: strategy -> metrics -> gate -> snapshot -> ItemResult."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_vlm.baseline import comparison as baseline_comparison
from pytest_vlm.baseline import snapshots
from pytest_vlm.baseline import thresholds as gate
from pytest_vlm.data.sources import Dataset
from pytest_vlm.models.base import (
    ClassifiesImages,
    Describes,
    HoldsMemos,
    MeasuresMemory,
    VisionLanguageModel,
)
from pytest_vlm.models.device import process_peak_rss_mb
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.printable import printable_name
from pytest_vlm.results import ItemResult
from pytest_vlm.scoring.diagnostics import closed_set_diagnostics, unreadable_answers
from pytest_vlm.scoring.intervals import metric_intervals
from pytest_vlm.scoring.metrics import compute_metrics, worst_confusions
from pytest_vlm.spec import BenchmarkSpec, StrategySpec
from pytest_vlm.strategies import STRATEGIES
from pytest_vlm.strategies.base import ImagePrediction


class BenchmarkFailure(AssertionError):
    """Thresholds or the baseline failed: ``reason`` in one line, then the whole report."""

    def __init__(self, report: str, reason: str) -> None:
        super().__init__(f"{reason}\n{report}")
        self.reason = reason


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
    def param_id(self) -> str:
        """The item's parameter id; pytest escapes its control characters (and non-ASCII) in node ids."""
        return f"{self.model.name}-{self.strategy.id}"

    @property
    def name(self) -> str:
        # Control characters escaped: printed as they are in the progress bar and reports.
        return printable_name(f"{self.spec.name}[{self.param_id}]")


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

    if progress is not None:
        progress(0, total)  # the plan is known before the first answer: the bar can say so
    # Classifiers answer in one fast pass with no prompt: nothing worth caching.
    asked = model if isinstance(model, ClassifiesImages) else wrap(model, cache, progress=advance)
    if isinstance(model, MeasuresMemory):
        model.reset_peak_memory()
    warm = model.memo_entries() if isinstance(model, HoldsMemos) else 0
    start = time.perf_counter()
    predictions = strategy.run(asked, examples)
    seconds = time.perf_counter() - start
    speed = measured_speed(asked, len(predictions), seconds, warm)
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
        images_per_second=speed["images_per_second"],
        intervals=metric_intervals(
            [p.image_id for p in predictions],
            [p.label for p in predictions],
            [p.prediction for p in predictions],
            plan.dataset.classes,
        ),
    )
    checks = gate.check(plan.strategy.thresholds, metrics)
    failures = gate_report(checks, metrics, predictions) if gate.violations(checks) else []
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
        model_info=model_info(model, asked),
        speed={k: v for k, v in speed.items() if k != "images_per_second"},
        diagnostics=closed_set_diagnostics(predictions, plan.dataset.classes)
        if plan.strategy.kind == "closed_set"
        else {},
    )
    if getattr(plan.strategy.params, "class_counts", None):
        result = replace(result, sweep=sweep.run_sweep(plan, asked, metrics))
    if isinstance(asked, CachingModel) and asked.cached:
        result = replace(result, cache_hits=asked.hits, cache_requests=asked.requests)
    return result, failures


def measured_speed(asked: Any, images: int, seconds: float, warm: int) -> dict[str, Any]:
    """The model's speed over the requests it computed: answers served by the result cache took no
    model time and are left out. ``images_per_second`` is NaN when the cache served everything."""
    requests = getattr(asked, "requests", 0)
    hits = getattr(asked, "hits", 0)
    model_seconds = getattr(asked, "model_seconds", seconds)
    computed = requests - hits
    if not requests:  # a classifier's single pass: every image computed, in the wall time
        rate = images / seconds if seconds > 0 else float("inf")
    elif not computed:
        rate = float("nan")
    else:
        rate = images * computed / requests / model_seconds if model_seconds > 0 else float("inf")
    return {
        "images_per_second": rate,
        "wall_seconds": round(seconds, 6),
        "model_seconds": round(model_seconds, 6),
        "requests": requests,
        "computed_requests": computed,
        "cached_requests": hits,
        "warm_entries": warm,
    }


def model_info(model: VisionLanguageModel, asked: Any) -> dict[str, Any]:
    """How the model describes itself, with the GPU's name and the result cache's fingerprint of it."""
    info = dict(model.describe()) if isinstance(model, Describes) else {}
    device = str(info.get("device", ""))
    if device.startswith("cuda"):
        import torch

        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    info["fingerprint"] = getattr(asked, "model_key", None)  # sha256 of what the answers depend on
    return info


def gate_report(checks: list[gate.Check], metrics: Any, predictions: Sequence[ImagePrediction] = ()) -> list[str]:
    """The readable threshold table, with the worst confusions and what the unreadable answers said."""
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
    unreadable = unreadable_answers(predictions)
    if unreadable:
        lines.append(unreadable)
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
    flips = len(diff.flips) if diff else 0
    # syrupy records each comparison for its summary line, which must tell the run's story: a
    # baseline that does not exist yet is not compared (no "snapshot failed" next to "no baseline
    # yet"), and a change that the baseline gates accept is a match (the item passes).
    if assertion.update_snapshots:
        assertion == text  # noqa: B015  (syrupy writes the file)
        return ("unchanged" if unchanged else "recorded"), flips, [], found
    if found is not None and diff is not None and plan.strategy.baseline_gates.active:
        failures = gate_failures(found, diff, path)
        assertion == (text if failures else snapshots.AcceptedByGates(text))  # noqa: B015
        if failures:
            failures.append("If the change is intended, accept it with --vlm-update-snapshots.")
        return ("changed" if flips else "matched"), flips, failures, found
    if path.is_file():
        assertion == text  # noqa: B015  (a mismatch is reported below, with the flips)
    if unchanged:
        return "matched", 0, [], found
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
    return ("changed" if baseline is not None else "error"), flips, failures, found


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
