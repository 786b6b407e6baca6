"""The lab's report: matplotlib plots, CSV tables and one HTML page that ties them together.

Every file is written atomically; the page uses relative links only, so the folder can be moved
or served as it is.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facereel.core.atomic import atomic_path, write_text


def _csv(path: Path, rows: Sequence[dict]) -> Path:
    buf = io.StringIO()
    if rows:
        cols = list(dict.fromkeys(k for r in rows for k in r))
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return write_text(path, buf.getvalue())


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _figure().close(fig)
    return path


def plot_pairs(pairs, path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 4))
    for p in pairs:
        ax.plot(p.ages, p.errors, marker=".", lw=1,
                label=f"{p.start_age:.1f} → {p.end_age:.1f} y ({p.interpolator})")
    ax.set_xlabel("age (years)")
    ax.set_ylabel("distance to the interpolation line ‖d‖")
    ax.set_title("Projection error of each real latent")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_layers(pair, path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, err in pair.layer_errors.items():
        ax.plot(pair.ages, err, marker=".", lw=1, label=name)
    ax.set_xlabel("age (years)")
    ax.set_ylabel("‖d‖ inside the layer group")
    ax.set_title(f"Per-layer error, {pair.start_age:.1f} → {pair.end_age:.1f} years")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_spans(spans, path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [s.span for s in spans]
    ax.errorbar(xs, [s.mean_error for s in spans], yerr=[s.std_error for s in spans], marker="o", capsize=3)
    ax.set_xlabel("span between start and end photo (years)")
    ax.set_ylabel("mean distance to the line ‖d‖")
    ax.set_title("Error against span (all pairs)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_path(path2d: np.ndarray, ages: np.ndarray, line: np.ndarray | None, var: np.ndarray, path: Path) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 5))
    sc = ax.scatter(path2d[:, 0], path2d[:, 1], c=ages, cmap="viridis", s=18)
    ax.plot(path2d[:, 0], path2d[:, 1], color="0.7", lw=0.6, zorder=0)
    if line is not None:
        ax.plot(line[:, 0], line[:, 1], "r-", lw=2, label="interpolation line")
        ax.legend(fontsize=8)
    fig.colorbar(sc, ax=ax, label="age (years)")
    ax.set_xlabel(f"PC 1 ({100 * var[0]:.0f} % of variance)")
    ax.set_ylabel(f"PC 2 ({100 * var[1]:.0f} % of variance)" if len(var) > 1 else "PC 2")
    ax.set_title("Latent path on its first two principal components")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _table(rows: Sequence[dict]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(f'{r.get(c):.4g}' if isinstance(r.get(c), float) else str(r.get(c, '')))}</td>"
                         for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html(path: Path, *, title: str, settings: dict, sections: Sequence[tuple[str, str, list[dict], str | None]],
               notes: Sequence[str] = ()) -> Path:
    """``sections``: (heading, image file or "", table rows, csv file or None)."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for n in notes:
        parts.append(f"<p class='note'>{html.escape(n)}</p>")
    for heading, image, rows, csv_name in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if image:
            parts.append(f"<img src='{html.escape(image)}' alt='{html.escape(heading)}'>")
        parts.append(_table(rows))
        if csv_name:
            parts.append(f"<p><a href='{html.escape(csv_name)}'>{html.escape(csv_name)}</a></p>")
    parts.append("<h2>Settings</h2><pre>" + html.escape(json.dumps(settings, indent=2, default=str)) + "</pre>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(title) + "</title><style>"
            "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
            "img{max-width:100%}.note{color:#555}</style></head><body>" + "\n".join(parts) + "</body></html>\n")
    return write_text(path, page)
