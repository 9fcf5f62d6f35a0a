"""Hugging Face ``datasets`` as an image source: hub ids in the local cache, saved folders, files.

``dataset: {hf_dataset: NAME}`` (``sources.py`` dispatches here) reads, without touching the network:

- a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` (``load_from_disk``);
- one ``.parquet`` or ``.arrow`` file, as written by ``Dataset.to_parquet`` or found in a hub
  repository or the datasets cache;
- any other folder as an ``imagefolder`` (class sub-folders, or a ``metadata.csv``/``.jsonl``);
- a hub id (``owner/name``) that ``datasets.load_dataset`` has already put in the local datasets
  cache (``HF_DATASETS_CACHE``). pytest-vlm never downloads: a hub id that is not cached is an error
  that says how to cache it.

Indexing reads only the label (and id) column; images are decoded when a model asks for them,
from the memory-mapped Arrow data. Integer labels take their names from the column's ``ClassLabel``
feature, or from the spec's ``rename``.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_vlm.errors import DatasetError, did_you_mean

if TYPE_CHECKING:
    from PIL import Image

OPTION_KEYS = ("split", "config", "image_column", "label_column", "id_column")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
INSTALL_HINT = "pip install 'pytest-vlm[datasets]' (or pip install datasets)"


@dataclass(frozen=True)
class HfOptions:
    """What a spec's ``dataset: {hf_dataset: NAME, ...}`` asks for (the keys of OPTION_KEYS besides the name)."""

    name: str  # as written: a path relative to the spec, or a hub id
    path: Path  # the name resolved against the spec's folder; read when it exists
    split: str | None = None
    config: str | None = None
    image_column: str | None = None
    label_column: str | None = None
    id_column: str | None = None


@dataclass(frozen=True)
class HfSource:
    """Where one split of a Hugging Face dataset lives; enough to reopen it in any process."""

    kind: str  # "disk", "parquet", "arrow", "imagefolder" or "cache"
    location: str  # a path, or the hub id for "cache"
    split: str
    config: str | None = None
    image_column: str = "image"

    def describe(self) -> str:
        return f"hub dataset {self.location} (local cache)" if self.kind == "cache" else self.location


@dataclass(frozen=True)
class HfImage:
    """One row of a Hugging Face dataset; the image is decoded on demand."""

    id: str
    label: str
    source: HfSource
    row: int
    origin: str = field(compare=False)

    def load(self) -> Image.Image:
        from PIL import Image, UnidentifiedImageError

        cell = _image_cells(self.source)[self.row][self.source.image_column]
        try:
            if cell is None:
                raise OSError("the image cell is empty")
            if cell.get("bytes"):
                with Image.open(io.BytesIO(cell["bytes"])) as image:
                    return image.convert("RGB")
            if cell.get("path"):
                with Image.open(cell["path"]) as image:
                    return image.convert("RGB")
            raise OSError("the image cell has neither bytes nor a path")
        except (OSError, UnidentifiedImageError) as exc:
            raise DatasetError(
                f"cannot read the image of {self.origin} (id {self.id!r}): {exc}. Fix or remove that row."
            ) from exc


def import_datasets(where: str = "dataset.hf_dataset") -> Any:
    try:
        import datasets
    except ImportError:
        raise DatasetError(
            f"{where}: needs the Hugging Face datasets library, which is not installed: {INSTALL_HINT}"
        ) from None
    datasets.disable_progress_bars()  # its bars would land in every captured failure
    return datasets


def hf_examples(ds: HfOptions, rename: Mapping[str, str], where: str) -> tuple[list[HfImage], list[str]]:
    """Index ``ds``: one example per row, and its classes (a ClassLabel's order, else first seen first)."""
    where = f"{where}.hf_dataset"
    source = _source(ds, where)
    split, source = _split(source, where)
    image_column = _image_column_name(split, ds.image_column, where)
    source = HfSource(source.kind, source.location, source.split, source.config, image_column)
    label_column = ds.label_column or "label"
    _require_column(split, label_column, "label_column", where)
    if ds.id_column is not None:
        _require_column(split, ds.id_column, "id_column", where)
        ids = [str(v) for v in split[ds.id_column]]
    names = _class_names(split, label_column)
    width = len(str(max(len(split) - 1, 0)))
    examples: list[HfImage] = []
    classes: list[str] = []
    unnamed: set[int] = set()
    for row, value in enumerate(split[label_column]):
        origin = f"row {row} of {source.describe()}" + (f" split {source.split!r}" if source.split else "")
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DatasetError(f"{where}: {origin} has no label in column {label_column!r}; label it or drop the row")
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise DatasetError(
                f"{where}: column {label_column!r} holds {type(value).__name__} values ({origin}: {value!r}); "
                "it needs class names (strings) or integers with a ClassLabel feature"
            )
        if isinstance(value, str):
            label = value.strip()
        elif names is not None and 0 <= value < len(names):
            label = names[value]
        elif names is None and str(value) in rename:
            label = str(value)  # named by the spec's rename
        else:
            unnamed.add(value)
            continue
        if label not in classes:
            classes.append(label)
        image_id = ids[row] if ds.id_column is not None else f"{source.split or 'row'}/{row:0{width}d}"
        examples.append(HfImage(image_id, label, source, row, origin))
    if unnamed:
        shown = ", ".join(map(str, sorted(unnamed)[:10]))
        if names is not None:
            raise DatasetError(
                f"{where}: column {label_column!r} holds {shown}, outside the {len(names)} names of its "
                "ClassLabel feature; fix those rows"
            )
        raise DatasetError(
            f"{where}: column {label_column!r} holds integers without class names (it is not a ClassLabel "
            f"feature): {shown}; name them in the spec with rename (e.g. rename: {{{min(unnamed)}: cat}}) "
            "or cast the column to ClassLabel"
        )
    if names is not None:  # the ClassLabel's order, which the dataset's authors chose
        classes = [name for name in names if name in classes]
    return examples, classes


def _source(ds: HfOptions, where: str) -> HfSource:
    """Which loader reads ``hf_dataset`` (a path that exists wins over a hub id of the same spelling)."""
    path = ds.path
    split = ds.split or ""
    if path.exists():
        if ds.config is not None:
            raise DatasetError(f"{where}: 'config' only applies to a hub id, not to the path {path}; remove it")
        if path.is_file():
            kind = {".parquet": "parquet", ".arrow": "arrow"}.get(path.suffix.lower())
            if kind is None:
                raise DatasetError(
                    f"{where}: {path.name} is neither .parquet nor .arrow; give a parquet or arrow file, "
                    "a save_to_disk folder, an image folder or the id of a hub dataset in the local cache"
                )
            return HfSource(kind, str(path), split)
        saved = (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()
        return HfSource("disk" if saved else "imagefolder", str(path), split)
    if not HUB_ID.match(ds.name):
        raise DatasetError(
            f"{where}: {ds.name} not found (looked at {path}); give a save_to_disk folder, a .parquet or "
            ".arrow file, an image folder, or the id of a hub dataset in the local cache"
        )
    return HfSource("cache", ds.name, split, ds.config)


@functools.lru_cache(maxsize=8)
def _load(kind: str, location: str, config: str | None) -> Any:
    """A ``Dataset`` or ``DatasetDict`` over memory-mapped Arrow data, opened once per process."""
    datasets = import_datasets()
    if kind == "arrow":
        return datasets.Dataset.from_file(location)
    if kind == "parquet":
        return datasets.Dataset.from_parquet(location)
    if kind == "disk":
        return datasets.load_from_disk(location)
    if kind == "imagefolder":
        return datasets.load_dataset("imagefolder", data_dir=location)
    # The cached copy only: the "cache" builder reads HF_DATASETS_CACHE and never calls the hub.
    from datasets.packaged_modules.cache.cache import Cache

    builder = Cache(
        repo_id=location, dataset_name=location.split("/")[-1], config_name=config, version="auto", hash="auto"
    )
    return builder.as_dataset()


def _split(source: HfSource, where: str) -> tuple[Any, HfSource]:
    """The split the spec asks for (or the only one), with the source naming it."""
    datasets = import_datasets(where)
    try:
        loaded = _load(source.kind, source.location, source.config)
    except DatasetError:
        raise
    except (ValueError, FileNotFoundError) as exc:
        if source.kind == "cache":
            raise DatasetError(
                f"{where}: {source.location} is not in the local datasets cache "
                f"({datasets.config.HF_DATASETS_CACHE}): {str(exc).splitlines()[0]}. pytest-vlm never downloads: "
                f"run datasets.load_dataset({source.location!r}) once where the hub is reachable, or give the "
                "folder written by save_to_disk"
            ) from None
        raise DatasetError(f"{where}: cannot read {source.describe()}: {exc}") from None
    except Exception as exc:  # pyarrow and datasets raise many types for a damaged file
        raise DatasetError(f"{where}: cannot read {source.describe()}: {type(exc).__name__}: {exc}") from None
    if isinstance(loaded, datasets.DatasetDict):
        splits = list(loaded)
        if not source.split and len(splits) != 1:
            raise DatasetError(
                f"{where}: {source.describe()} has the splits {', '.join(splits)}; choose one with 'split'"
            )
        split = source.split or splits[0]
        if split not in splits:
            raise DatasetError(
                f"{where}: {source.describe()} has no split {split!r}{did_you_mean(split, splits)}; "
                f"its splits: {', '.join(splits)}"
            )
        source = HfSource(source.kind, source.location, split, source.config)
        loaded = loaded[split]
    elif source.split:
        raise DatasetError(f"{where}: {source.describe()} holds one split only; remove 'split'")
    if len(loaded) == 0:
        raise DatasetError(f"{where}: {source.describe()} has no rows")
    return loaded, source


def _columns(split: Any) -> list[str]:
    return list(split.features)


def _require_column(split: Any, column: str, key: str, where: str) -> None:
    columns = _columns(split)
    if column not in columns:
        raise DatasetError(
            f"{where}: no column {column!r}{did_you_mean(column, columns)}; its columns: {', '.join(columns)}; "
            f"name the right one with '{key}'"
        )


def _image_column_name(split: Any, wanted: str | None, where: str) -> str:
    """``wanted``, else 'image', else the dataset's only image column; it must be an Image feature."""
    datasets = import_datasets()
    images = [name for name, feature in split.features.items() if isinstance(feature, datasets.Image)]
    if wanted is None:
        if "image" in images or len(images) != 1:
            wanted = "image"
        else:
            wanted = images[0]
    _require_column(split, wanted, "image_column", where)
    if wanted not in images:
        found = f"its image columns: {', '.join(images)}" if images else "it has no image column"
        raise DatasetError(
            f"{where}: column {wanted!r} holds {split.features[wanted]!r}, not images ({found}); "
            "name the image column with 'image_column'"
        )
    return wanted


def _class_names(split: Any, column: str) -> list[str] | None:
    datasets = import_datasets()
    feature = split.features[column]
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


@functools.lru_cache(maxsize=8)
def _image_cells(source: HfSource) -> Any:
    """The image column with decoding off: each cell is ``{"bytes": ..., "path": ...}``."""
    datasets = import_datasets()
    split = _load(source.kind, source.location, source.config)
    if isinstance(split, datasets.DatasetDict):
        split = split[source.split]
    column = split.select_columns([source.image_column])
    return column.cast_column(source.image_column, datasets.Image(decode=False))
