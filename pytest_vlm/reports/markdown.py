"""The Markdown summary: for $GITHUB_STEP_SUMMARY (appended) and ``--vlm-markdown PATH``.

Meant to be pasted into a pull request: per benchmark, a table with 95% intervals and, for an
item that did not pass, why (failed thresholds, failed gates, the error); per such item the
terminal's failure report; per item compared with a baseline, the gates' verdicts, the accuracy
and per-class F1 changes and the flipped images.

Everything that comes from users' files (names, labels, image ids, error text) is escaped for
GitHub-flavoured Markdown: it renders as the text it is, never as a tag, a link or an image.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from itertools import groupby

from pytest_vlm.printable import printable, printable_name
from pytest_vlm.reports.rows import WARM_NOTE, failure_reasons, summary_rows
from pytest_vlm.results import ItemResult
from pytest_vlm.scoring.metrics import UNPARSEABLE, Interval

MARKER = "<!-- pytest-vlm summary -->"
_ICON = {"passed": "✅", "failed": "❌", "error": "💥"}
FLIP_LIMIT = 50

# Markdown's own punctuation (backslash-escaped), with "_" only where it could start or end
# emphasis (closed_set stays as it is), and the starts of GitHub's bare autolinks.
_MARKDOWN = re.compile(r"[\\`*\[\]|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|(?<=[A-Za-z])(?=://)|(?<=www)(?=\.)")


def md_text(text: object) -> str:
    """``text`` as literal GitHub-flavoured Markdown text on one line."""
    plain = escape(printable_name(text), quote=False)  # <unparseable>, </details>: text, not tags
    return _MARKDOWN.sub(lambda m: "\\" + m.group() if m.group() else "\\", plain)


def _value(value: float | None, interval: Interval | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} [{interval.low:.3f}, {interval.high:.3f}]" if interval else f"{value:.3f}"


def _title(r: ItemResult) -> str:
    return f"{md_text(r.benchmark)} / {md_text(r.model)} / {md_text(r.strategy)}"


def verdict(results: Sequence[ItemResult]) -> str:
    failed = sum(1 for r in results if r.status != "passed")
    return f"{failed} of {len(results)} item(s) failed" if failed else f"all {len(results)} item(s) passed"


def render_markdown(results: Sequence[ItemResult], *, exit_status: int | None = None) -> str:
    if not results:
        return f"{MARKER}\n## pytest-vlm: no benchmark item ran (pytest exit status {exit_status})\n"
    by_item = {(r.benchmark, r.model, r.strategy): r for r in results}
    out = [MARKER, f"## pytest-vlm: {verdict(results)}", ""]
    for benchmark, group in groupby(summary_rows(results), key=lambda r: r.benchmark):
        group_rows = list(group)
        sizes = sorted({r.n for r in group_rows if r.n is not None})
        out.append(f"### {md_text(benchmark)}" + (f" ({', '.join(map(str, sizes))} images)" if sizes else ""))
        out.append("")
        out.append(
            "| model | strategy | accuracy [95% CI] | macro F1 [95% CI] | weighted F1 [95% CI] "
            "| it/s | cached | status | baseline |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|")
        for r in group_rows:
            reasons = failure_reasons(by_item[(r.benchmark, r.model, r.strategy)])
            status = f"{_ICON.get(r.status, '')} {r.status}" + (f": {md_text('; '.join(reasons))}" if reasons else "")
            cells = (
                md_text(r.model),
                md_text(r.strategy),
                _value(r.accuracy, r.accuracy_ci),
                _value(r.macro_f1, r.macro_f1_ci),
                _value(r.weighted_f1, r.weighted_f1_ci),
                md_text(r.speed),
                r.cached,
                status,
                md_text(r.baseline),
            )
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        if any(r.warm for r in group_rows):
            out += [md_text(WARM_NOTE), ""]
    ordered = sorted(results, key=lambda r: (r.benchmark, r.model, r.strategy))
    for result in ordered:
        out += _failure(result)
    for result in ordered:
        out += _comparison(result)
    return "\n".join(out).rstrip("\n") + "\n"


def _failure(r: ItemResult) -> list[str]:
    """The terminal's failure report of an item that did not pass, folded."""
    if r.status == "passed" or not r.failures:
        return []
    title = escape(" / ".join(printable_name(x) for x in (r.benchmark, r.model, r.strategy)))
    text = escape(printable("\n".join(r.failures)), quote=False)
    return [f"<details><summary>{title}: {r.status}</summary>", "", f"<pre>{text}</pre>", "", "</details>", ""]


def _comparison(r: ItemResult) -> list[str]:
    c = r.comparison
    if c is None or not (c.flips or c.failed_gates):
        return []
    out = [f"#### {_title(r)} vs baseline {md_text(c.baseline)}", ""]
    for g in c.gates:
        out.append(f"- {'✅' if g['passed'] else '❌'} `{g['gate']}`: {md_text(g['detail'])}")
    out.append(
        f"- {len(c.flips)} of {c.n} images flipped ({c.flip_rate:.1%}): {c.b} now wrong, {c.c} now right; "
        f"exact McNemar one-sided p = {c.p_worse:.4g}"
    )
    out.append(
        f"- accuracy {c.accuracy_old:.3f} → {c.accuracy_new:.3f} ({c.accuracy_delta:+.3f}); "
        f"macro F1 {c.macro_f1_old:.3f} → {c.macro_f1_new:.3f} ({c.macro_f1_new - c.macro_f1_old:+.3f})"
    )
    changed = {k: v for k, v in c.f1_delta.items() if abs(v) > 1e-12}
    if changed:
        out.append("- per-class F1 change: " + ", ".join(f"{md_text(k)} {v:+.3f}" for k, v in changed.items()))
    if c.flips:
        out += ["", f"<details><summary>{len(c.flips)} flipped image(s)</summary>", ""]
        out += ["| image | baseline | now | true label |", "|---|---|---|---|"]
        for f in c.flips[:FLIP_LIMIT]:
            cells = (f.image_id, f.old or UNPARSEABLE, f.new or UNPARSEABLE, f.label)
            out.append("| " + " | ".join(md_text(x) for x in cells) + " |")
        if len(c.flips) > FLIP_LIMIT:
            out.append(f"\n... and {len(c.flips) - FLIP_LIMIT} more (see --vlm-json)")
        out += ["", "</details>"]
    out.append("")
    return out
