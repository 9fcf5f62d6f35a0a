"""Prediction baselines as syrupy snapshots, one file per benchmark x model x strategy.

Layout: ``<spec folder>/__vlm_snapshots__/<benchmark>/<model>/<strategy>.json``, one image per line
so that diffs name images. The extension only ever discovers the file of the item at hand. That is
what keeps other models' baselines safe: syrupy deletes (on update) or fails on (otherwise) the
snapshots it discovers but that no test used, and a run restricted to one model uses only its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syrupy.data import Snapshot, SnapshotCollection, SnapshotCollections
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from pytest_vlm.strategies.base import ImagePrediction

SNAPSHOT_DIRNAME = "__vlm_snapshots__"


def _safe(part: str) -> str:
    # Model names may hold ':' (scripted:oracle) or other characters some file systems refuse.
    return re.sub(r"[^A-Za-z0-9._+-]", "-", part)


def snapshot_path(spec_folder: Path, benchmark: str, model: str, strategy: str) -> Path:
    return spec_folder / SNAPSHOT_DIRNAME / _safe(benchmark) / _safe(model) / f"{_safe(strategy)}.json"


def serialize_predictions(predictions: Sequence[ImagePrediction]) -> str:
    """The baseline text: sorted by image id, one JSON object per line."""
    lines = []
    for p in sorted(predictions, key=lambda p: p.image_id):
        entry = {"label": p.label, "prediction": p.prediction, "answers": recorded_answers(p)}
        lines.append(f"  {json.dumps(p.image_id)}: {json.dumps(entry, ensure_ascii=False)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def recorded_answers(prediction: ImagePrediction) -> list[Any]:
    """Each answer as a baseline keeps it: what it was read as, or ``{"unparsed": raw text}`` for one
    that could not be read, so that a changed answer's diff shows what the model said."""
    return [read if read is not None else {"unparsed": raw} for raw, read in zip(prediction.raw, prediction.parsed)]


def _same_answers(old: Any, new: list[Any]) -> bool:
    """Equal, where a baseline of an older pytest-vlm may hold null for an unreadable answer's text."""
    if not isinstance(old, list) or len(old) != len(new):
        return bool(old == new)
    return all(o == n or (o is None and isinstance(n, dict)) for o, n in zip(old, new))


def read_baseline(path: Path) -> dict[str, dict[str, Any]] | None:
    """The stored baseline at ``path``, or None when there is none."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"baseline {path} is not readable JSON ({exc}); restore it from version control "
            "or re-record it with --vlm-update-snapshots"
        ) from exc


@dataclass(frozen=True)
class Flip:
    image_id: str
    label: str
    old: str | None
    new: str | None

    def describe(self) -> str:
        old, new = self.old or "<unparseable>", self.new or "<unparseable>"
        verdict = ""
        if self.old == self.label and self.new != self.label:
            verdict = "  (was right, now wrong)"
        elif self.new == self.label and self.old != self.label:
            verdict = "  (was wrong, now right)"
        return f"{self.image_id}: {old} -> {new} (true: {self.label}){verdict}"


@dataclass(frozen=True)
class BaselineDiff:
    flips: tuple[Flip, ...]
    answers_changed: tuple[str, ...]  # same prediction, different per-call answers
    added: tuple[str, ...]  # images not in the baseline
    removed: tuple[str, ...]  # baseline images not in this run
    unparsed_without_text: tuple[str, ...] = ()  # an older baseline's null for an unreadable answer's text

    @property
    def empty(self) -> bool:
        return not (self.flips or self.answers_changed or self.added or self.removed)


def diff_baseline(baseline: Mapping[str, Mapping[str, Any]], predictions: Sequence[ImagePrediction]) -> BaselineDiff:
    current = {p.image_id: p for p in predictions}
    flips, changed, legacy = [], [], []
    for image_id in sorted(set(current) & set(baseline)):
        old, new = baseline[image_id], current[image_id]
        if old.get("prediction") != new.prediction:
            flips.append(Flip(image_id, new.label, old.get("prediction"), new.prediction))
        elif not _same_answers(old.get("answers"), recorded_answers(new)):
            changed.append(image_id)
        elif None in old.get("answers", ()):
            legacy.append(image_id)
    return BaselineDiff(
        flips=tuple(flips),
        answers_changed=tuple(changed),
        added=tuple(sorted(set(current) - set(baseline))),
        removed=tuple(sorted(set(baseline) - set(current))),
        unparsed_without_text=tuple(legacy),
    )


def describe_diff(diff: BaselineDiff, path: Path, limit: int = 20) -> list[str]:
    lines = []
    if diff.flips:
        worse = sum(1 for f in diff.flips if f.old == f.label)
        better = sum(1 for f in diff.flips if f.new == f.label)
        lines.append(f"{len(diff.flips)} image(s) changed prediction ({worse} now wrong, {better} now right):")
        lines += [f"  {f.describe()}" for f in diff.flips[:limit]]
        if len(diff.flips) > limit:
            lines.append(f"  ... and {len(diff.flips) - limit} more (see --vlm-json for all)")
    if diff.answers_changed:
        shown = ", ".join(diff.answers_changed[:5]) + (" ..." if len(diff.answers_changed) > 5 else "")
        lines.append(f"{len(diff.answers_changed)} image(s) kept their prediction but answered differently: {shown}")
    for what, ids in (("not in the baseline", diff.added), ("in the baseline but not in this run", diff.removed)):
        if ids:
            shown = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
            lines.append(f"{len(ids)} image(s) {what}: {shown}")
    if diff.unparsed_without_text:
        lines.append(
            f"{len(diff.unparsed_without_text)} image(s) have unreadable answers that the baseline stores as null "
            "(an older pytest-vlm): re-record it with --vlm-update-snapshots to keep what the model said"
        )
    lines.append(f"baseline: {path}")
    return lines


class AcceptedByGates(str):
    """A run whose predictions differ from the baseline, which the spec's baseline gates accept:
    syrupy counts it as a match (the item passes), and the baseline file is left as it is."""


class VlmSnapshotExtension(SingleFileSnapshotExtension):
    """syrupy extension storing one item's predictions in its own file (see the module docstring).

    The item supplies the location through ``vlm_snapshot_path``.
    """

    _write_mode = WriteMode.TEXT
    file_extension = "json"

    def serialize(self, data: Any, **kwargs: Any) -> str:
        return data if isinstance(data, AcceptedByGates) else str(data)

    def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
        return isinstance(serialized_data, AcceptedByGates) or super().matches(
            serialized_data=serialized_data, snapshot_data=snapshot_data
        )

    @classmethod
    def _path(cls, test_location: Any) -> Path:
        return Path(test_location.item.vlm_snapshot_path)

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(cls._path(test_location).parent)

    @classmethod
    def discovery_dirname(cls, *, test_location: Any) -> str:
        return str(cls._path(test_location))

    @classmethod
    def get_snapshot_name(cls, *, test_location: Any, index: Any = 0) -> str:
        # The benchmark name: syrupy relates a snapshot to its test by the name's leading identifier,
        # and the item is called "<benchmark>[<model>-<strategy>]".
        return cls._path(test_location).parent.parent.name

    @classmethod
    def get_file_basename(cls, *, test_location: Any, index: Any) -> str:
        return cls._path(test_location).stem

    @classmethod
    def matches_test_location(cls, *, test_location: Any, snapshot_location: str) -> bool:
        return Path(snapshot_location) == cls._path(test_location)

    def read_snapshot_collection(self, *, snapshot_location: str) -> SnapshotCollection:
        collection = SnapshotCollection(location=snapshot_location)
        collection.add(Snapshot(name=Path(snapshot_location).parent.parent.name))
        return collection

    def discover_snapshots(
        self, *, test_location: Any, ignore_extensions: list[str] | None = None
    ) -> SnapshotCollections:
        discovered = SnapshotCollections()
        path = self._path(test_location)
        if path.is_file():
            discovered.add(self.read_snapshot_collection(snapshot_location=str(path)))
        return discovered
