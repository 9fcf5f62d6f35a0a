"""End to end: what the reports say about crashed items and empty runs, what reaches the terminal
from users' names, and the report files' permissions."""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET

import pytest

SPEC = """
dataset: {generated: shapes, count: 20, seed: 3}
classes: [circle, square, triangle, background]
background: background
models: [scripted:oracle]
snapshot: false
strategies:
  closed_set: {votes: 1}
  binary: {}
"""

# The binary item's model calls raise an exception that is not one of ours, as a driver might.
CRASHING_BINARY = """
import pytest
from pytest_vlm.models.scripted import ScriptedModel

@pytest.fixture(autouse=True)
def crash_binary(monkeypatch):
    original = ScriptedModel.generate
    def generate(self, requests):
        if any("yes or no" in r.prompt.lower() for r in requests):
            raise RuntimeError("driver fell over")
        return original(self, requests)
    monkeypatch.setattr(ScriptedModel, "generate", generate)
"""

REPORTS = ("--vlm-json", "r.json", "--vlm-markdown", "r.md", "--vlm-html", "r.html", "--junitxml", "junit.xml")


# A fixture the binary item needs fails before the item runs.
FAILING_FIXTURE = """
import pytest

@pytest.fixture(autouse=True)
def gpu_quota(request):
    if "binary" in request.node.name:
        raise RuntimeError("no GPU quota left")
"""


@pytest.mark.parametrize("xdist", [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist")])
@pytest.mark.parametrize(
    ("conftest", "outcome", "error"),
    [
        pytest.param(CRASHING_BINARY, {"failed": 1}, "RuntimeError: driver fell over", id="in-the-item"),
        pytest.param(FAILING_FIXTURE, {"errors": 1}, "RuntimeError: no GPU quota left", id="in-a-fixture"),
    ],
)
def test_a_crashed_item_has_a_row_in_every_report(
    pytester: pytest.Pytester, xdist: list[str], conftest: str, outcome: dict[str, int], error: str
) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    pytester.makeconftest(conftest)
    result = pytester.runpytest("--vlm-no-cache", *REPORTS, *xdist)
    result.assert_outcomes(passed=1, **outcome)
    result.stdout.fnmatch_lines(["*scripted:oracle binary*-*error*"])
    document = json.loads((pytester.path / "r.json").read_text())
    crashed = next(r for r in document["results"] if r["strategy"] == "binary")
    assert crashed["status"] == "error" and crashed["failures"] == [error]
    assert crashed["nodeid"].endswith("shapes.vlm.yaml::shapes[scripted:oracle-binary]")
    markdown = (pytester.path / "r.md").read_text()
    assert "## pytest-vlm: 1 of 2 item(s) failed" in markdown
    assert f"| 💥 error: {error} |" in markdown
    html = (pytester.path / "r.html").read_text()
    assert "1 of 2 item(s) failed" in html and error in html
    case = next(
        c
        for c in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
        if c.get("name") == "shapes[scripted:oracle-binary]"
    )
    assert {p.get("name"): p.get("value") for p in case.iter("property")}["vlm_status"] == "error"


def test_a_run_that_records_nothing_leaves_no_stale_report(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    pytester.runpytest(*REPORTS).assert_outcomes(passed=2)
    assert json.loads((pytester.path / "r.json").read_text())["results"]
    # Nothing runs: the reports say so instead of showing the last run's results as current.
    result = pytester.runpytest(*REPORTS, "-k", "no_such_item")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    document = json.loads((pytester.path / "r.json").read_text())
    assert document["results"] == [] and document["run"]["exit_status"] == 5
    assert "## pytest-vlm: no benchmark item ran (pytest exit status 5)" in (pytester.path / "r.md").read_text()
    assert "no benchmark item ran (pytest exit status 5)" in (pytester.path / "r.html").read_text()
    result.stdout.fnmatch_lines([f"pytest-vlm: wrote {pytester.path / 'r.json'} (no results)"])


ESCAPES = "\x1b]0;title\x07\x1b[2Jevil\x1b[0m\u202e"  # set the window title, clear the screen


def test_escapes_in_names_never_reach_the_terminal(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC.replace("models: [scripted:oracle]\n", ""))
    pytester.path.joinpath("vlm-models.yaml").write_text(
        json.dumps({"models": {f"m{ESCAPES}[bold]x": {"backend": "scripted", "source": "noisy"}}})
    )
    # A spec file whose own name holds escapes: pytest prints node ids, and they are escaped too.
    pytester.path.joinpath("e\x1b[2Jx.vlm.yaml").write_text(
        "name: esc\n" + SPEC.replace("models: [scripted:oracle]\n", "")
    )
    result = pytester.runpytest("--vlm-model", f"m{ESCAPES}[bold]x", "--vlm-no-cache", "-rA")
    result.assert_outcomes(passed=4)
    output = result.stdout.str() + result.stderr.str()
    assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output
    # Shown escaped, markup-like brackets as they are.
    shown = "m\\x1b]0;title\\x07\\x1b[[]2Jevil\\x1b[[]0m\\u202e[[]bold]x"
    result.stdout.fnmatch_lines([f"{shown}*binary*passed*", f"*shapes[[]{shown}-binary[]]*"])
    result.stdout.fnmatch_lines([f"PASSED e\\x1b[[]2Jx.vlm.yaml::esc[[]{shown}-binary[]]"], consecutive=False)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_report_files_honour_the_umask(pytester: pytest.Pytester, umask: int) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    old = os.umask(umask)
    try:
        pytester.runpytest(*REPORTS[:6]).assert_outcomes(passed=2)
    finally:
        os.umask(old)
    for name in ("r.json", "r.md", "r.html"):
        assert stat.S_IMODE((pytester.path / name).stat().st_mode) == 0o666 & ~umask, name


# --- Markdown: why an item failed, and nothing from users' names read as Markdown or HTML ---

GATED = SPEC.replace("snapshot: false\n", "baseline: {no_significant_drop: {alpha: 0.05}}\n").replace(
    "models: [scripted:oracle]\n", 'models: [scripted:oracle]\nthresholds: {accuracy: ">= 0.9"}\n'
)


def test_markdown_rows_say_why_an_item_failed(pytester: pytest.Pytester) -> None:
    pytester.makefile(".vlm.yaml", shapes=GATED)
    pytester.runpytest("--vlm-update-snapshots").assert_outcomes(passed=2)
    args = ("--vlm-model", "degraded:0.5:scripted:oracle", "--vlm-baseline", "scripted:oracle", "-k", "closed_set")
    result = pytester.runpytest(*args, "--vlm-markdown", "r.md")
    result.assert_outcomes(failed=1, deselected=1)
    markdown = (pytester.path / "r.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| degraded:0.5:scripted:oracle |"))
    assert row.endswith("| ❌ failed: accuracy 0.6500 &lt; 0.9; no_significant_drop failed | 7 flipped |")
    # The terminal's failure report, folded under the tables: thresholds and gate lines.
    assert "<details><summary>shapes / degraded:0.5:scripted:oracle / closed_set: failed</summary>" in markdown
    report = markdown.split("<pre>", 1)[1].split("</pre>", 1)[0]
    assert "1 of 1 threshold(s) failed on 20 images:" in report
    assert "  accuracy     0.6500  &gt;= 0.9" in report
    assert "1 of 1 baseline gate(s) failed against scripted:oracle:" in report


def test_markdown_escapes_what_users_named() -> None:
    from markdown_it import MarkdownIt

    from pytest_vlm.baseline.comparison import Comparison, Flip
    from pytest_vlm.reports.markdown import render_markdown
    from pytest_vlm.results import ItemResult

    beacon = "![x](https://evil.example/b.png)"
    flips = (Flip(image_id="</details><img src=x>", label="*cat*", old="_dog_", new=None),)
    comparison = Comparison(beacon, "b.json", 1, flips, 1, 0, 0.5, 1.0, 1.0, 0.0, 1.0, 0.0, {"*cat*": -1.0})
    result = ItemResult(
        "n", "shapes", f"{beacon} | www.evil.example", "closed_set", "closed_set", "failed", comparison=comparison
    )
    markdown = render_markdown([result])
    html = MarkdownIt("gfm-like").disable("linkify").render(markdown)
    assert "<img" not in html and "<a " not in html  # no remote image, no link
    assert markdown.count("</details>") == html.count("</details>") == 1  # only ours
    assert "&lt;unparseable&gt;" in html and "&lt;/details&gt;&lt;img src=x&gt;" in html
    assert "<em>" not in html and "*cat*" in html and "_dog_" in html
    assert f"<td>{beacon.replace('https', 'https')} | www.evil.example</td>" in html  # one cell, as written


# --- speed: cached answers are not model speed ---


@pytest.mark.parametrize("xdist", [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist")])
def test_cached_answers_are_not_reported_as_speed(pytester: pytest.Pytester, xdist: list[str]) -> None:
    pytester.makefile(".vlm.yaml", shapes=SPEC)
    args = ("--vlm-json", "r.json", "--junitxml", "junit.xml", "-p", "no:randomly", *xdist)
    cold = pytester.runpytest(*args)
    cold.assert_outcomes(passed=2)
    cold.stdout.fnmatch_lines(["scripted:oracle binary * 0% passed off"])
    warm = pytester.runpytest(*args)
    warm.assert_outcomes(passed=2)
    warm.stdout.fnmatch_lines(["scripted:oracle binary * cached *100% passed off"])
    document = json.loads((pytester.path / "r.json").read_text())
    binary = next(r for r in document["results"] if r["strategy"] == "binary")
    assert binary["metrics"]["images_per_second"] is None
    assert (
        binary["speed"]["computed_requests"] == 0
        and binary["speed"]["cached_requests"] == binary["speed"]["requests"] > 0
    )
    case = next(
        c for c in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase") if "binary" in c.get("name")
    )
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert "vlm_images_per_second" not in props and props["vlm_cached_share"] == "1.0"


class Counted:
    """What the runner reads off the caching wrapper."""

    def __init__(self, requests: int, hits: int, model_seconds: float) -> None:
        self.requests, self.hits, self.model_seconds = requests, hits, model_seconds


def test_speed_counts_only_what_the_model_computed() -> None:
    import math

    from pytest_vlm.runner import measured_speed

    # 20 images, 100 requests of which 75 came from the cache; the 25 computed took 0.5 s:
    # the model does 50 requests/s, i.e. 10 images/s at 5 requests per image.
    speed = measured_speed(Counted(100, 75, 0.5), 20, 9.0, 0)
    assert speed["images_per_second"] == pytest.approx(10.0)
    assert (speed["computed_requests"], speed["cached_requests"]) == (25, 75)
    assert math.isnan(measured_speed(Counted(100, 100, 0.0), 20, 9.0, 0)["images_per_second"])
    assert measured_speed(object(), 20, 4.0, 0)["images_per_second"] == 5.0  # a classifier: all computed


def test_it_per_second_says_when_earlier_items_warmed_the_model(tmp_path) -> None:
    from html import escape

    from pytest_vlm.data.sources import load_dataset
    from pytest_vlm.models.base import HoldsMemos
    from pytest_vlm.models.resolve import resolve_model
    from pytest_vlm.models.scripted import ScriptedModel
    from pytest_vlm.reports.html import render_html
    from pytest_vlm.reports.markdown import md_text, render_markdown
    from pytest_vlm.reports.rows import WARM_NOTE, summary_rows
    from pytest_vlm.reports.terminal import render_summary
    from pytest_vlm.runner import ItemPlan, run_item
    from pytest_vlm.spec import parse_spec

    class Remembering(ScriptedModel):
        """Keeps every image it was asked about, as a model's decoded-image cache would."""

        def __init__(self) -> None:
            super().__init__("scripted:oracle", "oracle")
            self.seen: set[str] = set()

        def generate(self, requests):  # type: ignore[no-untyped-def]
            self.seen.update(r.image.id for r in requests)
            return super().generate(requests)

        def memo_entries(self) -> int:
            return len(self.seen)

    path = tmp_path / "shapes.vlm.yaml"
    path.write_text(SPEC)
    spec = parse_spec(path)
    dataset = load_dataset(spec)
    model = Remembering()
    assert isinstance(model, HoldsMemos)
    results = []
    for strategy in spec.strategies:
        plan = ItemPlan(spec, dataset, strategy, resolve_model("scripted:oracle", base_dir=tmp_path), 0)
        result, _ = run_item(plan, model)
        results.append(result)
    assert results[0].speed["warm_entries"] == 0 and results[1].speed["warm_entries"] == 20
    rows = {r.strategy: r for r in summary_rows(results)}
    assert not rows["closed_set"].speed.endswith("*") and rows["binary"].speed.endswith("*")
    lines = render_summary(summary_rows(results), width=160, color=False)
    assert WARM_NOTE in lines
    assert render_markdown(results).count(md_text(WARM_NOTE)) == 1  # said once, under the table
    assert render_html(results).count(escape(WARM_NOTE)) == 1


# --- the terminal table at 80 columns ---


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_summary_table_never_breaks_a_name(width: int) -> None:
    from rich.cells import cell_len

    from pytest_vlm.reports.rows import SummaryRow
    from pytest_vlm.reports.terminal import render_summary

    names = ("degraded:0.1:tiny-shapes", "Qwen/Qwen2-VL-7B-Instruct", "llava-hf/llava-v1.6-mistral-7b-hf")
    rows = [
        SummaryRow("shapes", name, "closed_set", 40, 0.9, 0.88, 0.87, 12.3, "failed", "3 flipped", cache_share=0.5)
        for name in names
    ]
    lines = render_summary(rows, width=width, color=False)
    for name in names:
        assert sum(name in line for line in lines) == 1, (name, lines)
    header = next(line for line in lines if line.startswith("model"))
    assert "status" in header and "accuracy" in header  # what matters most stays
    if width >= 80:
        assert all(cell_len(line) <= width for line in lines), lines
        assert ("weighted" in lines[1]) == (width >= 120)  # the first to give way
    else:  # too narrow for the names themselves: the table is printed whole, wider than asked
        assert max(cell_len(line) for line in lines) > width


# --- JSON run metadata ---


@pytest.mark.parametrize("xdist", [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist")])
def test_json_says_what_ran_where_and_from_which_commit(pytester: pytest.Pytester, xdist: list[str]) -> None:
    import datetime
    import re
    import subprocess

    pytester.makefile(".vlm.yaml", shapes=SPEC)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=pytester.path, check=True)
    subprocess.run(["git", "add", "shapes.vlm.yaml"], cwd=pytester.path, check=True)
    subprocess.run([*git, "commit", "-qm", "benchmarks"], cwd=pytester.path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=pytester.path, capture_output=True, text=True).stdout
    pytester.runpytest("--vlm-json", "r.json", *xdist).assert_outcomes(passed=2)
    document = json.loads((pytester.path / "r.json").read_text())
    assert document["version"] == 2
    run = document["run"]
    assert run["git_commit"] == head.strip() and run["git_dirty"] is False
    assert run["exit_status"] == 0
    when = datetime.datetime.fromisoformat(run["timestamp"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) < 600
    from importlib.metadata import version

    for package in ("pytest-vlm", "pytest", "transformers", "torch"):
        assert run["versions"][package] == version(package)
    model = run["models"]["scripted:oracle"]
    assert model["backend"] == "scripted" and re.fullmatch("[0-9a-f]{64}", model["fingerprint"])
    assert all(r["model_info"]["fingerprint"] == model["fingerprint"] for r in document["results"])


def test_run_metadata_names_the_devices_and_is_plain_outside_git(tmp_path) -> None:
    from pytest_vlm.reports.run_metadata import run_metadata
    from pytest_vlm.results import ItemResult

    results = [
        ItemResult("a", "b", "m1", "s", "closed_set", "passed", model_info={"device": "cuda:0", "gpu": "NVIDIA H200"}),
        ItemResult("a", "b", "m2", "s", "closed_set", "passed", model_info={"device": "cpu"}),
        ItemResult("a", "b", "m3", "s", "closed_set", "error"),
    ]
    run = run_metadata(results, rootdir=tmp_path, exit_status=1)
    assert run["devices"] == ["NVIDIA H200", "cpu"]
    assert (run["git_commit"], run["git_dirty"]) == (None, None)
    assert set(run["models"]) == {"m1", "m2"}


def test_model_info_names_the_gpu_and_the_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU on the machines the suite runs on: torch's answer is stood in for; the lookup is ours.
    import torch

    from pytest_vlm.runner import model_info

    asked_for = []

    def device_name(device: object) -> str:
        asked_for.append(str(device))
        return "NVIDIA H200"

    monkeypatch.setattr(torch.cuda, "get_device_name", device_name)

    class OnGpu:
        name = "m"

        def describe(self) -> dict[str, str]:
            return {"backend": "hf", "device": "cuda:1"}

    class Cached:
        model_key = "ab" * 32

    info = model_info(OnGpu(), Cached())  # type: ignore[arg-type]
    assert info == {"backend": "hf", "device": "cuda:1", "gpu": "NVIDIA H200", "fingerprint": "ab" * 32}
    assert asked_for == ["cuda:1"]
