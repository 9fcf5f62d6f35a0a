"""The Markdown summary: for $GITHUB_STEP_SUMMARY (appended) and ``--vlm-markdown PATH``.

Meant to be pasted into a pull request: per benchmark, a table with 95% intervals; per item
compared with a baseline, the gates' verdicts, the accuracy and per-class F1 changes and the
flipped images.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from pytest_vlm.reports.rows import summary_rows
from pytest_vlm.results import ItemResult
from pytest_vlm.scoring.metrics import Interval

MARKER = "<!-- pytest-vlm summary -->"
_ICON = {"passed": "✅", "failed": "❌", "error": "💥"}
FLIP_LIMIT = 50


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(value: float | None, interval: Interval | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} [{interval.low:.3f}, {interval.high:.3f}]" if interval else f"{value:.3f}"


def render_markdown(results: Sequence[ItemResult]) -> str:
    rows = summary_rows(results)
    failed = sum(1 for r in rows if r.status != "passed")
    verdict = f"{failed} of {len(rows)} item(s) failed" if failed else f"all {len(rows)} item(s) passed"
    out = [MARKER, f"## pytest-vlm: {verdict}", ""]
    for benchmark, group in groupby(rows, key=lambda r: r.benchmark):
        group_rows = list(group)
        sizes = sorted({r.n for r in group_rows if r.n is not None})
        out.append(f"### {benchmark}" + (f" ({', '.join(map(str, sizes))} images)" if sizes else ""))
        out.append("")
        out.append(
            "| model | strategy | accuracy [95% CI] | macro F1 [95% CI] | weighted F1 [95% CI] "
            "| it/s | status | baseline |"
        )
        out.append("|---|---|---|---|---|---|---|---|")
        for r in group_rows:
            speed = "-" if r.images_per_second is None else f"{r.images_per_second:.1f}"
            out.append(
                "| "
                + " | ".join(
                    _cell(x)
                    for x in (
                        r.model,
                        r.strategy,
                        _value(r.accuracy, r.accuracy_ci),
                        _value(r.macro_f1, r.macro_f1_ci),
                        _value(r.weighted_f1, r.weighted_f1_ci),
                        speed,
                        f"{_ICON.get(r.status, '')} {r.status}",
                        r.baseline,
                    )
                )
                + " |"
            )
        out.append("")
    for result in sorted(results, key=lambda r: (r.benchmark, r.model, r.strategy)):
        out += _comparison(result)
    return "\n".join(out).rstrip("\n") + "\n"


def _comparison(r: ItemResult) -> list[str]:
    c = r.comparison
    if c is None or not (c.flips or c.failed_gates):
        return []
    out = [f"#### {_cell(r.benchmark)} / {_cell(r.model)} / {_cell(r.strategy)} vs baseline {_cell(c.baseline)}", ""]
    for g in c.gates:
        out.append(f"- {'✅' if g['passed'] else '❌'} `{g['gate']}`: {_cell(g['detail'])}")
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
        out.append("- per-class F1 change: " + ", ".join(f"{_cell(k)} {v:+.3f}" for k, v in changed.items()))
    if c.flips:
        out += ["", f"<details><summary>{len(c.flips)} flipped image(s)</summary>", ""]
        out += ["| image | baseline | now | true label |", "|---|---|---|---|"]
        for f in c.flips[:FLIP_LIMIT]:
            cells = (f.image_id, f.old or "<unparseable>", f.new or "<unparseable>", f.label)
            out.append("| " + " | ".join(_cell(x) for x in cells) + " |")
        if len(c.flips) > FLIP_LIMIT:
            out.append(f"\n... and {len(c.flips) - FLIP_LIMIT} more (see --vlm-json)")
        out += ["", "</details>"]
    out.append("")
    return out
