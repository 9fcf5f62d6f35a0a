"""What a report needs to say about the run itself: when, with what software, on what, from which commit.

Versions are read from the installed packages' metadata (nothing heavy is imported for them); the
git commit is the project's (pytest's rootdir) when it is a git checkout, else None.
"""

from __future__ import annotations

import datetime
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_vlm.results import ItemResult

PACKAGES = ("pytest-vlm", "pytest", "transformers", "torch")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """The checked-out commit of the repository holding ``folder``, and whether tracked files differ from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):  # no git, not a repository, or one without commits
        return None, None
    return commit, bool(changes.strip())


def models(results: Sequence[ItemResult]) -> dict[str, dict[str, Any]]:
    """Each model once, as the first item that loaded it described it (fingerprint included)."""
    found: dict[str, dict[str, Any]] = {}
    for r in results:
        if r.model_info and r.model not in found:
            found[r.model] = dict(r.model_info)
    return dict(sorted(found.items()))


def run_metadata(
    results: Sequence[ItemResult], *, rootdir: Path, exit_status: int, now: datetime.datetime | None = None
) -> dict[str, Any]:
    commit, dirty = git_state(rootdir)
    when = now or datetime.datetime.now(datetime.timezone.utc)
    devices = sorted({str(r.model_info.get("gpu") or r.model_info.get("device")) for r in results if r.model_info})
    return {
        "timestamp": when.isoformat(timespec="seconds"),
        "exit_status": int(exit_status),
        "versions": {**{package: _version(package) for package in PACKAGES}, "python": platform.python_version()},
        "platform": platform.platform(),
        "devices": [d for d in devices if d != "None"],
        "git_commit": commit,
        "git_dirty": dirty,
        "models": models(results),
    }
