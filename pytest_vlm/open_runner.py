"""Running one open_ended item: answers -> scores -> metrics -> thresholds -> the baseline's answers.

The classification path (runner.py) compares predicted classes; here a baseline stores answers, and
an answer only counts as changed (a flip) when its meaning moved: its similarity to the baseline
answer fell below the strategy's ``flip_threshold``. A reworded answer passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_vlm.baseline import answers as answer_baselines
from pytest_vlm.baseline import snapshots
from pytest_vlm.baseline import thresholds as gate
from pytest_vlm.models.base import VisionLanguageModel
from pytest_vlm.results import ItemResult
from pytest_vlm.runner import (
    ItemPlan,
    build_strategy,
    gate_report,
    measured_speed,
    model_info,
    read_other_baseline,
    timed_run,
)
from pytest_vlm.scoring.open_metrics import compute_open_metrics
from pytest_vlm.scoring.scorers import CosineSimilarity
from pytest_vlm.strategies.open_ended import OpenEndedParams

Outcome = tuple[str, int, list[str], answer_baselines.OpenComparison | None]


def _baseline_path(plan: ItemPlan) -> Path | None:
    return plan.snapshot_path if plan.snapshot_path is not None else plan.baseline_path


def _read(path: Path | None) -> dict[str, Any] | None:
    try:
        return snapshots.read_baseline(path) if path is not None else None
    except ValueError:
        return None  # reported by the snapshot check


def _paired_score(params: OpenEndedParams) -> str:
    """The per-image score paired statistics compare: similarity when measured, else the first scorer."""
    return CosineSimilarity.name if CosineSimilarity.name in params.scorers else params.scorers[0]


def run_open_item(
    plan: ItemPlan,
    model: VisionLanguageModel,
    *,
    cache: Any = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> tuple[ItemResult, list[str]]:
    """Ask, score and check the thresholds (paired ones against the stored baseline's scores)."""
    from pytest_vlm.models.cache.results import CachingModel

    strategy = build_strategy(plan)
    params: OpenEndedParams = strategy.params
    examples = plan.dataset.examples
    # Timed: the model's answers only; scoring (embeddings) is not the model's speed.
    texts, seconds, memory, asked, warm = timed_run(
        model, cache, progress, len(examples), lambda m: strategy.ask(m, examples)
    )
    speed = measured_speed(asked, len(texts), seconds, warm)  # NaN it/s when the cache served every answer
    answers = strategy.score(examples, texts)
    ids = [a.image_id for a in answers]
    baseline = _read(_baseline_path(plan))
    paired = _paired_score(params)
    old = [baseline.get(i, {}).get("scores", {}).get(paired) for i in ids] if baseline else []
    metrics = compute_open_metrics(
        ids,
        {name: [a.scores[name] for a in answers] for name in params.scorers},
        win_threshold=params.win_threshold,
        baseline_similarity=[float(s) for s in old] if old and None not in old else None,
        seconds=seconds,
        calls=len(answers),
        peak_memory_mb=memory,
    )
    metrics = replace(metrics, images_per_second=speed["images_per_second"])
    measurable, failures = [], []
    for t in plan.strategy.thresholds:
        try:
            metrics.value(t.metric)
            measurable.append(t)
        except ValueError as exc:
            failures.append(f"threshold on {t.metric} cannot be checked: {exc}")
    checks = gate.check(measurable, metrics)
    if gate.violations(checks):
        failures = gate_report(checks, metrics) + failures
    result = ItemResult(
        nodeid="",
        benchmark=plan.spec.name,
        model=plan.model.name,
        strategy=plan.strategy.id,
        kind=plan.strategy.kind,
        status="failed" if failures else "passed",
        checks=tuple(checks),
        model_info=model_info(model, asked),
        speed={k: v for k, v in speed.items() if k != "images_per_second"},
        open_metrics=metrics,
        answers=tuple(answers),
    )
    if isinstance(asked, CachingModel) and asked.cached:
        result = replace(result, cache_hits=asked.hits, cache_requests=asked.requests)
    return result, failures


def _compare(
    plan: ItemPlan, baseline: Mapping[str, Any], result: ItemResult, path: Path, name: str
) -> answer_baselines.OpenComparison:
    params: OpenEndedParams = plan.strategy.params
    embedder = None
    if CosineSimilarity.name in params.scorers:
        from pytest_vlm.scoring.embeddings import load_embedder

        embedder = load_embedder(params.embedding_model)
    found = answer_baselines.compare_answers(
        baseline,
        result.answers,
        baseline_name=name,
        path=str(path),
        flip_threshold=params.flip_threshold,
        embedder=embedder,
        score=_paired_score(params),
    )
    gates = plan.strategy.baseline_gates
    return replace(found, gates=answer_baselines.evaluate_gates(gates.max_flip_rate, gates.alpha, found))


def _verdict(plan: ItemPlan, found: answer_baselines.OpenComparison, path: Path, name: str) -> Outcome:
    """Gates when the spec sets them, else: any answer that changed meaning fails; rewordings pass."""
    flips = len(found.flips)
    state = "changed" if flips else ("reworded" if found.changed else "matched")
    details = answer_baselines.describe_flips(found, path)
    if plan.strategy.baseline_gates.active:
        failed = [g for g in found.gates if not g["passed"]]
        if not failed:
            return state, flips, [], found
        lines = [f"{len(failed)} of {len(found.gates)} baseline gate(s) failed against {name}:"]
        lines += [f"  {g['gate']}: {'ok' if g['passed'] else 'FAIL'}  {g['detail']}" for g in found.gates]
        return state, flips, [*lines, found.summary(), *details], found
    if not flips:
        return state, 0, [], found
    return state, flips, [f"answers changed meaning against the baseline of {name}:", found.summary(), *details], found


def check_open_snapshot(plan: ItemPlan, result: ItemResult, snapshot: Any, update: bool) -> Outcome:
    """The answers against the stored baseline, recorded through syrupy (one image per line)."""
    path = plan.snapshot_path
    assert path is not None
    try:
        baseline = snapshots.read_baseline(path)
    except ValueError as exc:
        baseline, error = None, [str(exc)]
    else:
        error = []
    found = _compare(plan, baseline, result, path, plan.model.name) if baseline is not None else None
    assertion = snapshot.use_extension(snapshots.VlmSnapshotExtension)
    assertion.update_snapshots = update or assertion.update_snapshots
    text = answer_baselines.serialize_answers(result.answers)
    unchanged = path.is_file() and path.read_text(encoding="utf-8") == text
    matched = assertion == text  # in update mode syrupy writes the file here
    if assertion.update_snapshots:
        return ("unchanged" if unchanged else "recorded"), len(found.flips) if found else 0, [], found
    if matched:
        return "matched", 0, [], found
    if found is None:
        if error:
            return "error", 0, error, None
        return (
            "missing",
            0,
            [
                f"no baseline yet for {plan.model.name} on {plan.spec.name} / {plan.strategy.id} (expected {path}).",
                "Record one with --vlm-update-snapshots once you have checked the answers.",
            ],
            None,
        )
    state, flips, failures, found = _verdict(plan, found, path, plan.model.name)
    if failures:
        failures.append("If the change is intended, accept it with --vlm-update-snapshots.")
    return state, flips, failures, found


def check_open_other_baseline(plan: ItemPlan, result: ItemResult) -> Outcome:
    """--vlm-baseline: the answers against another model's stored answers, only ever read."""
    path, name = plan.baseline_path, plan.baseline_model
    assert path is not None and name is not None
    baseline, state, failures = read_other_baseline(plan)
    if baseline is None:
        return state, 0, failures, None
    return _verdict(plan, _compare(plan, baseline, result, path, name), path, name)
