"""The HTML report (``--vlm-html PATH``): one self-contained file that renders offline.

Inline CSS, no scripts, no fonts or files fetched from anywhere: the confusion matrices are
inline SVG and the thumbnails JPEG data URIs. Thumbnails (the misclassified and the flipped
images) are made where the item ran (an xdist worker has the images; the controller that writes
the report may not), and travel in the item's result.

Layout: the verdict, a table of contents (items that did not pass first), the summary tables
whose names link to their items, then the items, failed first. Each item opens with why it
failed and the gallery of its misclassified images, which is what users look at first.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from html import escape
from itertools import groupby
from typing import Any

from pytest_vlm.printable import printable
from pytest_vlm.reports.markdown import _value, verdict
from pytest_vlm.reports.rows import WARM_NOTE, failure_reasons, summary_rows
from pytest_vlm.results import ItemResult
from pytest_vlm.scoring.metrics import UNPARSEABLE, Metrics

MARKER = "<!-- pytest-vlm report -->"
THUMBNAIL_SIZE = 64
THUMBNAIL_LIMIT = 60  # per item: a report stays small even when a whole benchmark flipped

_CSS = """
body { font-family: system-ui, sans-serif; margin: 16px 24px; color: #1b1b1b; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 18px; margin: 24px 0 8px; }
h3 { font-size: 15px; margin: 12px 0 6px; }
table { border-collapse: collapse; margin: 4px 0 12px; font-size: 13px; }
th, td { border: 1px solid #c8c8c8; padding: 3px 8px; text-align: right; }
td { white-space: nowrap; } /* names and numbers never break; a table too wide scrolls in its box */
th { background: #eef1f5; } td.name, th.name { text-align: left; }
.scroll { max-width: 100%; overflow-x: auto; }
a { color: #0b57d0; }
.passed { color: #116329; font-weight: bold; } .failed, .error { color: #b3261e; font-weight: bold; }
nav ol { columns: 2 360px; column-gap: 48px; margin: 4px 0 12px; padding-left: 24px; font-size: 13px; }
nav li { overflow-wrap: anywhere; }
section.item { border-top: 2px solid #c8c8c8; margin-top: 16px; }
section.item.not-passed { border-top-color: #b3261e; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; padding: 8px; font-size: 12px; }
.panels { display: flex; flex-wrap: wrap; gap: 8px 32px; align-items: flex-start; }
.panels > div { max-width: 100%; overflow-x: auto; }
.gallery { display: flex; flex-wrap: wrap; gap: 8px; }
.card { border: 1px solid #c8c8c8; padding: 4px; font-size: 11px; width: 112px; text-align: center;
        overflow-wrap: anywhere; }
.card img { width: 96px; height: 96px; image-rendering: pixelated; display: block; margin: 0 auto 4px; }
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


def item_thumbnails(
    examples: Sequence[Any], image_ids: Sequence[str], limit: int = 2 * THUMBNAIL_LIMIT
) -> dict[str, str]:
    """Thumbnails of the first ``limit`` distinct ``image_ids``, by id."""
    wanted = list(dict.fromkeys(image_ids))[:limit]
    by_id = {ex.id: ex for ex in examples if ex.id in set(wanted)}
    return {i: thumbnail_data_uri(by_id[i].load()) for i in wanted if i in by_id}


def shown_images(result: ItemResult) -> list[str]:
    """The images the report shows: misclassified ones, then flipped ones."""
    wrong = [p.image_id for p in result.predictions if p.prediction != p.label]
    flipped = [f.image_id for f in result.comparison.flips] if result.comparison is not None else []
    return wrong[:THUMBNAIL_LIMIT] + flipped[:THUMBNAIL_LIMIT]


def confusion_svg(metrics: Metrics, cell: int = 30) -> str:
    """The confusion matrix (rows: true, columns: predicted) as an inline SVG heat map."""
    labels = metrics.confusion_labels
    # No true label is ever unparseable: that row would always be empty, so only its column is drawn.
    rows = [(label, row) for label, row in zip(labels, metrics.confusion) if label != UNPARSEABLE]
    n = len(labels)
    margin = 8 + 7 * max((len(label) for label in labels), default=4)
    width, height = margin + n * cell + 4, margin + len(rows) * cell + 4
    top = max((max(row) for _, row in rows), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="confusion matrix" font-family="sans-serif" '
        'font-size="11">'
    ]
    for i, (label, _) in enumerate(rows):
        y = margin + i * cell + cell / 2 + 4
        parts.append(f'<text x="{margin - 4}" y="{y}" text-anchor="end">{escape(label)}</text>')
    for j, label in enumerate(labels):
        x = margin + j * cell + cell / 2
        parts.append(f'<text transform="translate({x + 4},{margin - 4}) rotate(-90)">{escape(label)}</text>')
    for i, (_, row) in enumerate(rows):
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
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def _key(r: Any) -> tuple[str, str, str]:
    return (r.benchmark, r.model, r.strategy)


def _summary(results: Sequence[ItemResult], anchors: dict[tuple[str, str, str], str]) -> str:
    out = []
    for benchmark, group in groupby(summary_rows(results), key=lambda r: r.benchmark):
        rows = list(group)
        out.append(f"<h2>{escape(benchmark)}</h2>")
        note = f"<p>{escape(WARM_NOTE)}</p>" if any(r.warm for r in rows) else ""
        out.append(
            _table(
                (
                    "model",
                    "strategy",
                    "accuracy [95% CI]",
                    "macro F1 [95% CI]",
                    "weighted F1 [95% CI]",
                    "it/s",
                    "cached",
                    "status",
                    "baseline",
                ),
                [
                    (
                        f'<a href="#{anchors[_key(r)]}">{escape(printable(r.model))}</a>',
                        escape(r.strategy),
                        _value(r.accuracy, r.accuracy_ci),
                        _value(r.macro_f1, r.macro_f1_ci),
                        _value(r.weighted_f1, r.weighted_f1_ci),
                        escape(r.speed),
                        escape(r.cached),
                        f'<span class="{escape(r.status)}">{escape(r.status)}</span>',
                        escape(r.baseline),
                    )
                    for r in rows
                ],
                names=2,
            )
            + note
        )
    return "\n".join(out)


def _title(r: ItemResult) -> str:
    return escape(printable(f"{r.benchmark} / {r.model} / {r.strategy}"))


def _contents(ordered: Sequence[ItemResult], anchors: dict[tuple[str, str, str], str]) -> str:
    entries = []
    for r in ordered:
        reasons = "; ".join(failure_reasons(r))
        if len(reasons) > 160:  # the item's section has the whole text
            reasons = reasons[:159] + "…"
        why = f": {escape(printable(reasons))}" if reasons else ""
        entries.append(
            f'<li><a href="#{anchors[_key(r)]}">{_title(r)}</a> '
            f'<span class="{escape(r.status)}">{escape(r.status)}</span>{why}</li>'
        )
    return f"<nav><h2>Contents</h2><ol>{''.join(entries)}</ol></nav>"


def _gallery(r: ItemResult) -> str:
    """The misclassified images: picture, id, what the model said, the truth."""
    wrong = [p for p in r.predictions if p.prediction != p.label]
    if not wrong:
        return ""
    shown = wrong[:THUMBNAIL_LIMIT]
    cards = []
    for p in shown:
        thumb = r.thumbnails.get(p.image_id)
        img = f'<img src="{thumb}" alt="{escape(p.image_id)}">' if thumb else ""
        cards.append(
            f'<div class="card">{img}{escape(p.image_id)}<br>said: {escape(p.prediction or UNPARSEABLE)}<br>'
            f"true: {escape(p.label)}</div>"
        )
    more = f" (the first {len(shown)})" if len(wrong) > len(shown) else ""
    head = f"<h3>Misclassified: {len(wrong)} of {len(r.predictions)} images{more}</h3>"
    return head + f'<div class="gallery">{"".join(cards)}</div>'


def _item(r: ItemResult, anchor: str) -> str:
    css = "item" if r.status == "passed" else "item not-passed"
    out = [
        f'<section class="{css}" id="{anchor}"><h2>{_title(r)} '
        f'<span class="{escape(r.status)}">{escape(r.status)}</span></h2>'
    ]
    m = r.metrics
    if r.failures:
        out.append(f"<pre>{escape(printable(chr(10).join(r.failures)))}</pre>")
    if m is None:
        return "\n".join(out) + "</section>"
    out.append(_gallery(r))
    c = r.comparison
    deltas = c.f1_delta if c is not None else {}
    per_class = _table(
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
    matrix = "<h3>Confusion matrix</h3><p>rows: true class; columns: predicted class</p>" + confusion_svg(m)
    panels = [f"<div><h3>Per class</h3>{per_class}</div>", f'<div class="confusion">{matrix}</div>']
    if r.diagnostics:
        panels.append(f"<div>{_diagnostics(r.diagnostics)}</div>")
    out.append(f'<div class="panels">{"".join(panels)}</div>')
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
            out.append('<h3>Flipped</h3><div class="gallery">')
            for f in c.flips[:THUMBNAIL_LIMIT]:
                css = "worse" if f.old == f.label else "better" if f.new == f.label else ""
                thumb = r.thumbnails.get(f.image_id)
                img = f'<img src="{thumb}" alt="{escape(f.image_id)}">' if thumb else ""
                out.append(
                    f'<div class="card {css}">{img}{escape(f.image_id)}<br>'
                    f"{escape(f.old or UNPARSEABLE)} &rarr; {escape(f.new or UNPARSEABLE)}<br>"
                    f"true: {escape(f.label)}</div>"
                )
            out.append("</div>")
    return "\n".join(out) + "</section>"


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


def render_html(results: Sequence[ItemResult], *, exit_status: int | None = None) -> str:
    # Items that did not pass first: they are what the reader came for.
    ordered = sorted(results, key=lambda r: (r.status == "passed", *_key(r)))
    anchors = {_key(r): f"item-{i + 1}" for i, r in enumerate(ordered)}
    said = verdict(ordered) if ordered else f"no benchmark item ran (pytest exit status {exit_status})"
    body = [f"<h1>pytest-vlm: {escape(said)}</h1>"]
    if ordered:
        body += [_contents(ordered, anchors), _summary(sorted(results, key=_key), anchors)]
        body += [_item(r, anchors[_key(r)]) for r in ordered]
    return (
        f'<!DOCTYPE html>\n{MARKER}\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>pytest-vlm report</title><style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
