"""How often the significance gate raises a false alarm, and how often it catches a real drop.

Runs in one process on the embedded model and benchmarks, against the committed baselines
(``benchmarks/__vlm_snapshots__``), exactly as the plugin's items compare and gate:

- **false alarms**: the unchanged tiny-shapes, closed-set re-run with 20 other shuffle seeds
  (``--vlm-seed 1..20``) on both shipped benchmarks. Binary and likelihood do not depend on the
  seed: their re-runs are identical to the baseline, so they cannot raise a false alarm.
- **detection**: ``degraded:F:tiny-shapes`` (a fraction F of the images replaced by a grey
  picture, see pytest_vlm/models/degraded.py) for several F, each with several draws of which
  images are degraded (the salt), every strategy of ``shapes``.

Prints a table, then one JSON line. Usage::

    OMP_NUM_THREADS=1 python benchmarks/gate_power.py              # about 3-5 minutes on 2 CPU cores
    OMP_NUM_THREADS=1 python benchmarks/gate_power.py --seeds 5 --draws 2   # quicker
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pytest_vlm import snapshots
from pytest_vlm.comparison import compare, evaluate, merge_gates
from pytest_vlm.datasets import load_dataset
from pytest_vlm.models.degraded import DegradedModel
from pytest_vlm.models.hf import HFModel, RuntimeOptions
from pytest_vlm.models.registry import resolve_model
from pytest_vlm.spec import parse_spec
from pytest_vlm.strategies import STRATEGIES

HERE = Path(__file__).resolve().parent


def run_one(spec: Any, dataset: Any, strategy: Any, model: Any, seed: int, alpha: float) -> dict[str, Any]:
    path = snapshots.snapshot_path(spec.folder, spec.name, "tiny-shapes", strategy.id)
    baseline = snapshots.read_baseline(path)
    if baseline is None:
        raise SystemExit(f"no committed baseline at {path}; record it with pytest benchmarks/ --vlm-update-snapshots")
    runner = STRATEGIES[strategy.kind](strategy.params, classes=dataset.classes, background=spec.background, seed=seed)
    predictions = runner.run(model, dataset.examples)
    found = compare(baseline, predictions, dataset.classes, baseline_name="tiny-shapes", path=str(path))
    gates = evaluate(merge_gates({"alpha": alpha}), found)
    return {
        "benchmark": spec.name,
        "strategy": strategy.id,
        "flips": len(found.flips),
        "now_wrong": found.b,
        "now_right": found.c,
        "p": found.p_worse,
        "accuracy_delta": found.accuracy_delta,
        "failed": not gates[0]["passed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="re-runs with other shuffle seeds (1..N)")
    parser.add_argument("--fractions", default="0.01,0.02,0.05,0.1,0.2", help="degraded fractions")
    parser.add_argument("--draws", type=int, default=5, help="draws of the degraded images per fraction")
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    model = HFModel(resolve_model("tiny-shapes", base_dir=HERE), RuntimeOptions(device="cpu"))
    specs = [parse_spec(HERE / name) for name in ("shapes.vlm.yaml", "shapes-hard.vlm.yaml")]
    loaded = [(spec, load_dataset(spec)) for spec in specs]

    false_alarms = []
    for spec, dataset in loaded:
        closed = next(s for s in spec.strategies if s.kind == "closed_set")
        for seed in range(1, args.seeds + 1):
            row = run_one(spec, dataset, closed, model, seed, args.alpha)
            false_alarms.append({**row, "seed": seed})
            print(
                f"seed {seed:>2} {spec.name:<12} flips {row['flips']:>3}  b={row['now_wrong']:>3} "
                f"c={row['now_right']:>3}  p={row['p']:.3g}  {'FALSE ALARM' if row['failed'] else 'pass'}"
            )

    detections = []
    spec, dataset = loaded[0]
    for fraction in (float(f) for f in args.fractions.split(",")):
        degraded_spec = resolve_model(f"degraded:{fraction}:tiny-shapes", base_dir=HERE)
        for draw in range(args.draws):
            degraded = DegradedModel(degraded_spec, model, salt=str(draw))
            for strategy in spec.strategies:
                if strategy.kind != "closed_set" and draw > 0:
                    continue  # every strategy once; closed-set for every draw
                row = run_one(spec, dataset, strategy, degraded, spec.seed, args.alpha)
                detections.append({**row, "fraction": fraction, "draw": draw})
                print(
                    f"degraded {fraction:<5} draw {draw} {strategy.id:<11} b={row['now_wrong']:>3} "
                    f"c={row['now_right']:>3}  dAcc={row['accuracy_delta']:+.3f}  p={row['p']:.3g}  "
                    f"{'detected' if row['failed'] else 'missed'}"
                )

    summary = {
        "alpha": args.alpha,
        "false_alarms": {
            name: f"{sum(r['failed'] for r in false_alarms if r['benchmark'] == name)}/"
            f"{sum(1 for r in false_alarms if r['benchmark'] == name)}"
            for name in (s.name for s in specs)
        },
        "max_flips_unchanged": max((r["flips"] for r in false_alarms), default=0),
        "detection": {
            f"{fraction:g}": f"{sum(r['failed'] for r in rows)}/{len(rows)}"
            for fraction in sorted({r["fraction"] for r in detections})
            if (rows := [r for r in detections if r["fraction"] == fraction])
        },
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
