"""Collecting ``*.vlm.yaml`` specs: one item per benchmark x model x strategy.

Conventional classifiers run the ``direct`` strategy instead of the prompt strategies
(see :func:`strategies_for`).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from pytest_vlm.baseline import snapshots
from pytest_vlm.data.sources import load_dataset
from pytest_vlm.errors import ModelError, SpecError, VlmError
from pytest_vlm.models.aliases import DEFAULT_MODEL
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.reports.progress import progress_bar
from pytest_vlm.reports.rows import junit_properties
from pytest_vlm.results import ItemResult
from pytest_vlm.runner import BenchmarkFailure, ItemPlan, build_strategy, check_other_baseline, check_snapshot, run_item
from pytest_vlm.spec import BenchmarkSpec, StrategySpec, parse_spec
from pytest_vlm.state import BASELINE_MODEL_KEY, CLI_MODELS_KEY, OPTIONS_KEY, RESULTS_KEY
from pytest_vlm.strategies.direct import DIRECT_BACKENDS, DirectParams
from pytest_vlm.strategies.direct import KIND as DIRECT


class VlmSpecFile(pytest.Module):
    """A benchmark spec file.

    A ``pytest.Module`` rather than a plain ``pytest.File`` so that module-scoped fixtures (a user's
    autouse fixture in conftest.py, say) work for its items. Its module object is an empty
    stand-in: nothing is imported from a YAML file.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.obj = types.ModuleType(self.path.name)

    def collect(self) -> Iterator[pytest.Item]:
        spec = parse_spec(self.path)
        dataset = load_dataset(spec)
        options = self.config.stash[OPTIONS_KEY]
        for strategy in spec.strategies:
            probe = ItemPlan(spec, dataset, strategy, ModelSpec("-", "scripted", "oracle"), spec.seed)
            try:
                build_strategy(probe)
            except ValueError as exc:
                raise SpecError(f"{self.path.name}: strategies.{strategy.id}", str(exc)) from None
        seed = options.seed if options.seed is not None else spec.seed
        other = self.config.stash.get(BASELINE_MODEL_KEY, None)  # --vlm-baseline
        for model in self._models(spec):
            for strategy in strategies_for(spec, model.backend):
                path = (
                    snapshots.snapshot_path(spec.folder, spec.name, model.name, strategy.id) if spec.snapshot else None
                )
                plan = ItemPlan(spec, dataset, strategy, model, seed, path)
                if other is not None and path is not None:
                    # Compared with the other model's file, read-only; the item's own is left alone.
                    other_path = snapshots.snapshot_path(spec.folder, spec.name, other.name, strategy.id)
                    plan = replace(plan, snapshot_path=None, baseline_path=other_path, baseline_model=other.name)
                yield VlmItem.from_parent(self, name=plan.name, callobj=_benchmark_function(plan), plan=plan)

    def _models(self, spec: Any) -> list[ModelSpec]:
        """The spec's models, marked where the user opted in to running their checkpoint's code."""
        from pytest_vlm.models.resolve import with_opt_in
        from pytest_vlm.models.user_aliases import ALIASES_KEY, folder_aliases

        aliases = None  # only a list of trusted names needs resolving
        if isinstance(spec.trust_remote_code, tuple):
            aliases = folder_aliases(spec.folder, self.config.stash[ALIASES_KEY], self.config.rootpath)
        trust = self.config.stash[OPTIONS_KEY].trust_remote_code
        return with_opt_in(
            self._named_models(spec),
            cli=trust,
            spec_trust=spec.trust_remote_code,
            base_dir=spec.folder,
            where=self.path.name,
            aliases=aliases,
        )

    def _named_models(self, spec: Any) -> list[ModelSpec]:
        cli = self.config.stash[CLI_MODELS_KEY]
        if cli:
            return cli
        if spec.models:
            from pytest_vlm.models.user_aliases import ALIASES_KEY, folder_aliases

            aliases = folder_aliases(spec.folder, self.config.stash[ALIASES_KEY], self.config.rootpath)
            models = []
            for i, name in enumerate(spec.models):
                try:
                    models.append(resolve_model(name, base_dir=spec.folder, aliases=aliases))
                except ModelError as exc:
                    raise SpecError(f"{self.path.name}: models[{i}]", str(exc)) from None
            return models
        return [resolve_model(DEFAULT_MODEL, base_dir=spec.folder)]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if isinstance(excinfo.value, VlmError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class VlmItem(pytest.Function):
    """One benchmark x model x strategy."""

    def __init__(self, *, plan: ItemPlan, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.vlm_snapshot_path = plan.snapshot_path
        self.add_marker(pytest.mark.vlm)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.plan.spec.name}: {self.plan.model.name} / {self.plan.strategy.id}"

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if isinstance(excinfo.value, (BenchmarkFailure, VlmError)):
            return f"{self.plan.spec.name} on {self.plan.model.name} with {self.plan.strategy.id}:\n{excinfo.value}"
        return super().repr_failure(excinfo)


def _benchmark_function(plan: ItemPlan) -> Callable[..., None]:
    """The item's test function; its parameters are the fixtures it needs."""
    if plan.snapshot_path is None:

        def vlm_benchmark(request: pytest.FixtureRequest, vlm_model_pool: Any) -> None:
            run_benchmark(request, plan, vlm_model_pool, None)

        return vlm_benchmark

    def vlm_benchmark_with_snapshot(request: pytest.FixtureRequest, vlm_model_pool: Any, snapshot: Any) -> None:
        run_benchmark(request, plan, vlm_model_pool, snapshot)

    return vlm_benchmark_with_snapshot


def run_benchmark(request: pytest.FixtureRequest, plan: ItemPlan, pool: Any, snapshot: Any) -> None:
    """Run one item and record its result, whatever happens; raise when it must fail."""
    config = request.config
    base = ItemResult(
        nodeid=request.node.nodeid,
        benchmark=plan.spec.name,
        model=plan.model.name,
        strategy=plan.strategy.id,
        kind=plan.strategy.kind,
        status="error",
    )
    bar = progress_bar(config, plan.name)
    try:
        model = pool.get(plan.model)
        cache = pool.result_cache() if hasattr(pool, "result_cache") else None
        result, failures = run_item(plan, model, cache=cache, progress=bar.update if bar else None)
    except VlmError as exc:
        config.stash[RESULTS_KEY].append(replace(base, failures=(str(exc),)))
        raise
    finally:
        if bar is not None:
            bar.close()
    result = replace(result, nodeid=base.nodeid)
    if plan.snapshot_path is not None or plan.baseline_path is not None:
        if plan.snapshot_path is not None:
            update = config.stash[OPTIONS_KEY].update_snapshots
            state, flips, snapshot_failures, found = check_snapshot(plan, result, snapshot, update)
        else:
            state, flips, snapshot_failures, found = check_other_baseline(plan, result)
        if failures and snapshot_failures:
            failures.append("")
        failures += snapshot_failures
        result = replace(result, snapshot=state, flips=flips, comparison=found)
        if found is not None and found.flips and config.stash[OPTIONS_KEY].html_path is not None:
            from pytest_vlm.reports.html import flip_thumbnails

            shown = flip_thumbnails(plan.dataset.examples, [f.image_id for f in found.flips])
            result = replace(result, thumbnails=shown)
    else:
        result = replace(result, snapshot="off")
    result = replace(result, status="failed" if failures else "passed", failures=tuple(failures))
    config.stash[RESULTS_KEY].append(result)
    request.node.user_properties.extend(junit_properties(result))  # shown by --junitxml and CI systems
    if failures:
        raise BenchmarkFailure("\n".join(failures))


def strategies_for(spec: BenchmarkSpec, backend: str) -> tuple[StrategySpec, ...]:
    """The strategies a model of ``backend`` runs on ``spec``.

    A direct classifier runs the spec's ``direct`` entries, or, when the spec lists none, one
    ``direct`` item with the spec-wide thresholds. Every other model runs the spec's other entries.
    """
    if backend not in DIRECT_BACKENDS:
        return tuple(s for s in spec.strategies if s.kind != DIRECT)
    own = tuple(s for s in spec.strategies if s.kind == DIRECT)
    return own or (StrategySpec(DIRECT, DIRECT, DirectParams(), spec.thresholds),)
