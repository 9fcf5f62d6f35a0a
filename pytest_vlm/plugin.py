"""pytest-vlm's hooks and fixtures. Thin: the work happens in the modules they call."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_vlm.errors import ModelError, VlmError
from pytest_vlm.option_table import VALUED_FLAGS
from pytest_vlm.options import add_options, read_options
from pytest_vlm.printable import printable, printable_name
from pytest_vlm.state import BASELINE_MODEL_KEY, CLI_MODELS_KEY, OPTIONS_KEY, RESULTS_KEY

_WORKER_OUTPUT = "pytest_vlm_results"
WRITTEN_KEY = pytest.StashKey[list[str]]()  # reports written at session finish, for the terminal


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if config.getoption("vlm_list_models"):
        from pytest_vlm.models.aliases import DEFAULT_MODEL
        from pytest_vlm.models.user_aliases import session_aliases, table

        try:
            aliases = session_aliases(config)
        except VlmError as exc:
            raise pytest.UsageError(printable(f"vlm_aliases: {exc}")) from None
        from pytest_vlm.models.resolve import name_forms

        for line in [*table(aliases, DEFAULT_MODEL), *name_forms()]:
            print(line)
        return 0
    return None


def pytest_configure(config: pytest.Config) -> None:
    from pytest_vlm.models.resolve import resolve_model, same_names, same_names_message
    from pytest_vlm.models.user_aliases import ALIASES_KEY, session_aliases

    config.addinivalue_line("markers", "vlm: a pytest-vlm benchmark item (benchmark x model x strategy)")
    if not _is_worker(config):
        from pytest_vlm.rootdir_check import rootdir_problem

        problem = rootdir_problem(config, VALUED_FLAGS)
        if problem:
            raise pytest.UsageError(problem)
    options = read_options(config)
    config.stash[OPTIONS_KEY] = options
    from pytest_vlm.reports.progress import remember_terminal

    remember_terminal(config)
    config.stash[RESULTS_KEY] = []
    try:
        config.stash[ALIASES_KEY] = aliases = session_aliases(config)
    except VlmError as exc:
        raise pytest.UsageError(printable(f"vlm_aliases: {exc}")) from None
    try:
        config.stash[CLI_MODELS_KEY] = [
            resolve_model(name, base_dir=config.invocation_params.dir, aliases=aliases) for name in options.models
        ]
    except ModelError as exc:
        raise pytest.UsageError(f"--vlm-model: {exc}") from None
    cli_models: list[Any] = config.stash[CLI_MODELS_KEY]
    pair = same_names(cli_models)
    if pair is not None:
        raise pytest.UsageError(f"--vlm-model: {same_names_message(pair)}")
    _check_report_paths(options)
    if options.baseline is not None:
        if options.update_snapshots:
            raise pytest.UsageError(
                "--vlm-baseline compares with another model's baselines, which are never written; "
                "drop --vlm-update-snapshots, or --vlm-baseline to record the models' own baselines"
            )
        try:
            config.stash[BASELINE_MODEL_KEY] = resolve_model(options.baseline, base_dir=config.invocation_params.dir)
        except ModelError as exc:
            raise pytest.UsageError(f"--vlm-baseline: {exc}") from None
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistResults(config), "pytest_vlm_xdist")


def _check_report_paths(options: Any) -> None:
    """Refuse, before anything runs, a report path that would clobber something not ours."""
    if options.markdown_path is None and options.html_path is None:
        return
    from pytest_vlm.reports.files import check_output_path
    from pytest_vlm.reports.html import MARKER as HTML_MARKER
    from pytest_vlm.reports.markdown import MARKER as MARKDOWN_MARKER

    for path, marker, flag in (
        (options.markdown_path, MARKDOWN_MARKER, "--vlm-markdown"),
        (options.html_path, HTML_MARKER, "--vlm-html"),
    ):
        problem = check_output_path(path, marker, flag) if path is not None else None
        if problem:
            raise pytest.UsageError(problem)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    patterns = parent.config.stash[OPTIONS_KEY].files
    if any(fnmatch.fnmatch(file_path.name, pattern) for pattern in patterns):
        from pytest_vlm.collect import VlmSpecFile

        if printable_name(file_path) != str(file_path):
            # pytest prints node ids as they are: give this file one with its control characters escaped.
            where = (
                file_path.relative_to(parent.config.rootpath)
                if file_path.is_relative_to(parent.config.rootpath)
                else file_path
            )
            return VlmSpecFile.from_parent(parent, path=file_path, nodeid=printable_name(where.as_posix()))

        return VlmSpecFile.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def vlm_model_pool(pytestconfig: pytest.Config) -> Iterator[Any]:
    """The session's models: each loaded once per process when first needed, released at the end."""
    from pytest_vlm.models.device import RuntimeOptions
    from pytest_vlm.models.pool import ModelPool

    options = pytestconfig.stash[OPTIONS_KEY]
    pool = ModelPool(
        RuntimeOptions(
            device=options.device,
            dtype=options.dtype,
            batch_size=options.batch_size,
            prefix_reuse=options.prefix_reuse,
            early_stop=options.early_stop,
            api=options.api,
            engine=options.engine,
            max_pixels=options.max_pixels,
            device_map=options.device_map,
        ),
        cache_dir=options.cache_dir,
    )
    yield pool
    pool.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """An item whose setup failed (a fixture it needs raised) still gets its row in the reports."""
    if call.when == "setup" and call.excinfo is not None and hasattr(item, "plan"):
        if not call.excinfo.errisinstance((pytest.skip.Exception, pytest.xfail.Exception)):
            from pytest_vlm.collect import record_error

            record_error(item, call.excinfo.value)  # type: ignore[arg-type]
    return (yield)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


class _XdistResults:
    """Ships each worker's results to the controller, which merges them for the summary and JSON."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        from pytest_vlm.results import ItemResult

        payload = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT, [])
        self.config.stash[RESULTS_KEY].extend(ItemResult.from_dict(d) for d in payload)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    results = config.stash.get(RESULTS_KEY, [])
    if _is_worker(config):
        config.workeroutput[_WORKER_OUTPUT] = [r.to_dict() for r in results]  # type: ignore[attr-defined]
        return
    if config.getoption("collectonly"):
        return  # nothing ran: the reports of the last run that did are left as they are
    from pytest_vlm.reports.files import write_outputs

    options = config.stash[OPTIONS_KEY]
    config.stash[WRITTEN_KEY] = write_outputs(
        results,
        json_path=options.json_path,
        markdown_path=options.markdown_path,
        html_path=options.html_path,
        rootdir=config.rootpath,
        exit_status=int(exitstatus),
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS_KEY, [])
    if _is_worker(config) or config.get_verbosity() < -1:
        return
    if results:
        from pytest_vlm.reports.rows import comparison_lines, summary_rows
        from pytest_vlm.reports.terminal import write_extras, write_summary

        write_summary(terminalreporter, summary_rows(results), comparison_lines(results))
        from pytest_vlm.reports.open_ended import write_open_summary

        write_open_summary(terminalreporter, results)
        write_extras(terminalreporter, results)
    for written in config.stash.get(WRITTEN_KEY, []):
        terminalreporter.write_line(f"pytest-vlm: wrote {printable_name(written)}")
