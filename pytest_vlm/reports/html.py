"""The HTML report (``--vlm-html PATH``): one self-contained file that renders offline.

Inline CSS, no scripts, no fonts or files fetched from anywhere: the confusion matrices are
inline SVG and the flipped images' thumbnails PNG data URIs. Thumbnails are made where the item
ran (an xdist worker has the images; the controller that writes the report may not), and travel
in the item's result.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from html import escape
from itertools import groupby
from typing import Any

from pytest_vlm.reports.markdown import _value
from pytest_vlm.reports.rows import summary_rows
from pytest_vlm.results import ItemResult
from pytest_vlm.scoring.metrics import Metrics

MARKER = "<!-- pytest-vlm report -->"
THUMBNAIL_SIZE = 64
THUMBNAIL_LIMIT = 60  # per item: a report stays small even when a whole benchmark flipped

_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #1b1b1b; background: #fff; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; } h3 { font-size: 15px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #c8c8c8; padding: 3px 8px; text-align: right; }
th { background: #eef1f5; } td.name, th.name { text-align: left; }
.passed { color: #116329; font-weight: bold; } .failed, .error { color: #b3261e; font-weight: bold; }
.flips { display: flex; flex-wrap: wrap; gap: 10px; }
.flip { border: 1px solid #c8c8c8; padding: 4px; font-size: 11px; width: 112px; text-align: center; }
.flip img { width: 96px; height: 96px; image-rendering: pixelated; display: block; margin: 0 auto 4px; }
.worse { background: #fdecea; } .better { background: #e8f5e9; }
.gate-ok { color: #116329; } .gate-fail { color: #b3261e; font-weight: bold; }
"""


def thumbnail_data_uri(image: Any, size: int = THUMBNAIL_SIZE) -> str:
    """A PIL image as a small JPEG data URI (a few kB: PNG of a noisy photo is five times larger)."""
    copy = image.convert("RGB")
    copy.thumbnail((size, size))
    buffer = io.BytesIO()
    copy.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def flip_thumbnails(examples: Sequence[Any], image_ids: Sequence[str], limit: int = THUMBNAIL_LIMIT) -> dict[str, str]:
    """Thumbnails of the first ``limit`` of ``image_ids``, by id."""
    wanted = list(image_ids)[:limit]
    by_id = {ex.id: ex for ex in examples if ex.id in set(wanted)}
    return {i: thumbnail_data_uri(by_id[i].load()) for i in wanted if i in by_id}


def confusion_svg(metrics: Metrics, cell: int = 30) -> str:
    """The confusion matrix (rows: true, columns: predicted) as an inline SVG heat map."""
    labels = metrics.confusion_labels
    n = len(labels)
    margin = 8 + 7 * max((len(label) for label in labels), default=4)
    width = height = margin + n * cell + 4
    top = max((max(row) for row in metrics.confusion), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="confusion matrix" font-family="sans-serif" '
        'font-size="11">'
    ]
    for i, label in enumerate(labels):
        y = margin + i * cell + cell / 2 + 4
        parts.append(f'<text x="{margin - 4}" y="{y}" text-anchor="end">{escape(label)}</text>')
        x = margin + i * cell + cell / 2
        parts.append(f'<text transform="translate({x + 4},{margin - 4}) rotate(-90)">{escape(label)}</text>')
    for i, row in enumerate(metrics.confusion):
        for j, count in enumerate(row):
            share = count / top
            # Diagonal in blue, mistakes in red; white when empty.
            r, g, b = (
                (int(255 - 200 * share), int(255 - 140 * share), 255)
                if i == j
                else (255, *(int(255 - 200 * share),) * 2)
            )
            x, y = margin + j * cell, margin + i * cell
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="rgb({r},{g},{b})" stroke="#999"/>'
            )
            if count:
                colour = "#fff" if share > 0.6 else "#000"
                at = f'x="{x + cell / 2}" y="{y + cell / 2 + 4}"'
                parts.append(f'<text {at} text-anchor="middle" fill="{colour}">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], names: int = 1) -> str:
    head = "".join(
        f'<th class="name">{escape(h)}</th>' if i < names else f"<th>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td class="name">{c}</td>' if i < names else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _summary(results: Sequence[ItemResult]) -> str:
    out = []
    for benchmark, group in groupby(summary_rows(results), key=lambda r: r.benchmark):
        rows = list(group)
        out.append(f"<h2>{escape(benchmark)}</h2>")
        out.append(
            _table(
                (
                    "model",
                    "strategy",
                    "accuracy [95% CI]",
                    "macro F1 [95% CI]",
                    "weighted F1 [95% CI]",
                    "it/s",
                    "status",
                    "baseline",
                ),
                [
                    (
                        escape(r.model),
                        escape(r.strategy),
                        _value(r.accuracy, r.accuracy_ci),
                        _value(r.macro_f1, r.macro_f1_ci),
                        _value(r.weighted_f1, r.weighted_f1_ci),
                        "-" if r.images_per_second is None else f"{r.images_per_second:.1f}",
                        f'<span class="{escape(r.status)}">{escape(r.status)}</span>',
                        escape(r.baseline),
                    )
                    for r in rows
                ],
                names=2,
            )
        )
    return "\n".join(out)


def _item(r: ItemResult) -> str:
    out = [f'<h2 id="{escape(r.nodeid)}">{escape(r.benchmark)} / {escape(r.model)} / {escape(r.strategy)}</h2>']
    m = r.metrics
    if r.failures:
        out.append(f"<pre>{escape(chr(10).join(r.failures))}</pre>")
    if m is None:
        return "\n".join(out)
    c = r.comparison
    deltas = c.f1_delta if c is not None else {}
    out.append("<h3>Per class</h3>")
    out.append(
        _table(
            ("class", "precision", "recall", "F1", "F1 change vs baseline", "support"),
            [
                (
                    escape(name),
                    f"{cm.precision:.3f}",
                    f"{cm.recall:.3f}",
                    f"{cm.f1:.3f}",
                    f"{deltas[name]:+.3f}" if name in deltas else "-",
                    str(cm.support),
                )
                for name, cm in m.per_class.items()
            ],
        )
    )
    out.append("<h3>Confusion matrix</h3><p>rows: true class; columns: predicted class</p>")
    out.append(f'<div class="confusion">{confusion_svg(m)}</div>')
    if r.diagnostics:
        out.append(_diagnostics(r.diagnostics))
    if c is not None:
        out.append(f"<h3>Against the baseline of {escape(c.baseline)}</h3><ul>")
        for g in c.gates:
            css = "gate-ok" if g["passed"] else "gate-fail"
            verdict = "passed" if g["passed"] else "FAILED"
            out.append(f'<li class="{css}">{escape(g["gate"])}: {verdict}: {escape(g["detail"])}</li>')
        out.append(
            f"<li>{len(c.flips)} of {c.n} images flipped ({c.flip_rate:.1%}): {c.b} now wrong, {c.c} now right; "
            f"exact McNemar one-sided p = {c.p_worse:.4g}</li>"
            f"<li>accuracy {c.accuracy_old:.3f} &rarr; {c.accuracy_new:.3f} ({c.accuracy_delta:+.3f})</li></ul>"
        )
        if c.flips:
            out.append('<div class="flips">')
            for f in c.flips:
                css = "worse" if f.old == f.label else "better" if f.new == f.label else ""
                thumb = r.thumbnails.get(f.image_id)
                img = f'<img src="{thumb}" alt="{escape(f.image_id)}">' if thumb else ""
                out.append(
                    f'<div class="flip {css}">{img}{escape(f.image_id)}<br>'
                    f"{escape(f.old or '<unparseable>')} &rarr; {escape(f.new or '<unparseable>')}<br>"
                    f"true: {escape(f.label)}</div>"
                )
            out.append("</div>")
    return "\n".join(out)


def _diagnostics(d: dict[str, Any]) -> str:
    out = ["<h3>Vote agreement</h3>"]
    out.append(
        _table(
            ("votes for the prediction", "images", "accuracy"),
            [
                (f"{h['agreed']} of {d['votes']}", str(h["images"]), f"{h['accuracy']:.3f}")
                for h in d["agreement_histogram"]
            ],
        )
    )
    bias = d["position_bias"]
    right, wrong = bias["right"], bias["wrong"]
    total_right, total_wrong = sum(right) or 1, sum(wrong) or 1
    out.append("<h3>Position bias</h3><p>Where in the shown class list the chosen class sat, per vote.</p>")
    out.append(
        _table(
            ("slot", "right votes", "share of right", "wrong votes", "share of wrong"),
            [
                (
                    str(i + 1),
                    str(right[i]),
                    f"{right[i] / total_right:.3f}",
                    str(wrong[i]),
                    f"{wrong[i] / total_wrong:.3f}",
                )
                for i in range(bias["slots"])
            ],
        )
    )
    return "\n".join(out)


def render_html(results: Sequence[ItemResult]) -> str:
    ordered = sorted(results, key=lambda r: (r.benchmark, r.model, r.strategy))
    failed = sum(1 for r in ordered if r.status != "passed")
    verdict = f"{failed} of {len(ordered)} item(s) failed" if failed else f"all {len(ordered)} item(s) passed"
    body = [f"<h1>pytest-vlm: {escape(verdict)}</h1>", _summary(ordered)] + [_item(r) for r in ordered]
    return (
        f'<!DOCTYPE html>\n{MARKER}\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>pytest-vlm report</title><style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
