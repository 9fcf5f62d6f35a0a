"""End to end: baseline gates, --vlm-baseline, intervals in the table, JUnit properties, Markdown
and HTML reports (the HTML checked in a real headless Chromium)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_vlm.data.sources import load_dataset
from pytest_vlm.models.degraded import is_blanked
from pytest_vlm.spec import parse_spec

SPEC = """
dataset:
  generated: shapes
  count: 42
  seed: 7
classes: [circle, square, triangle, star, cross, heart, background]
background: background
models: [scripted:oracle]
strategies:
  closed_set:
    votes: 3
  binary: {}
"""


def write_spec(pytester: pytest.Pytester, gates: str = "") -> Path:
    return pytester.makefile(".vlm.yaml", shapes=SPEC + (f"baseline: {gates}\n" if gates else ""))


def blanked(pytester: pytest.Pytester, fraction: float) -> list[str]:
    """The images degraded:FRACTION blanks: what the scripted oracle then cannot answer."""
    dataset = load_dataset(parse_spec(pytester.path / "shapes.vlm.yaml"))
    return sorted(ex.id for ex in dataset.examples if is_blanked(ex.id, fraction))


@pytest.fixture
def recorded(pytester: pytest.Pytester) -> pytest.Pytester:
    write_spec(pytester, "{no_significant_drop: {alpha: 0.05}}")
    pytester.runpytest("--vlm-update-snapshots").assert_outcomes(passed=2)
    return pytester


def test_fractions_used_below_blank_what_the_tests_expect(recorded: pytest.Pytester) -> None:
    # The tests below rely on these counts: 2 images (p = 0.25, noise) and 17 (p < 0.001, a drop).
    assert len(blanked(recorded, 0.05)) == 2
    assert len(blanked(recorded, 0.3)) == 17


def test_significance_gate_fails_a_real_drop(recorded: pytest.Pytester) -> None:
    ids = blanked(recorded, 0.3)
    result = recorded.runpytest("--vlm-model", "degraded:0.3:scripted:oracle", "--vlm-baseline", "scripted:oracle")
    result.assert_outcomes(failed=2)
    path = recorded.path / "__vlm_snapshots__" / "shapes" / "scripted-oracle" / "closed_set.json"
    result.stdout.fnmatch_lines(
        [
            "*shapes on degraded:0.3:scripted:oracle with closed_set:",
            "1 of 1 baseline gate(s) failed against scripted:oracle:",
            "  no_significant_drop: FAIL  17 image(s) now wrong, 0 now right; exact McNemar one-sided "
            "p=7.629e-06, p < alpha 0.05: a significant drop",
            "vs scripted:oracle: 17 of 42 flipped (40.5%; 17 now wrong, 0 now right), accuracy 1.000 -> 0.595 "
            "(-0.405), McNemar p=7.63e-06",
            "17 image(s) changed prediction (17 now wrong, 0 now right):",
            f"  {ids[0]}: * -> <unparseable> (true: *)  (was right, now wrong)",
            f"baseline: {path}",
        ]
    )
    # The other model's baseline is only read.
    assert not (recorded.path / "__vlm_snapshots__" / "shapes" / "degraded-0.3-scripted-oracle").exists()


def test_significance_gate_passes_noise_and_reports_flips(recorded: pytest.Pytester) -> None:
    result = recorded.runpytest("--vlm-model", "degraded:0.05:scripted:oracle", "--vlm-baseline", "scripted:oracle")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            # At 80 columns the model's name stays whole; columns give way instead.
            "degraded:0.05:scripted:oracle closed_set    0.952 0.974 * passed 2 flipped",
            "95% intervals (accuracy: Wilson; F1: bootstrap over images)",
            "model*strategy*accuracy*macro F1",
            "degraded:0.05:scripted:oracle closed_set [[]0.842, 0.987[]] [[]0.900, 1.000[]]",
            "(left out to fit 80 columns: weighted F1, cached; see --vlm-markdown)",
            "baseline comparison (details: --vlm-json, --vlm-markdown, --vlm-html):",
            "  shapes degraded:0.05:scripted:oracle binary vs scripted:oracle: 2 of 42",
            "    flipped (4.8%; 2 now wrong, 0 now right), accuracy 1.000 -> 0.952 (-0.048),",
            "    McNemar p=0.25; no_significant_drop ok",
        ]
    )


def test_without_gates_any_flip_fails(pytester: pytest.Pytester) -> None:
    write_spec(pytester)
    pytester.runpytest("--vlm-update-snapshots").assert_outcomes(passed=2)
    result = pytester.runpytest("--vlm-model", "degraded:0.05:scripted:oracle", "--vlm-baseline", "scripted:oracle")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "predictions differ from the baseline of scripted:oracle:",
            "2 image(s) changed prediction (2 now wrong, 0 now right):",
            "Any difference fails unless the spec sets baseline gates (max_flip_rate, no_significant_drop); "
            "the baseline of scripted:oracle is only read, never written.",
        ]
    )


def test_churn_budget_and_strategy_override(pytester: pytest.Pytester) -> None:
    write_spec(pytester, "{max_flip_rate: 0.01}")
    spec = pytester.path / "shapes.vlm.yaml"
    spec.write_text(spec.read_text().replace("  binary: {}", "  binary:\n    baseline: {max_flip_rate: 0.1}"))
    pytester.runpytest("--vlm-update-snapshots").assert_outcomes(passed=2)
    result = pytester.runpytest("--vlm-model", "degraded:0.05:scripted:oracle", "--vlm-baseline", "scripted:oracle")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*with closed_set:",
            "1 of 1 baseline gate(s) failed against scripted:oracle:",
            "  max_flip_rate: FAIL  flip rate 0.0476 (2 of 42 images) > max_flip_rate 0.01",
        ]
    )


@pytest.mark.parametrize("xdist", [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist")])
def test_gates_on_the_own_baseline(recorded: pytest.Pytester, xdist: list[str]) -> None:
    # Two baseline entries edited to be wrong: the run now gets them right (an improvement). The
    # exact match would fail; the significance gate passes and the flips are still reported.
    path = recorded.path / "__vlm_snapshots__" / "shapes" / "scripted-oracle" / "closed_set.json"
    text = path.read_text()
    path.write_text(text.replace('"prediction": "circle"', '"prediction": "star"', 2))
    result = recorded.runpytest("--vlm-json", "out.json", "--junitxml", "junit.xml", "--vlm-html", "r.html", *xdist)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*scripted:oracle*closed_set*passed*2 flipped*"])
    assert "binary vs scripted:oracle" not in result.stdout.str()  # unchanged items are not listed
    assert path.read_text() != text  # not rewritten without --vlm-update-snapshots
    # Thumbnails of the 2 flips are made where the item ran (a worker, with -n) and reach the report.
    assert (recorded.path / "r.html").read_text().count('src="data:image/jpeg;base64,') == 2
    document = json.loads((recorded.path / "out.json").read_text())
    closed = next(r for r in document["results"] if r["strategy"] == "closed_set")
    comparison = closed["comparison"]
    assert (comparison["b"], comparison["c"], comparison["n"]) == (0, 2, 42)
    assert comparison["flips"][0] == {"image_id": "circle-7-00000", "label": "circle", "old": "star", "new": "circle"}
    assert comparison["gates"] == [
        {
            "gate": "no_significant_drop",
            "passed": True,
            "detail": "0 image(s) now wrong, 2 now right; exact McNemar one-sided p=1, no drop",
        }
    ]
    assert closed["thumbnails"] == {}  # pictures go to the HTML report only
    assert set(closed["metrics"]["intervals"]) == {"accuracy", "macro_f1", "weighted_f1"}
    assert closed["metrics"]["intervals"]["accuracy"]["high"] == 1.0
    assert closed["diagnostics"]["votes"] == 3
    assert closed["diagnostics"]["agreement_histogram"] == [{"agreed": 3, "images": 42, "accuracy": 1.0}]
    assert sum(closed["diagnostics"]["position_bias"]["right"]) == 126
    # JUnit: each testcase carries the metrics, the intervals and the comparison (also from xdist workers).
    case = next(
        c
        for c in ET.parse(recorded.path / "junit.xml").getroot().iter("testcase")
        if c.get("name") == "shapes[scripted:oracle-closed_set]"
    )
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["vlm_accuracy"] == "1.0"
    assert props["vlm_accuracy_ci95"] == "0.9162 1.0000"
    assert props["vlm_flips"] == "2"
    assert props["vlm_flip_rate"] == str(round(2 / 42, 6))
    assert props["vlm_now_right"] == "2" and props["vlm_now_wrong"] == "0"
    assert props["vlm_mcnemar_p"] == "1"
    assert props["vlm_gate_no_significant_drop"] == "passed"
    assert props["vlm_baseline"] == "2 flipped"


def test_lower_bound_threshold(recorded: pytest.Pytester) -> None:
    spec = recorded.path / "shapes.vlm.yaml"
    spec.write_text(spec.read_text() + '\nthresholds: {accuracy_lower: ">= 0.95"}\n')
    result = recorded.runpytest("-k", "closed_set")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(["*accuracy_lower*0.9162*>= 0.95*-0.0338*FAIL"])


def test_baseline_model_errors(recorded: pytest.Pytester) -> None:
    missing = recorded.runpytest("--vlm-baseline", "scripted:noisy")
    missing.assert_outcomes(failed=2)
    path = recorded.path / "__vlm_snapshots__" / "shapes" / "scripted-noisy" / "binary.json"
    missing.stdout.fnmatch_lines(
        [
            f"no baseline of scripted:noisy on shapes / binary to compare with (--vlm-baseline scripted:noisy): "
            f"{path} does not exist.",
            f"Record it first: pytest {recorded.path / 'shapes.vlm.yaml'} --vlm-model scripted:noisy "
            "--vlm-update-snapshots",
        ]
    )
    assert not path.exists()

    both = recorded.runpytest("--vlm-baseline", "scripted:oracle", "--vlm-update-snapshots")
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    both.stderr.fnmatch_lines(
        [
            "ERROR: --vlm-baseline compares with another model's baselines, which are never written; "
            "drop --vlm-update-snapshots, or --vlm-baseline to record the models' own baselines"
        ]
    )
    unknown = recorded.runpytest("--vlm-baseline", "scripted:oracel")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    unknown.stderr.fnmatch_lines(["ERROR: --vlm-baseline: unknown model 'scripted:oracel' (did you mean*"])
    broken = recorded.path / "__vlm_snapshots__" / "shapes" / "scripted-oracle" / "binary.json"
    broken.write_text("{ not json")
    unreadable = recorded.runpytest(
        "--vlm-model", "scripted:noisy", "--vlm-baseline", "scripted:oracle", "-k", "binary"
    )
    unreadable.assert_outcomes(failed=1, deselected=1)
    unreadable.stdout.fnmatch_lines(
        [f"baseline {broken} is not readable JSON (*); restore it from version control or re-record it with*"]
    )
    bad = recorded.runpytest("--vlm-model", "degraded:2:scripted:oracle")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["ERROR: --vlm-model: model 'degraded:2:scripted:oracle': the fraction must be*"])


def test_markdown_and_step_summary(recorded: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = recorded.path / "step_summary.md"
    summary.write_text("# an earlier step's summary\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    args = ["--vlm-model", "degraded:0.05:scripted:oracle", "--vlm-baseline", "scripted:oracle"]
    result = recorded.runpytest(*args, "--vlm-markdown", "reports/summary.md")
    result.assert_outcomes(passed=2)
    written = recorded.path / "reports" / "summary.md"
    result.stdout.fnmatch_lines([f"pytest-vlm: wrote {written}", f"pytest-vlm: wrote $GITHUB_STEP_SUMMARY ({summary})"])
    markdown = written.read_text()
    ids = blanked(recorded, 0.05)
    assert markdown.startswith(
        "<!-- pytest-vlm summary -->\n## pytest-vlm: all 2 item(s) passed\n\n### shapes (42 images)"
    )
    assert (
        "| degraded:0.05:scripted:oracle | closed_set | 0.952 [0.842, 0.987] | " in markdown
        and "| ✅ passed | 2 flipped |" in markdown
    )
    assert "#### shapes / degraded:0.05:scripted:oracle / closed_set vs baseline scripted:oracle" in markdown
    assert (
        "- ✅ `no_significant_drop`: 2 image(s) now wrong, 0 now right; exact McNemar one-sided p=0.25, "
        "p &gt;= alpha 0.05: a drop within noise" in markdown
    )
    assert "- accuracy 1.000 → 0.952 (-0.048)" in markdown
    for image_id in ids:
        assert f"| {image_id} | " in markdown and " | &lt;unparseable&gt; | " in markdown  # text, not a tag
    # Appended to the step summary, after what was there; a second run appends again.
    assert summary.read_text() == "# an earlier step's summary\n" + markdown + "\n"
    recorded.runpytest(*args).assert_outcomes(passed=2)
    assert summary.read_text().count("<!-- pytest-vlm summary -->") == 2
    # Our own report is replaced on the next run.
    recorded.runpytest(*args, "--vlm-markdown", "reports/summary.md").assert_outcomes(passed=2)


@pytest.mark.parametrize("flag", ["--vlm-markdown", "--vlm-html"])
def test_reports_never_overwrite_what_is_not_theirs(recorded: pytest.Pytester, flag: str) -> None:
    notes = recorded.path / "notes.txt"
    notes.write_text("my notes")
    result = recorded.runpytest(flag, "notes.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: {flag}: {notes} exists and was not written by pytest-vlm; "
            "move it away or choose another path (it is never overwritten)"
        ]
    )
    assert notes.read_text() == "my notes"
    (recorded.path / "out").mkdir()
    folder = recorded.runpytest(flag, "out")
    assert folder.ret == pytest.ExitCode.USAGE_ERROR
    folder.stderr.fnmatch_lines([f"ERROR: {flag}: {recorded.path / 'out'} is a folder; give a file path such as *"])


# --- the HTML report, rendered by a real browser ---


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but no chromium is installed: the HTML report must be checked in a real browser")
    pytest.skip("chromium not installed (apt-get install chromium): the HTML report is not checked in a browser")


def screenshot(browser: str, html: Path, png: Path) -> object:
    from PIL import Image

    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={png}",
            "--window-size=1100,1800",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Image.open(png).convert("RGB")


def test_html_report_renders_offline_in_chromium(recorded: pytest.Pytester) -> None:
    from PIL import ImageChops

    browser = _chromium()
    result = recorded.runpytest(
        "--vlm-model", "degraded:0.05:scripted:oracle", "--vlm-baseline", "scripted:oracle", "--vlm-html", "r.html"
    )
    result.assert_outcomes(passed=2)
    html_path = recorded.path / "r.html"
    html = html_path.read_text()
    assert html.startswith("<!DOCTYPE html>\n<!-- pytest-vlm report -->")
    # Self-contained: nothing fetched from anywhere.
    for needle in ("http://", "https://", "<script", "<link", 'src="/', "url("):
        assert needle not in html.replace('xmlns="http://www.w3.org/2000/svg"', ""), needle
    ids = blanked(recorded, 0.05)
    # Both strategies' flips, and the same images again in their galleries of misclassified images.
    assert html.count('src="data:image/jpeg;base64,') == 4 * len(ids)
    assert html.count("<svg") == 2 and "true: circle" in html

    full = screenshot(browser, html_path, recorded.path / "full.png")
    assert len(full.getcolors(1 << 24) or []) > 200  # not blank: text, tables, pictures
    # Without the thumbnails, or without the confusion matrices, the page must look different
    # where they were: the browser really drew them.
    no_thumbs = recorded.path / "no_thumbs.html"
    no_thumbs.write_text(html.replace('src="data:image/jpeg;base64,', 'src="data:,'))
    no_svg = recorded.path / "no_svg.html"
    start, end = html.index("<svg"), html.index("</svg>") + len("</svg>")
    no_svg.write_text(html[:start] + "<svg" + html[start + 4 : end].split(">", 1)[0] + "></svg>" + html[end:])
    box = ImageChops.difference(full, screenshot(browser, no_thumbs, recorded.path / "nt.png")).getbbox()
    assert box is not None
    thumbs = full.crop(box)
    assert len(thumbs.getcolors(1 << 24) or []) > 50  # photos, not flat boxes
    box = ImageChops.difference(full, screenshot(browser, no_svg, recorded.path / "ns.png")).getbbox()
    assert box is not None
    matrix = full.crop(box)
    diagonal = sum(count for count, colour in matrix.getcolors(1 << 24) if colour[2] > 200 and colour[0] < 120)
    assert diagonal > 500  # the blue diagonal cells of an all-right (before blanking) matrix


# A script added to a copy of the report measures the page as Chromium laid it out, and writes the
# numbers into the page, which --dump-dom then prints.
PROBE = """<script>
const links = [...document.querySelectorAll('a[href^="#"]')];
const out = {
  inner: window.innerWidth,
  scroll: document.documentElement.scrollWidth,
  body: document.body.getBoundingClientRect().width,
  pres: [...document.querySelectorAll('pre')].map(p => p.scrollWidth - p.clientWidth),
  links: links.length,
  dead: links.filter(a => !document.getElementById(a.getAttribute('href').slice(1))).length,
  broken: [...document.querySelectorAll('td.name a')].filter(a => a.getClientRects().length > 1).length,
  contents: [...document.querySelectorAll('nav li')].map(l => l.scrollWidth - l.clientWidth),
  images: [...document.querySelectorAll('.gallery img')].map(i => i.complete && i.naturalWidth > 0),
  order: [...document.querySelectorAll('section.item')].map(s => s.className),
  panels: [...document.querySelectorAll('.panels')].map(p => [...p.children].map(c => c.getBoundingClientRect().top)),
};
const pre = document.createElement('pre');
pre.id = 'vlm-probe';
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def measure(browser: str, html: Path, width: int) -> dict:
    import re

    probe = html.with_name(f"probe-{width}.html")
    probe.write_text(html.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={width},900"]
        + ["--dump-dom", probe.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    found = re.search(r'<pre id="vlm-probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1))


@pytest.mark.parametrize("width", [1000, 1400])
def test_html_report_layout_in_chromium(pytester: pytest.Pytester, width: int) -> None:
    browser = _chromium()
    spec = SPEC.replace("models: [scripted:oracle]", "models: [scripted:oracle, scripted:noisy]")
    pytester.makefile(".vlm.yaml", shapes=spec + 'thresholds: {accuracy: ">= 0.9"}\n')
    pytester.runpytest("--vlm-update-snapshots", "-k", "oracle").assert_outcomes(passed=2, deselected=2)
    # scripted:noisy fails its threshold and has no baseline yet: its report names a long path.
    pytester.runpytest("--vlm-html", "r.html").assert_outcomes(passed=2, failed=2)
    html = (pytester.path / "r.html").read_text()
    # The confusion matrix has an <unparseable> column (noisy answers) but no row: no image's truth is.
    assert "&lt;unparseable&gt;</text>" in html and 'text-anchor="end">&lt;unparseable&gt;' not in html
    m = measure(browser, pytester.path / "r.html", width)
    assert m["scroll"] <= m["inner"]  # nothing sticks out sideways
    assert m["body"] >= m["inner"] - 60  # the whole width is used
    assert m["pres"] and all(overflow <= 0 for overflow in m["pres"])  # failure text is never cut
    assert m["links"] == 8 and m["dead"] == 0  # contents and summary link to every item
    assert m["broken"] == 0  # no model name breaks across lines
    assert len(m["contents"]) == 4 and all(overflow <= 0 for overflow in m["contents"])
    assert m["order"] == ["item not-passed"] * 2 + ["item"] * 2  # failed items first
    # Every misclassified image (noisy answers are unreadable) is in a gallery, and was drawn.
    assert len(m["images"]) == html.count("said: &lt;unparseable&gt;") > 0 and all(m["images"])
    # Per-class table and confusion matrix side by side, not stacked.
    assert all(len(set(tops[:2])) == 1 for tops in m["panels"])
