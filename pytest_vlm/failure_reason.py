"""Why an item failed, in one line: what pytest's short test summary shows after the node id.

``accuracy 0.951 < 0.96``, ``3 images flipped``, ``no baseline yet``: the full report (tables,
confusions, flips) follows in the failure section.
"""

from __future__ import annotations

from pytest_vlm.baseline.thresholds import Check, violations
from pytest_vlm.results import ItemResult

_BROKEN = {">=": "<", ">": "<=", "<=": ">", "<": ">="}  # what the value is when the threshold fails


def _threshold(check: Check) -> str:
    return f"{check.threshold.metric} {check.actual:.3f} {_BROKEN[check.threshold.op]} {check.threshold.value:g}"


def _images(count: int) -> str:
    return f"{count} image{'' if count == 1 else 's'}"


def _baseline(result: ItemResult) -> str | None:
    """What the baseline says, when it is part of why the item failed."""
    if result.snapshot == "missing":
        return "no baseline yet"
    if result.snapshot == "error":
        return "baseline unreadable"
    gates = result.comparison.gates if result.comparison is not None else ()
    failed = [g["gate"] for g in gates if not g["passed"]]
    if result.snapshot != "changed" or (gates and not failed):  # with baseline gates, only they fail an item
        return None
    reason = f"{_images(result.flips)} flipped" if result.flips else "baseline file differs"
    return f"{reason} ({', '.join(failed)} failed)" if failed else reason


def short_reason(result: ItemResult) -> str:
    """The failed thresholds and the baseline's verdict, joined by '; '."""
    parts = [_threshold(c) for c in violations(result.checks)]
    baseline = _baseline(result)
    if baseline is not None:
        parts.append(baseline)
    return "; ".join(parts) or "failed"
