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
from pytest_vlm.failure_reason import short_reason
from pytest_vlm.models.aliases import DEFAULT_MODEL
from pytest_vlm.models.resolve import resolve_model
from pytest_vlm.models.spec import ModelSpec
from pytest_vlm.printable import printable
from pytest_vlm.reports.progress import progress_bar
from pytest_vlm.reports.rows import junit_properties
from pytest_vlm.results import ItemResult
from pytest_vlm.runner import BenchmarkFailure, ItemPlan, build_strategy, check_other_baseline, check_snapshot, run_item
from pytest_vlm.spec import BenchmarkSpec, StrategySpec, parse_spec
from pytest_vlm.state import BASELINE_MODEL_KEY, CLI_MODELS_KEY, OPTIONS_KEY, RESULTS_KEY
from pytest_vlm.strategies.direct import DIRECT_BACKENDS, DirectParams
from pytest_vlm.strategies.direct import KIND as DIRECT

_PLAN_PARAM = "vlm_plan"


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
        plans = []
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
                plans.append(plan)
        for item in self._parametrized(spec.name, plans):
            chosen = item.callspec.params[_PLAN_PARAM]
            assert isinstance(chosen, ItemPlan)
            yield VlmItem.from_parent(
                self,
                name=item.name,
                originalname=spec.name,
                callspec=item.callspec,
                keywords={chosen.param_id: True},  # as pytest gives its parametrized items
                callobj=_benchmark_function(chosen),
                plan=chosen,
            )

    def _parametrized(self, name: str, plans: list[ItemPlan]) -> list[pytest.Function]:
        """pytest's own parametrized items for the plans, from which ours take their ``callspec``.

        An item is ``<benchmark>[<model>-<strategy>]``. pytest 9 reads the part in brackets of a node
        id as its parameters (``--lf``, ``--ff`` and ``--sw`` compare ids that way), so an item whose
        name merely holds brackets is never matched again: the items must really be parametrized.
        """

        if not plans:  # an empty parametrization would make one skipped placeholder item
            return []

        def benchmark(vlm_plan: ItemPlan) -> None:  # never called: it only carries the parametrization
            raise AssertionError("pytest-vlm runs the items built from this function's parametrization")

        benchmark.__test__ = True  # type: ignore[attr-defined]  # collected whatever python_functions says
        params = [pytest.param(plan, id=plan.param_id) for plan in plans]
        mark = pytest.mark.parametrize(_PLAN_PARAM, params)
        setattr(self.obj, name, mark(benchmark))  # where pytest's items look their function up
        made = self.ihook.pytest_pycollect_makeitem(collector=self, name=name, obj=getattr(self.obj, name))
        return [item for item in made or [] if isinstance(item, pytest.Function)]

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
            return printable(str(excinfo.value))
        return super().repr_failure(excinfo)


class _Shown(Exception):
    """A failure's text as the report shows it."""


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
        error = excinfo.value
        if not isinstance(error, (BenchmarkFailure, VlmError)):
            return super().repr_failure(excinfo)
        # The message alone, no traceback, control characters from users' names escaped; pytest's
        # short test summary shows the crash message after the node id: the reason (pytest 8 and 9,
        # with or without xdist).
        reason = error.reason if isinstance(error, BenchmarkFailure) else str(error).split("\n")[0]
        message = _Shown(printable(str(error))).with_traceback(excinfo.tb)
        shown = pytest.ExceptionInfo.from_exception(message).getrepr(style="value", chain=False)
        if shown.reprcrash is not None:
            shown.reprcrash.message = printable(reason)
        return shown


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
    try:
        result, failures = _run_and_check(request, plan, pool, snapshot)
    except Exception as exc:
        record_error(request.node, exc)
        raise
    nodeid = request.node.nodeid
    result = replace(result, nodeid=nodeid, status="failed" if failures else "passed", failures=tuple(failures))
    config.stash[RESULTS_KEY].append(result)
    request.node.user_properties.extend(junit_properties(result))  # shown by --junitxml and CI systems
    if failures:
        what = f"{plan.spec.name} on {plan.model.name} with {plan.strategy.id}"
        raise BenchmarkFailure("\n".join([f"{what}:", *failures]), short_reason(result))


def record_error(item: VlmItem, exc: BaseException) -> None:
    """The row of an item that could not finish: every item has one in every report, whatever went
    wrong (ours, a VlmError, or not; in the item or in a fixture it needs)."""
    plan = item.plan
    failure = str(exc) if isinstance(exc, VlmError) else f"{type(exc).__name__}: {exc}"
    crashed = ItemResult(
        nodeid=item.nodeid,
        benchmark=plan.spec.name,
        model=plan.model.name,
        strategy=plan.strategy.id,
        kind=plan.strategy.kind,
        status="error",
        failures=(failure,),
    )
    item.config.stash[RESULTS_KEY].append(crashed)
    item.user_properties.extend(junit_properties(crashed))


def _run_and_check(
    request: pytest.FixtureRequest, plan: ItemPlan, pool: Any, snapshot: Any
) -> tuple[ItemResult, list[str]]:
    """Run the item, then check its baseline; returns the result and its failure lines."""
    config = request.config
    bar = progress_bar(config, plan.name)
    try:
        model = pool.get(plan.model)
        cache = pool.result_cache() if hasattr(pool, "result_cache") else None
        result, failures = run_item(plan, model, cache=cache, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
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
    else:
        result = replace(result, snapshot="off")
    if config.stash[OPTIONS_KEY].html_path is not None:
        from pytest_vlm.reports.html import item_thumbnails, shown_images

        result = replace(result, thumbnails=item_thumbnails(plan.dataset.examples, shown_images(result)))
    return result, failures


def strategies_for(spec: BenchmarkSpec, backend: str) -> tuple[StrategySpec, ...]:
    """The strategies a model of ``backend`` runs on ``spec``.

    A direct classifier runs the spec's ``direct`` entries, or, when the spec lists none, one
    ``direct`` item with the spec-wide thresholds. Every other model runs the spec's other entries.
    """
    if backend not in DIRECT_BACKENDS:
        return tuple(s for s in spec.strategies if s.kind != DIRECT)
    own = tuple(s for s in spec.strategies if s.kind == DIRECT)
    return own or (StrategySpec(DIRECT, DIRECT, DirectParams(), spec.thresholds),)
