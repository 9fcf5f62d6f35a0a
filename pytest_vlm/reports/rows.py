"""Report content built without I/O: summary rows and the JSON document."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_vlm.results import ItemResult
from pytest_vlm.scoring.metrics import Interval

JSON_VERSION = 2  # 2: "run" metadata, "speed" per result (docs/reports.md)


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
    cache_share: float | None = None  # share of requests answered by the result cache; None: not cached
    warm: bool = False  # the model's in-memory caches held entries from earlier items when this one began

    @property
    def speed(self) -> str:
        """it/s over the requests the model computed: "cached" when it computed none, * when warm."""
        value = self.images_per_second
        if value is None:
            return "-"
        if math.isnan(value):
            return "cached"
        text = f"{value:.0f}" if value >= 100 else f"{value:.1f}"
        return text + ("*" if self.warm else "")

    @property
    def cached(self) -> str:
        return "-" if self.cache_share is None else f"{self.cache_share:.0%}"


WARM_NOTE = "* warm: the model's in-memory caches held earlier items' work; faster than the item alone"


def _baseline(r: ItemResult) -> str:
    if r.snapshot == "changed":
        return f"{r.flips} flipped" if r.flips else "changed"
    return r.snapshot or "-"


_NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">="}


def _shown(actual: float, threshold: float) -> str:
    """``actual`` with enough decimals to tell it from ``threshold`` (0.6061 vs 0.60605)."""
    for digits in (4, 6, 9):
        if f"{actual:.{digits}f}" != f"{threshold:.{digits}f}":
            break
    return f"{actual:.{digits}f}"


def failure_reasons(r: ItemResult) -> list[str]:
    """Why an item did not pass, one short phrase each: the error, each failed threshold
    (``accuracy 0.9510 < 0.96``), each failed baseline gate, or a changed or missing baseline."""
    if r.status == "passed":
        return []
    first = r.failures[0].splitlines()[0] if r.failures else r.status
    if r.status == "error":
        return [first]
    reasons = [
        f"{c.threshold.metric} {_shown(c.actual, c.threshold.value)} {_NEGATED[c.threshold.op]} {c.threshold.value:g}"
        for c in r.checks
        if not c.passed
    ]
    gates = r.comparison.gates if r.comparison is not None else []
    reasons += [f"{g['gate']} failed" for g in gates if not g["passed"]]
    if r.snapshot == "changed" and not gates:
        reasons.append(f"baseline: {_baseline(r)}")
    elif r.snapshot == "missing":
        reasons.append("no baseline yet")
    return reasons or [first]


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
                cache_share=r.cache_hits / r.cache_requests if r.cache_hits is not None and r.cache_requests else None,
                warm=bool(r.speed.get("warm_entries")),
            )
        )
    return rows


def json_document(results: Sequence[ItemResult], run: dict[str, Any]) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: (r.benchmark, r.model, r.strategy))
    # Thumbnails are for the HTML report only: base64 pictures would swamp the JSON.
    rows = []
    for r in ordered:
        row = {**r.to_dict(), "thumbnails": {}}
        speed = row["metrics"] and row["metrics"]["images_per_second"]
        if speed is not None and not math.isfinite(speed):  # JSON has no NaN: not measured is null
            row["metrics"]["images_per_second"] = None
        rows.append(row)
    return {"version": JSON_VERSION, "run": run, "results": rows}


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
        ]
        if not math.isnan(m.images_per_second):  # NaN: every answer came from the result cache
            props.append(("vlm_images_per_second", round(m.images_per_second, 3)))
        if r.cache_hits is not None and r.cache_requests:
            props.append(("vlm_cached_share", round(r.cache_hits / r.cache_requests, 6)))
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
