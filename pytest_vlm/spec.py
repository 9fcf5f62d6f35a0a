"""Benchmark specs: ``*.vlm.yaml`` files parsed into frozen dataclasses.

Every problem raises :class:`~pytest_vlm.errors.SpecError` naming the file and the key path, with a
"did you mean" for misspelt keys. YAML is data only (``yaml.SafeLoader``); duplicate keys are errors.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_vlm.baseline.comparison import BaselineGates, GateSpecError, merge_gates, parse_baseline_gates
from pytest_vlm.baseline.thresholds import Threshold, parse_threshold
from pytest_vlm.data.hf_datasets import OPTION_KEYS as HF_OPTION_KEYS
from pytest_vlm.data.hf_datasets import HfOptions
from pytest_vlm.errors import SpecError, did_you_mean
from pytest_vlm.strategies import STRATEGIES

DATASET_KINDS = ("folder", "manifest", "generated", "hf_dataset")
GENERATORS = ("shapes",)


@dataclass(frozen=True)
class DatasetSpec:
    """Where a benchmark's images and labels come from."""

    kind: str
    path: Path | None = None  # folder or manifest, resolved against the spec's folder
    generator: str | None = None
    count: int = 0
    seed: int = 0
    difficulty: str = "medium"
    size: int = 64
    max_per_class: int | None = None
    rename: Mapping[str, str] = field(default_factory=dict)
    hf: HfOptions | None = None  # hf_dataset: what to read, which split and columns


@dataclass(frozen=True)
class StrategySpec:
    """One strategy entry: ``id`` names it in items and reports, ``kind`` picks the implementation."""

    id: str
    kind: str
    params: Any  # the strategy's own frozen Params dataclass
    thresholds: tuple[Threshold, ...] = ()
    baseline_gates: BaselineGates = BaselineGates()  # empty: any flip fails (the exact-match default)


@dataclass(frozen=True)
class BenchmarkSpec:
    path: Path
    name: str
    dataset: DatasetSpec
    strategies: tuple[StrategySpec, ...]
    classes: tuple[str, ...] | None = None
    background: str | None = None
    models: tuple[str, ...] = ()
    snapshot: bool = True
    seed: int = 0
    description: str = ""
    thresholds: tuple[Threshold, ...] = ()  # the spec-wide ones, already merged into each strategy
    trust_remote_code: bool | tuple[str, ...] = False  # True: every model; names: those models

    @property
    def folder(self) -> Path:
        return self.path.parent


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (plain YAML keeps the last one silently)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def benchmark_name(path: Path) -> str:
    """``cats.vlm.yaml`` -> ``cats``."""
    name = path.name
    for suffix in (".yaml", ".yml"):
        name = name.removesuffix(suffix)
    return name.removesuffix(".vlm")


class _Where:
    """Builds ``file: key.path`` locations for messages."""

    def __init__(self, path: Path, keys: tuple[str, ...] = ()) -> None:
        self.path, self.keys = path, keys

    def __truediv__(self, key: object) -> _Where:
        return _Where(self.path, (*self.keys, str(key)))

    def __str__(self) -> str:
        return f"{self.path.name}: {'.'.join(self.keys)}" if self.keys else str(self.path.name)

    def error(self, message: str) -> SpecError:
        return SpecError(str(self), message)


def _check_keys(
    mapping: Mapping[str, Any], allowed: tuple[str, ...], where: _Where, required: tuple[str, ...] = ()
) -> None:
    for key in mapping:
        if key not in allowed:
            raise (where / key).error(
                f"unknown key{did_you_mean(str(key), allowed)}; allowed keys: {', '.join(allowed)}"
            )
    for key in required:
        if key not in mapping:
            raise where.error(f"missing required key {key!r}")


def _mapping(value: Any, where: _Where) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise where.error(f"expected a mapping (key: value lines), got {_describe(value)}")
    return value


def _describe(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


def _int(value: Any, where: _Where, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(f"expected an integer, got {_describe(value)}")
    if minimum is not None and value < minimum:
        raise where.error(f"must be >= {minimum}, got {value}")
    return value


def _str(value: Any, where: _Where) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"expected a non-empty string, got {_describe(value)}")
    return value


def _bool(value: Any, where: _Where) -> bool:
    if not isinstance(value, bool):
        raise where.error(f"expected true or false, got {_describe(value)}")
    return value


def _str_list(value: Any, where: _Where) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list) or not value:
        raise where.error(f"expected a non-empty list of names, got {_describe(value)}")
    names = tuple(
        _str(str(item) if isinstance(item, (int, float)) else item, where / i) for i, item in enumerate(value)
    )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise where.error(f"duplicate names: {', '.join(duplicates)}")
    return names


def _int_list(value: Any, where: _Where) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise where.error(f"expected a non-empty list of whole numbers such as [10, 25, 50], got {_describe(value)}")
    numbers = tuple(_int(item, where / i, 1) for i, item in enumerate(value))
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise where.error(f"duplicate values: {', '.join(map(str, duplicates))}")
    return numbers


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path.name, f"cannot read the file: {exc}") from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(path.name, f"invalid YAML{line}: {problem}") from exc


TOP_LEVEL_KEYS: tuple[str, ...] = ("name", "description", "dataset", "classes", "background", "strategies")
TOP_LEVEL_KEYS += ("thresholds", "models", "snapshot", "seed", "baseline", "trust_remote_code")
DATASET_KEYS = (*DATASET_KINDS, "count", "seed", "difficulty", "size", "max_per_class", "rename", *HF_OPTION_KEYS)


def parse_spec(path: Path) -> BenchmarkSpec:
    """Read and validate the spec file at ``path``."""
    path = Path(path)
    where = _Where(path)
    data = load_yaml(path)
    if data is None:
        raise where.error("the file is empty; a spec needs at least 'dataset' and 'strategies'")
    data = _mapping(data, where)
    _check_keys(data, TOP_LEVEL_KEYS, where, required=("dataset", "strategies"))

    name = _str(data["name"], where / "name") if "name" in data else benchmark_name(path)
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
        raise (where / "name").error(f"{name!r} may only use letters, digits and _ . + - (it names tests and folders)")
    classes = _str_list(data["classes"], where / "classes") if "classes" in data else None
    background = _str(data["background"], where / "background") if "background" in data else None
    if background is not None and classes is not None and background not in classes:
        raise (where / "background").error(
            f"{background!r} is not one of the classes{did_you_mean(background, classes)}; add it to 'classes'"
        )
    default_thresholds = _thresholds(data.get("thresholds", {}), where / "thresholds")
    default_gates = _baseline_gates(data.get("baseline", {}), where / "baseline")
    strategies = _strategies(data["strategies"], where / "strategies", default_thresholds, default_gates)
    models = _str_list(data["models"], where / "models") if "models" in data else ()
    return BenchmarkSpec(
        path=path,
        name=name,
        description=str(data.get("description", "")),
        dataset=_dataset(data["dataset"], where / "dataset", path.parent),
        classes=classes,
        background=background,
        strategies=strategies,
        models=models,
        snapshot=_bool(data["snapshot"], where / "snapshot") if "snapshot" in data else True,
        seed=_int(data["seed"], where / "seed") if "seed" in data else 0,
        thresholds=default_thresholds,
        trust_remote_code=_trust_remote_code(data.get("trust_remote_code", False), where / "trust_remote_code"),
    )


def _trust_remote_code(value: Any, where: _Where) -> bool | tuple[str, ...]:
    """``true``/``false``, or the models (aliases, hub ids, folders) allowed to run their own code."""
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return _str_list(value, where)
    raise where.error(
        f"expected true, false or a list of model names, got {_describe(value)}; "
        "e.g. trust_remote_code: [minicpm-v-2_6]"
    )


def _dataset(value: Any, where: _Where, folder: Path) -> DatasetSpec:
    if isinstance(value, str):  # shorthand: "dataset: images/"
        value = {"folder": value}
    data = _mapping(value, where)
    _check_keys(data, DATASET_KEYS, where)
    kinds = [k for k in DATASET_KINDS if k in data]
    if len(kinds) != 1:
        found = f"found {', '.join(kinds)}" if kinds else "found none"
        raise where.error(f"needs exactly one of {', '.join(DATASET_KINDS)} ({found})")
    kind = kinds[0]
    rename = _mapping(data.get("rename", {}), where / "rename")
    rename = {str(k): _str(v, where / "rename" / k) for k, v in rename.items()}
    max_per_class = _int(data["max_per_class"], where / "max_per_class", 1) if "max_per_class" in data else None
    if kind == "generated":
        if rename:
            raise (where / "rename").error(
                "only applies to folder, manifest and hf_dataset datasets; list 'classes' instead"
            )
        generator = _str(data["generated"], where / "generated")
        if generator not in GENERATORS:
            raise (where / "generated").error(
                f"unknown generator {generator!r}{did_you_mean(generator, GENERATORS)}; known: {', '.join(GENERATORS)}"
            )
        if "count" not in data:
            raise where.error("a generated dataset needs 'count' (number of images)")
        difficulty = _str(data.get("difficulty", "medium"), where / "difficulty")
        if difficulty not in ("easy", "medium", "hard"):
            raise (where / "difficulty").error(f"{difficulty!r} is not one of easy, medium, hard")
        return DatasetSpec(
            kind=kind,
            generator=generator,
            count=_int(data["count"], where / "count", 1),
            seed=_int(data.get("seed", 0), where / "seed"),
            difficulty=difficulty,
            size=_int(data.get("size", 64), where / "size", 16),
            max_per_class=max_per_class,
            rename=rename,
        )
    own = HF_OPTION_KEYS if kind == "hf_dataset" else ()
    for key in ("count", "seed", "difficulty", "size", *HF_OPTION_KEYS):
        if key in data and key not in own:
            owner = "hf_dataset" if key in HF_OPTION_KEYS else "generated"
            raise (where / key).error(f"only applies to {owner} datasets, not to a {kind}")
    raw = _str(data[kind], where / kind)
    path = (folder / raw).resolve()
    hf = HfOptions(raw, path, **{key: _str(data[key], where / key) for key in own if key in data}) if own else None
    return DatasetSpec(kind=kind, path=path, max_per_class=max_per_class, rename=rename, hf=hf)


def _thresholds(value: Any, where: _Where) -> tuple[Threshold, ...]:
    data = _mapping(value, where)
    thresholds = []
    for metric, text in data.items():
        try:
            thresholds.append(parse_threshold(str(metric), text))
        except ValueError as exc:
            raise (where / metric).error(str(exc)) from None
    return tuple(thresholds)


def _baseline_gates(value: Any, where: _Where) -> dict[str, float | None]:
    try:
        return parse_baseline_gates(value)
    except GateSpecError as exc:
        here = where
        for key in exc.keys:
            here = here / key
        raise here.error(str(exc)) from None


def _merge_thresholds(defaults: tuple[Threshold, ...], own: tuple[Threshold, ...]) -> tuple[Threshold, ...]:
    """A strategy's own thresholds replace the spec-wide ones for the same metric."""
    mine = {t.metric for t in own}
    return tuple(t for t in defaults if t.metric not in mine) + own


def _strategies(
    value: Any,
    where: _Where,
    default_thresholds: tuple[Threshold, ...],
    default_gates: dict[str, float | None] | None = None,
) -> tuple[StrategySpec, ...]:
    if isinstance(value, list):  # shorthand: "strategies: [closed_set, binary]"
        items: dict[str, Any] = {}
        for i, entry in enumerate(value):
            entry_id = _str(entry, where / i)
            if entry_id in items:
                raise (where / i).error(f"duplicate strategy {entry_id!r}")
            items[entry_id] = None
        value = items
    data = _mapping(value, where)
    if not data:
        raise where.error(f"needs at least one strategy; known kinds: {', '.join(STRATEGIES)}")
    specs = []
    for strategy_id, options in data.items():
        here = where / strategy_id
        strategy_id = str(strategy_id)
        if not re.fullmatch(r"[A-Za-z0-9_.+]+", strategy_id):
            raise here.error("a strategy id may only use letters, digits and _ . +")
        options = dict(_mapping(options, here)) if options is not None else {}
        named_kind = "kind" in options
        kind = _str(options.pop("kind", strategy_id), here / "kind")
        if kind not in STRATEGIES:
            hint = "" if named_kind else "; to name a strategy freely, add 'kind: <kind>' under it"
            raise (here / "kind" if named_kind else here).error(
                f"unknown strategy kind {kind!r}{did_you_mean(kind, STRATEGIES)}; "
                f"known kinds: {', '.join(STRATEGIES)}{hint}"
            )
        own_thresholds = _thresholds(options.pop("thresholds", {}), here / "thresholds")
        gates = merge_gates(default_gates or {}, _baseline_gates(options.pop("baseline", {}), here / "baseline"))
        params = _params(STRATEGIES[kind].Params, options, here)
        specs.append(
            StrategySpec(strategy_id, kind, params, _merge_thresholds(default_thresholds, own_thresholds), gates)
        )
    return tuple(specs)


def _params(cls: Any, options: Mapping[str, Any], where: _Where) -> Any:
    """Build a strategy's frozen ``Params`` dataclass, checking names and types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(options, (*fields, "kind", "thresholds", "baseline"), where)
    values: dict[str, Any] = {}
    for key, raw in options.items():
        declared = fields[key].type
        expected = declared if isinstance(declared, str) else getattr(declared, "__name__", str(declared))
        here = where / key
        if expected.startswith("int"):
            values[key] = _int(raw, here, 1)
        elif expected.startswith("tuple[int"):
            values[key] = _int_list(raw, here)
        elif expected.startswith("bool"):
            values[key] = _bool(raw, here)
        elif expected.startswith("tuple"):
            values[key] = _str_list(raw, here)
        else:
            values[key] = _str(raw, here)
    try:
        return cls(**values)
    except ValueError as exc:  # the dataclass's own __post_init__ checks
        raise where.error(str(exc)) from None
