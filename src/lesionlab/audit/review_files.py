"""What a reviewer reads: the audit as a CSV (every image) and one self-contained HTML gallery (the most
suspect images with thumbnail, given label, suggested label, score and why), both written atomically."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment

from lesionlab.audit.core import AuditResult
from lesionlab.evaluation.page import thumbnail
from lesionlab.io import write_json, write_text

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.card { width: 220px; border: 1px solid #ccc; border-radius: 6px; padding: 8px; font-size: 13px; }
.card img { width: 96px; height: 96px; object-fit: cover; float: left; margin: 0 8px 4px 0; }
.flip { border-color: #c0392b; border-width: 2px; }
.why { clear: both; color: #555; font-size: 12px; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; border-bottom: 1px solid #eee; }
</style></head><body>
<h1>{{ title }}</h1>
<p>{{ n }} labelled images audited; the {{ cards|length }} most suspect are shown, most suspect first.
The score ranks images by how likely their label is wrong (a weighted mean of the ranks of: {{ weights }}).
Every image is in <code>audit.csv</code>.</p>
{% if metrics %}<h2>Known flips</h2><table>
<tr><th>k</th><th>flips</th><th>found in top k</th><th>precision at k</th><th>recall at k</th></tr>
{% for m in metrics %}<tr><td>{{ m.k }}</td><td>{{ m.n_flipped }}</td><td>{{ m.hits }}</td>
<td>{{ "%.3f"|format(m.precision_at_k) }}</td><td>{{ "%.3f"|format(m.recall_at_k) }}</td></tr>{% endfor %}
</table>{% endif %}
<div class="grid">
{% for c in cards %}<div class="card{% if c.flipped %} flip{% endif %}">
{% if c.uri %}<img src="{{ c.uri }}" alt="{{ c.image_id }}">{% endif %}
<b>#{{ c.rank }}</b> {{ c.image_id }}<br>given: <b>{{ c.given_label }}</b><br>
suggested: <b>{{ c.suggested_label or "none" }}</b>{% if not c.suggested_label %}
(the model's most probable class is the given one){% endif %}<br>score {{ "%.3f"|format(c.score) }}
{% if c.flipped %}<br><i>known flip</i>{% endif %}
<div class="why">{{ c.why }}</div></div>
{% endfor %}</div></body></html>
"""


def audit_csv(result: AuditResult, paths: Mapping[str, Any] | None = None) -> str:
    """Every image, most suspect first: rank, id, given, suggested, score, each signal, why, path."""
    rows = result.rows()
    buf = io.StringIO()
    fields = [*rows[0].keys(), "image_path"] if rows else ["rank", "image_id"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "image_path": str((paths or {}).get(row["image_id"], ""))})
    return buf.getvalue()


def write_audit(
    result: AuditResult,
    out: Path,
    paths: Mapping[str, Any] | None = None,
    top: int = 100,
    flipped: set[str] | None = None,
    title: str = "Label audit",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write `audit.csv`, `audit.html` (the `top` most suspect, with thumbnails from `paths`) and
    `audit.json` (the settings and, when `flipped` is given, precision and recall at k) into `out`."""
    out = Path(out)
    metrics = []
    if flipped:
        n = len(flipped)
        for k in sorted({n, *(k for k in (10, 50, 100) if k < len(result.ids))}):
            metrics.append(result.precision_recall_at_k(flipped, k))
    cards = []
    for row in result.rows(top):
        path = (paths or {}).get(row["image_id"])
        cards.append(
            {**row, "uri": thumbnail(path) if path else None, "flipped": row["image_id"] in (flipped or ())}
        )
    weights = ", ".join(f"{k} {w:g}" for k, w in result.weights.items() if w > 0)
    page = (
        Environment(autoescape=True)
        .from_string(_PAGE)
        .render(title=title, n=len(result.ids), cards=cards, metrics=metrics, weights=weights)
    )
    write_text(out / "audit.csv", audit_csv(result, paths))
    write_text(out / "audit.html", page)
    summary = {
        "n_images": len(result.ids),
        "weights": result.weights,
        "at_k": metrics,
        "top": [r["image_id"] for r in result.rows(min(top, 20))],
        **(extra or {}),
    }
    write_json(out / "audit.json", summary)
    return summary
