"""The docs lead somewhere: every relative link of README.md names a file of the repository, and every
``#anchor`` a heading of that file (mkdocs checks the pages under docs/); every repository path that
README.md or a docs page names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and mkdocs' toc) gives a heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            found.add(github_anchor(line.lstrip("#")))
    return found


def relative_links(markdown: str) -> list[str]:
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return [link for link in LINK.findall(text) if not re.match(r"[a-z]+:", link)]


def test_anchor_rules() -> None:
    assert github_anchor(" Five minutes: from a folder of images to a gated baseline in CI") == (
        "five-minutes-from-a-folder-of-images-to-a-gated-baseline-in-ci"
    )
    assert github_anchor("Real regression or noise: baseline gates") == "real-regression-or-noise-baseline-gates"
    assert relative_links("[a](docs/x.md#y) [b](https://e.org) ```\n[c](no.md)\n```") == ["docs/x.md#y"]


@pytest.mark.parametrize("source", ["README.md"])
def test_relative_links_resolve(source: str) -> None:
    path = ROOT / source
    text = path.read_text(encoding="utf-8")
    links = relative_links(text)
    assert links, f"{source} has no relative links: the test would prove nothing"
    broken = []
    for link in links:
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        if not file.exists():
            broken.append(f"{link}: no file {file.relative_to(ROOT) if file.is_relative_to(ROOT) else file}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{link}: no heading with the anchor #{anchor} in {target or source}")
    assert not broken, f"{source}: broken links:\n" + "\n".join(broken)


REPO_PATH = re.compile(
    r"`((?:pytest_vlm|tests|fixtures)/[\w./-]+|benchmarks/[\w-]+\.py)`"
)  # not the examples' own files


def test_repository_paths_in_the_docs_exist() -> None:
    """A module or file the README or a docs page names (`pytest_vlm/data/shapes.py`) is where it says."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    named = {
        (page.relative_to(ROOT).as_posix(), path) for page in pages for path in REPO_PATH.findall(page.read_text())
    }
    assert len(named) > 10, "too few paths found: the pattern no longer matches how the docs write them"
    missing = sorted(f"{page}: {path}" for page, path in named if not (ROOT / path.rstrip(".")).exists())
    assert not missing, "the docs name files that do not exist:\n" + "\n".join(missing)


def test_every_option_is_documented() -> None:
    """Each --vlm-* option the plugin registers appears in docs/options.md (or, for --vlm-api-*, docs/remote.md)."""
    sources = ("options.py", "option_table.py")
    registered = {
        flag for name in sources for flag in re.findall(r'"(--vlm-[a-z-]+)"', (ROOT / "pytest_vlm" / name).read_text())
    }
    assert len(registered) > 10, f"too few options found: {sources} no longer spell them as string literals"
    documented = (ROOT / "docs" / "options.md").read_text() + (ROOT / "docs" / "remote.md").read_text()
    missing = sorted(option for option in registered if f"`{option}" not in documented)
    assert not missing, f"options missing from docs/options.md: {', '.join(missing)}"
