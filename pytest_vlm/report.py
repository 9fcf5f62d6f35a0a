"""Report content built without I/O: summary rows and the JSON document."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_vlm.results import ItemResult

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
            )
        )
    return rows


def json_document(results: Sequence[ItemResult]) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "results": [r.to_dict() for r in sorted(results, key=lambda r: (r.benchmark, r.model, r.strategy))],
    }


def write_json(path: Path, results: Sequence[ItemResult]) -> None:
    """Write atomically: a reader never sees half a file, and a failed write keeps the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(json_document(results), f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
