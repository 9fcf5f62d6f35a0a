"""How often the significance gate raises a false alarm, and how often it catches a real drop.

Runs in one process on the embedded model and benchmarks, against the committed baselines
(``benchmarks/__vlm_snapshots__``), exactly as the plugin's items compare and gate:

- **false alarms**: the unchanged tiny-shapes, closed-set re-run with 20 other shuffle seeds
  (``--vlm-seed 1..20``) on both shipped benchmarks. Binary and likelihood do not depend on the
  seed: their re-runs are identical to the baseline, so they cannot raise a false alarm.
- **detection**: ``degraded:F:tiny-shapes`` (a fraction F of the images replaced by a grey
  picture, see pytest_vlm/models/degraded.py) for several F, each with several draws of which
  images are degraded (the salt), every strategy of ``shapes``. A model's answers about one
  image do not depend on the other images (nor on batching), so each strategy runs twice, once
  unchanged and once on grey pictures only, and every draw is composed from the two: image by
  image, exactly what ``degraded:F`` would answer. One real degraded run checks the composition.

Prints a line per run, then one JSON line. Usage::

    OMP_NUM_THREADS=1 python benchmarks/gate_power.py              # about 10-25 minutes on 2 busy CPU cores
    OMP_NUM_THREADS=1 python benchmarks/gate_power.py --seeds 5 --benchmarks shapes   # quicker
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pytest_vlm.baseline import snapshots
from pytest_vlm.baseline.comparison import compare, evaluate, merge_gates
from pytest_vlm.data.sources import load_dataset
from pytest_vlm.models.degraded import DegradedModel, is_blanked
from pytest_vlm.models.device import RuntimeOptions
from pytest_vlm.models.hf.model import HFModel
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.spec import parse_spec
from pytest_vlm.strategies import STRATEGIES
from pytest_vlm.strategies.base import ImagePrediction

HERE = Path(__file__).resolve().parent


def load_baseline(spec: Any, strategy: Any) -> tuple[Path, dict[str, Any]]:
    path = snapshots.snapshot_path(spec.folder, spec.name, "tiny-shapes", strategy.id)
    baseline = snapshots.read_baseline(path)
    if baseline is None:
        raise SystemExit(f"no committed baseline at {path}; record it with pytest benchmarks/ --vlm-update-snapshots")
    return path, baseline


def predict(spec: Any, dataset: Any, strategy: Any, model: Any, seed: int) -> list[ImagePrediction]:
    runner = STRATEGIES[strategy.kind](strategy.params, classes=dataset.classes, background=spec.background, seed=seed)
    return runner.run(model, dataset.examples)


def gate(spec: Any, dataset: Any, strategy: Any, predictions: list[ImagePrediction], alpha: float) -> dict[str, Any]:
    path, baseline = load_baseline(spec, strategy)
    found = compare(baseline, predictions, dataset.classes, baseline_name="tiny-shapes", path=str(path))
    verdict = evaluate(merge_gates({"alpha": alpha}), found)[0]
    return {
        "benchmark": spec.name,
        "strategy": strategy.id,
        "flips": len(found.flips),
        "now_wrong": found.b,
        "now_right": found.c,
        "p": found.p_worse,
        "accuracy_delta": found.accuracy_delta,
        "failed": not verdict["passed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="re-runs with other shuffle seeds (1..N)")
    parser.add_argument("--fractions", default="0.01,0.02,0.05,0.1,0.2", help="degraded fractions")
    parser.add_argument("--draws", type=int, default=20, help="draws of the degraded images per fraction")
    parser.add_argument("--benchmarks", default="shapes,shapes-hard", help="benchmarks for the false-alarm runs")
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    model = HFModel(resolve_model("tiny-shapes", base_dir=HERE), RuntimeOptions(device="cpu"))
    names = set(args.benchmarks.split(",")) | {"shapes"}
    specs = [parse_spec(HERE / f"{name}.vlm.yaml") for name in sorted(names)]
    loaded = [(spec, load_dataset(spec)) for spec in specs]

    detections = []
    spec, dataset = next((s, d) for s, d in loaded if s.name == "shapes")
    fractions = [float(f) for f in args.fractions.split(",")]
    grey = DegradedModel(resolve_model("degraded:1:tiny-shapes", base_dir=HERE), model)
    for strategy in spec.strategies:
        unchanged = predict(spec, dataset, strategy, model, spec.seed)
        blank = predict(spec, dataset, strategy, grey, spec.seed)
        if strategy.kind == "closed_set":  # the composition, checked against a real degraded run
            real = predict(
                spec,
                dataset,
                strategy,
                DegradedModel(resolve_model("degraded:0.1:tiny-shapes", base_dir=HERE), model),
                spec.seed,
            )
            composed = [b if is_blanked(u.image_id, 0.1) else u for u, b in zip(unchanged, blank)]
            assert real == composed, "a degraded run differs from its composition: answers depend on other images"
            print("composition check: a real degraded:0.1 run equals its composition", flush=True)
        for fraction in fractions:
            rows = []
            for draw in range(args.draws):
                salt = "" if draw == 0 else str(draw)
                mixed = [b if is_blanked(u.image_id, fraction, salt) else u for u, b in zip(unchanged, blank)]
                rows.append({**gate(spec, dataset, strategy, mixed, args.alpha), "fraction": fraction, "draw": draw})
            detections += rows
            print(
                f"degraded {fraction:<5} {strategy.id:<11} detected {sum(r['failed'] for r in rows)}/{len(rows)}  "
                f"b {min(r['now_wrong'] for r in rows)}-{max(r['now_wrong'] for r in rows)}  "
                f"max p {max(r['p'] for r in rows):.3g}",
                flush=True,
            )

    false_alarms = []
    for spec, dataset in loaded:
        closed = next(s for s in spec.strategies if s.kind == "closed_set")
        for seed in range(1, args.seeds + 1):
            row = gate(spec, dataset, closed, predict(spec, dataset, closed, model, seed), args.alpha)
            false_alarms.append({**row, "seed": seed})
            print(
                f"seed {seed:>2} {spec.name:<12} flips {row['flips']:>3}  b={row['now_wrong']:>3} "
                f"c={row['now_right']:>3}  p={row['p']:.3g}  {'FALSE ALARM' if row['failed'] else 'pass'}",
                flush=True,
            )

    summary = {
        "alpha": args.alpha,
        "false_alarms": {
            name: f"{sum(r['failed'] for r in false_alarms if r['benchmark'] == name)}/"
            f"{sum(1 for r in false_alarms if r['benchmark'] == name)}"
            for name in sorted(args.benchmarks.split(","))
        },
        "flips_unchanged": {
            name: sorted({r["flips"] for r in false_alarms if r["benchmark"] == name})
            for name in sorted(args.benchmarks.split(","))
        },
        "max_flips_unchanged": max((r["flips"] for r in false_alarms), default=0),
        "detection": {
            f"{fraction:g} {strategy}": f"{sum(r['failed'] for r in rows)}/{len(rows)}"
            for fraction in sorted({r["fraction"] for r in detections})
            for strategy in sorted({r["strategy"] for r in detections})
            if (rows := [r for r in detections if r["fraction"] == fraction and r["strategy"] == strategy])
        },
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
