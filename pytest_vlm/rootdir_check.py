"""A ``--vlm-*`` value written as its own argument must not have moved pytest's rootdir.

pytest picks its rootdir and ini file before it loads any plugin, from the command-line arguments
that name existing paths. At that moment ``--vlm-model`` is an unknown option, so in
``pytest --vlm-model /models/qwen`` the folder counts as a test path: the run is rooted at
``/models/qwen`` (or at whatever project an ini file above it belongs to), and its cache, ini
settings and node ids come from there. ``--vlm-model=/models/qwen`` is one argument, never a path.

No plugin can change the rootdir afterwards, so the run stops before anything is written and says
how to write the option. A path inside the tests' own folder cannot move the rootdir and passes.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest


def misread_values(args: Sequence[str], flags: Sequence[str], cwd: Path) -> list[tuple[str, str, Path]]:
    """(flag, value, path) for each value of ``flags`` written as a separate argument that names an
    existing path: what pytest took for a test path when it looked for the rootdir."""
    found = []
    for flag, value in zip(args, args[1:]):
        if flag in flags and not value.startswith("-"):
            path = Path(cwd, value.split("::")[0]).expanduser()
            if path.exists():
                found.append((flag, value, path.resolve()))
    return found


def _tests_folder(config: pytest.Config) -> Path:
    """The common folder of the test paths given, or the invocation folder when none was."""
    cwd = config.invocation_params.dir
    paths = []
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        paths = [p for p in (Path(cwd, arg.split("::")[0]).resolve() for arg in config.args) if p.exists()]
    folders = [p if p.is_dir() else p.parent for p in paths] or [cwd.resolve()]
    return Path(os.path.commonpath(folders))


def rootdir_problem(config: pytest.Config, flags: Sequence[str]) -> str | None:
    """Why this run's rootdir may come from a ``--vlm-*`` value rather than the tests, or None."""
    if config.getoption("inifilename"):
        return None  # -c: the rootdir is the ini file's folder (--rootdir alone still lets the value pick the ini)
    args = [*shlex.split(os.environ.get("PYTEST_ADDOPTS", "")), *config.invocation_params.args]
    tests = _tests_folder(config)
    outside = [
        found
        for found in misread_values(args, flags, config.invocation_params.dir)
        if tests not in (found[2], *found[2].parents)
    ]
    if not outside:
        return None
    root = config.rootpath.resolve()
    ini = config.inipath
    if ini is not None and ini.parent.resolve() == root and root in (tests, *tests.parents):
        return None  # rooted at the ini file above the tests: where it would be without the value
    flag, value, path = outside[0]
    return (
        f"{flag} {value}: pytest took {path} for a test path while choosing its rootdir (before pytest-vlm "
        f"could read its options), so this run is rooted at {config.rootpath} "
        f"(ini file: {ini or 'none'}) instead of your tests' project. Write {flag}={value} "
        "(one argument, with '='), or name your ini file with -c."
    )
