"""A report to share: one self-contained HTML file (images embedded as JPEG data, no script, no request
to anywhere) with what the Explorer shows of one or more models on their common validation images: the
scores beside the all-empty line, images per IoU bucket, score by coverage class, the top error slices
with their images, the worst images with their outcome overlays and, for several models, where they
disagree most.
"""

from __future__ import annotations

import base64
import html
import time

import cv2
import numpy as np
import pandas as pd

from saltlab.analysis import summaries as analysis
from saltlab.analysis.render import OUTCOME_COLOURS, gray_to_rgb, mosaic, outcome_overlay
from saltlab.analysis.slices import explored_slices, slices_table

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } .below { color: #b00; font-weight: bold; } .note { color: #666; }
img { image-rendering: pixelated; max-width: 100%; }
"""


def image_data(rgb: np.ndarray, quality: int = 85) -> str:
    """An RGB image as a data: URL (JPEG at `quality`, base64), to embed in the page: seismic texture makes
    PNGs of these mosaics about five times larger for no difference a reader sees."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("an image could not be encoded as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def _image(rgb: np.ndarray, alt: str) -> str:
    return f'<img src="{image_data(rgb)}" alt="{html.escape(alt)}">'


def _table(frame: pd.DataFrame, index: bool = False) -> str:
    return frame.to_html(index=index, border=0, escape=True, float_format=lambda v: f"{v:.4f}")


def _tiles(ex, name: str, preds: np.ndarray, rows: list[int], labels: list[str]) -> str:
    tiles = []
    for k in rows:
        tiles += [gray_to_rgb(ex.images[k]), outcome_overlay(ex.images[k], preds[k], ex.truth[k])]
    pairs = [lab for label in labels for lab in (label, "")]
    return _image(mosaic(tiles, 8, pairs, scale=2), f"{name}: images and outcomes") if tiles else "<p>none</p>"


def _scores_section(ex, view) -> str:
    empty = view.summaries[0].empty_score
    rows = []
    for s in view.summaries:
        flag = ' <span class="below">worse than predicting nothing</span>' if s.below_empty else ""
        rows.append(
            f"<tr><th>{html.escape(s.name)}</th><td>{s.score:.4f}</td><td>{s.score - empty:+.4f}</td>"
            f"<td>{s.mean_iou:.4f}</td><td>{s.confusion['false negative']}</td>"
            f"<td>{s.confusion['false positive']}</td><td style='text-align:left'>{flag}</td></tr>"
        )
    return (
        f"<h2>Scores</h2><p>{len(ex.ids)} validation images common to the models. Predicting every mask empty "
        f"scores <b>{empty:.4f}</b> on them: the line every model must beat.</p>"
        "<table><tr><th>model</th><th>score</th><th>vs all-empty</th><th>mean IoU</th><th>salt missed</th>"
        f"<th>false alarms</th><th></th></tr>{''.join(rows)}</table>"
    )


def _worst_section(ex, view, name: str, limit: int) -> str:
    scores = view.table[f"score {name}"].to_numpy()
    worst = list(np.argsort(scores, kind="stable")[:limit])
    labels = [f"{ex.ids[k][:10]} {scores[k]:.1f}" for k in worst]
    return f"<h3>{html.escape(name)}: the {len(worst)} worst images</h3>" + _tiles(
        ex, name, view.preds[name], worst, labels
    )


def _slices_section(ex, options, view, name: str, against: str | None) -> str:
    found, what = explored_slices(ex, options, name, against, top=5)
    title = f"where {name} does worst" if against is None else f"where {name} beats {against} most"
    if not found:
        return f"<h3>Error slices: {html.escape(title)}</h3><p>No slice stands out by two standard errors.</p>"
    parts = [f"<h3>Error slices: {html.escape(title)}</h3>", _table(slices_table(found, what))]
    where = {id_: k for k, id_ in enumerate(ex.ids)}
    for piece in found[:3]:
        rows = [where[i] for i in piece.ids[:8]]
        labels = [ex.ids[k][:10] for k in rows]
        parts.append(f"<p>{html.escape(piece.definition)}: the first {len(rows)} of {piece.size}</p>")
        parts.append(_tiles(ex, name, view.preds[name], rows, labels))
    return "".join(parts)


def _disagreement_section(ex, view, limit: int) -> str:
    a, b = ex.names[:2]
    delta = view.table[f"score {b}"] - view.table[f"score {a}"]
    parts = [f"<h2>Where {html.escape(a)} and {html.escape(b)} disagree</h2>"]
    transitions = analysis.bucket_transitions(view.table[f"score {a}"], view.table[f"score {b}"])
    parts.append(f"<p>Images moving between IoU buckets (rows {html.escape(a)}, columns {html.escape(b)}):</p>")
    parts.append(_table(transitions, index=True))
    for winner, order in (
        (b, np.argsort(-delta.to_numpy(), kind="stable")),
        (a, np.argsort(delta.to_numpy(), kind="stable")),
    ):
        rows = [k for k in order[:limit] if delta.iloc[k] != 0]
        labels = [f"{ex.ids[k][:10]} {delta.iloc[k]:+.1f}" for k in rows]
        parts.append(f"<h3>where {html.escape(winner)} wins most</h3>")
        parts.append(_tiles(ex, winner, view.preds[winner], rows, labels))
    return "".join(parts)


def html_report(ex, options: analysis.PostProcess = analysis.PostProcess(), worst: int = 16) -> str:
    """The whole report as one HTML string (an Explored from saltlab.analysis.explore)."""
    view = ex.view(options)
    legend = " · ".join(
        f"<span style='color:rgb{colour}'>&#9632;</span> {what}" for what, colour in OUTCOME_COLOURS.items()
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>SaltLab report: {html.escape(', '.join(ex.names))}"
        f"</title><style>{STYLE}</style></head><body>",
        f"<h1>SaltLab report: {html.escape(', '.join(ex.names))}</h1>",
        f"<p class='note'>{time.strftime('%Y-%m-%d %H:%M')}; threshold {options.threshold}, minimum component "
        f"{options.min_size} px; data set {html.escape(str(getattr(ex.dataset, 'root', '')))}. Overlays: {legend}.</p>",
        *[f"<p class='note'>note: {html.escape(n)}</p>" for n in ex.notes],
        _scores_section(ex, view),
        "<h2>Images per IoU bucket</h2>",
        _table(analysis.bucket_table(view.summaries), index=True),
        "<h2>Score by coverage class</h2>",
        _table(view.table.groupby("coverage_class")[[f"score {n}" for n in ex.names]].mean(), index=True),
        "<h2>Error slices and the worst images</h2>",
    ]
    for name in ex.names:
        parts += [_slices_section(ex, options, view, name, None), _worst_section(ex, view, name, worst)]
    if len(ex.names) >= 2:
        parts += [_slices_section(ex, options, view, ex.names[1], ex.names[0]), _disagreement_section(ex, view, 8)]
    parts.append("</body></html>")
    return "\n".join(parts)
