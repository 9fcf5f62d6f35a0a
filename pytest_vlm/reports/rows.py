"""Report content built without I/O: summary rows and the JSON document."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_vlm.results import ItemResult
from pytest_vlm.scoring.metrics import Interval

JSON_VERSION = 1


@dataclass(frozen=True)
class SummaryRow:
    benchmark: str
    model: str
    strategy: str
    n: int | None
    accuracy: float | None
    macro_f1: float | None
    weighted_f1: float | None
    images_per_second: float | None
    status: str  # passed, failed, error
    baseline: str  # matched, N flipped, missing, recorded, unchanged, off, or "-"
    accuracy_ci: Interval | None = None
    macro_f1_ci: Interval | None = None
    weighted_f1_ci: Interval | None = None


def _baseline(r: ItemResult) -> str:
    if r.snapshot == "changed":
        return f"{r.flips} flipped" if r.flips else "changed"
    return r.snapshot or "-"


def summary_rows(results: Sequence[ItemResult]) -> list[SummaryRow]:
    rows = []
    for r in sorted(results, key=lambda r: (r.benchmark, r.model, r.strategy)):
        m = r.metrics
        rows.append(
            SummaryRow(
                benchmark=r.benchmark,
                model=r.model,
                strategy=r.strategy,
                n=m.n if m else None,
                accuracy=m.accuracy if m else None,
                macro_f1=m.macro_f1 if m else None,
                weighted_f1=m.weighted_f1 if m else None,
                images_per_second=m.images_per_second if m else None,
                status=r.status,
                baseline=_baseline(r),
                accuracy_ci=m.intervals.get("accuracy") if m else None,
                macro_f1_ci=m.intervals.get("macro_f1") if m else None,
                weighted_f1_ci=m.intervals.get("weighted_f1") if m else None,
            )
        )
    return rows


def json_document(results: Sequence[ItemResult]) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: (r.benchmark, r.model, r.strategy))
    # Thumbnails are for the HTML report only: base64 pictures would swamp the JSON.
    return {"version": JSON_VERSION, "results": [{**r.to_dict(), "thumbnails": {}} for r in ordered]}


def comparison_lines(results: Sequence[ItemResult]) -> list[str]:
    """One line per item that was compared with a baseline and changed: flips, accuracy, test, gates."""
    lines = []
    for r in sorted(results, key=lambda r: (r.benchmark, r.model, r.strategy)):
        c = r.comparison
        if c is None or not (c.flips or c.failed_gates):
            continue
        gates = "; ".join(f"{g['gate']} {'ok' if g['passed'] else 'FAILED'}" for g in c.gates)
        lines.append(f"{r.benchmark} {r.model} {r.strategy} {c.summary()}" + (f"; {gates}" if gates else ""))
    return lines


def junit_properties(r: ItemResult) -> list[tuple[str, object]]:
    """Properties for the item's JUnit <testcase> (item.user_properties), so CI systems show them."""
    props: list[tuple[str, object]] = [("vlm_status", r.status), ("vlm_baseline", _baseline(r))]
    m = r.metrics
    if m is not None:
        props += [
            ("vlm_images", m.n),
            ("vlm_accuracy", round(m.accuracy, 6)),
            ("vlm_macro_f1", round(m.macro_f1, 6)),
            ("vlm_weighted_f1", round(m.weighted_f1, 6)),
            ("vlm_unparseable_rate", round(m.unparseable_rate, 6)),
            ("vlm_images_per_second", round(m.images_per_second, 3)),
        ]
        for name, interval in m.intervals.items():
            props.append((f"vlm_{name}_ci95", f"{interval.low:.4f} {interval.high:.4f}"))
    props.append(("vlm_flips", r.flips))
    c = r.comparison
    if c is not None:
        props += [
            ("vlm_baseline_model", c.baseline),
            ("vlm_flip_rate", round(c.flip_rate, 6)),
            ("vlm_now_wrong", c.b),
            ("vlm_now_right", c.c),
            ("vlm_accuracy_delta", round(c.accuracy_delta, 6)),
            ("vlm_mcnemar_p", f"{c.p_worse:.4g}"),
        ]
        props += [(f"vlm_gate_{g['gate']}", "passed" if g["passed"] else "failed") for g in c.gates]
    return props
