"""Charts as inline SVG, drawn by matplotlib (no pyplot: safe on any thread). Text stays text
(``svg.fonttype = none``) so the page's CJK fonts draw the area names."""

from __future__ import annotations

import io
import itertools
import logging
from typing import Sequence

import matplotlib
import numpy as np
import shapely
from matplotlib import font_manager
from matplotlib.collections import PolyCollection
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

# the names are drawn by the page's fonts (text stays text); matplotlib only measures them, with
# the first CJK font it has (WenQuanYi Zen Hei is medium weight only: it says so for every label)
_CJK = [f for f in ("WenQuanYi Zen Hei", "Noto Sans CJK SC", "Source Han Sans SC", "Droid Sans Fallback")
        if f in {x.name for x in font_manager.fontManager.ttflist}]
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
matplotlib.rcParams.update({"svg.fonttype": "none", "font.size": 9, "font.family": [*_CJK, "DejaVu Sans"]})

GREEN, GREY, RED, AMBER = "#2ea043", "#8b949e", "#d73a49", "#d29922"
_STATUS = LinearSegmentedColormap.from_list("coverage", [RED, AMBER, GREEN])


_drawn = itertools.count(1)


def _svg(fig: Figure) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight", dpi=150)
    text = out.getvalue()
    text = text[text.index("<svg"):]  # inline: no XML prolog
    # several charts on one page: each one's ids (matplotlib's text_1, clip paths …) made its own
    k = next(_drawn)
    return (text.replace('id="', f'id="c{k}-').replace("url(#", f"url(#c{k}-")
            .replace('xlink:href="#', f'xlink:href="#c{k}-').replace('href="#', f'href="#c{k}-')
            .replace(f'xlink:href="#c{k}-c{k}-', f'xlink:href="#c{k}-'))


def shares_bars(labels: Sequence[str], met: Sequence[float], unknown: Sequence[float], target: float,
                title: str, flagged: Sequence[bool] = ()) -> str:
    """Horizontal bars: met (green), unknown (grey), not met (red), the target as a line; the
    flagged (a yellow card) marked."""
    n = len(labels)
    fig = Figure(figsize=(7.5, 0.32 * n + 1.1))
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    met, unknown = np.asarray(met, float), np.asarray(unknown, float)
    ax.barh(y, met, color=GREEN, label="达标 met")
    ax.barh(y, unknown, left=met, color=GREY, label="未知 unknown")
    ax.barh(y, 1 - met - unknown, left=met + unknown, color=RED, label="未达标 not met")
    ax.axvline(target, color="#000", linestyle="--", linewidth=1)
    ax.text(target, n - 0.4, f" {target:.0%}", va="bottom", fontsize=8)
    ax.set_yticks(y, list(labels))
    for k, tick in enumerate(ax.get_yticklabels()):  # a yellow card: the label on yellow
        if k < len(flagged) and flagged[k]:
            tick.set_bbox({"facecolor": "#ffd33d", "edgecolor": "#9a6700", "pad": 1.5})
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title(title, loc="left")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0 + 0.9 / (0.32 * n + 1.1)), ncol=3, frameon=False, fontsize=8)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    return _svg(fig)


def coverage_map(polygons: Sequence[shapely.Geometry], covered: Sequence[float | None], title: str,
                 unknown: Sequence[float] | None = None) -> str:
    """The grid's cells coloured by their covered share of the known time (red 0 → green 1);
    grey where unknown for half the period or more, or not assessed."""
    verts, colours = [], []
    unknown = unknown if unknown is not None else [0.0] * len(polygons)
    for g, c, u in zip(polygons, covered, unknown, strict=True):
        for part in getattr(g, "geoms", [g]):
            verts.append(np.asarray(part.exterior.coords))
            colours.append(GREY if c is None or u >= 0.5 else _STATUS(c / (1 - u) if u < 1 else 0.0))
    fig = Figure(figsize=(6.5, 5.2))
    ax = fig.add_subplot()
    # a large grid is drawn as an image inside the SVG: thousands of vector paths weigh megabytes and
    # slow every reader of the page (and the PDF converter) for no detail the eye can use
    many = len(verts) > 1_500
    ax.add_collection(PolyCollection(verts, facecolors=colours, edgecolors="#ffffff", linewidths=0.1 if many else 0.3,
                                     rasterized=many))
    ax.autoscale_view()
    ax.set_aspect(1 / np.cos(np.radians(np.mean([v[:, 1].mean() for v in verts])) if verts else 1))
    ax.set_axis_off()
    ax.set_title(title, loc="left")
    sm = matplotlib.cm.ScalarMappable(cmap=_STATUS, norm=matplotlib.colors.Normalize(0, 1))
    bar = fig.colorbar(sm, ax=ax, fraction=0.035, pad=0.02, format=matplotlib.ticker.PercentFormatter(1.0))
    bar.set_label("covered share of the known time 覆盖率 (grey: unknown 未知)")
    return _svg(fig)


def trend(days: Sequence[str], series: dict[str, Sequence[float | None]], target: float, title: str) -> str:
    """Lines over the days (or weeks, quarters) of the period, the target as a line."""
    fig = Figure(figsize=(7.5, 2.8))
    ax = fig.add_subplot()
    x = np.arange(len(days))
    for name, values in series.items():
        ax.plot(x, [np.nan if v is None else v for v in values], marker="o" if len(days) <= 31 else None,
                markersize=3, linewidth=1.5, label=name)
    ax.axhline(target, color="#000", linestyle="--", linewidth=1)
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    step = max(1, len(days) // 10)
    ax.set_xticks(x[::step], [days[k] for k in range(0, len(days), step)], rotation=30, ha="right")
    ax.set_title(title, loc="left")
    ax.legend(frameon=False, fontsize=8, ncol=min(4, len(series)))
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    return _svg(fig)


def bars(labels: Sequence[str], values: Sequence[float], title: str, unit: str) -> str:
    """Plain horizontal bars, largest first as given."""
    n = max(1, len(labels))
    fig = Figure(figsize=(7.5, 0.32 * n + 0.9))
    ax = fig.add_subplot()
    y = np.arange(len(labels))[::-1]
    ax.barh(y, values, color=AMBER)
    ax.set_yticks(y, list(labels))
    ax.set_xlabel(unit)
    ax.set_title(title, loc="left")
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    return _svg(fig)
