"""Charts of the report: matplotlib figures as deterministic SVG data URIs.

Determinism: a fixed ``svg.hashsalt`` (ids inside the SVG), no ``Date`` metadata, text kept
as text (``svg.fonttype = none``: smaller, crisp, and no glyph paths that depend on the
installed font files). Same numbers in, same bytes out.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Sequence

import numpy as np

# Palette shared with the page CSS.
INK = "#1f2937"
MUTED = "#94a3b8"
GRID = "#e5e7eb"
BEFORE = "#cbd5e1"
AFTER = "#4f46e5"
KEPT = "#16a34a"
DROPPED = "#ef4444"
SPLIT_COLOURS = {"train": "#4f46e5", "val": "#0ea5e9", "test": "#f59e0b"}

_RC = {
    "svg.hashsalt": "portraitkit-report",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 10,
    "axes.edgecolor": GRID,
    "axes.labelcolor": INK,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlecolor": INK,
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "xtick.color": "#4b5563",
    "ytick.color": "#4b5563",
    "legend.frameon": False,
    "path.simplify": False,
}


@dataclass(frozen=True)
class Histogram:
    """Counts of one or more series over shared bins (also written as DVC plot CSVs)."""

    edges: np.ndarray
    series: dict[str, np.ndarray]

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2


def coverage_histogram(before: Sequence[float], after: Sequence[float], bins: int) -> Histogram:
    edges = np.linspace(0.0, 1.0, bins + 1)

    def count(values: Sequence[float]) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        v = np.clip(v[np.isfinite(v)], 0.0, 1.0)
        return np.histogram(v, bins=edges)[0]

    return Histogram(edges, {"before": count(before), "after": count(after)})


def integer_histogram(before: Sequence[float], after: Sequence[float]) -> Histogram:
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    b, a = b[np.isfinite(b)].astype(int), a[np.isfinite(a)].astype(int)
    top = int(max(b.max(initial=0), a.max(initial=0)))
    edges = np.arange(0, top + 2) - 0.5
    return Histogram(
        edges,
        {"before": np.bincount(b, minlength=top + 1)[: top + 1], "after": np.bincount(a, minlength=top + 1)[: top + 1]},
    )


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(width, height), dpi=100)


def to_svg_uri(fig) -> str:
    """Serialise a figure to an SVG data URI, byte-for-byte reproducibly, and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight", pad_inches=0.08)
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _rc():
    import matplotlib

    return matplotlib.rc_context(_RC)


def funnel_chart(source: int, steps: Sequence[dict]) -> str:
    """Horizontal bars: images remaining after each rule, with the drop per rule."""
    labels = ["source images"] + [str(s["rule"]).replace("_", " ") for s in steps]
    remaining = [source] + [int(s["remaining"]) for s in steps]
    dropped = [0] + [int(s["dropped"]) for s in steps]
    with _rc():
        fig = _figure(8.0, 0.42 * len(labels) + 0.9)
        ax = fig.add_subplot()
        y = np.arange(len(labels))[::-1]
        ax.barh(y, remaining, color=[MUTED] + [AFTER] * (len(labels) - 1), height=0.62)
        ax.barh(y, dropped, left=remaining, color=DROPPED, alpha=0.35, height=0.62)
        span = max(source, 1)
        for yi, r, d in zip(y, remaining, dropped):
            text = f"{r:,}" + (f"   −{d:,}" if d else "")
            ax.text(r + d + span * 0.01, yi, text, va="center", fontsize=9, color=INK)
        ax.set_yticks(y, labels)
        ax.set_xlim(0, span * 1.18)
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("images remaining (red: dropped by the rule)")
        return to_svg_uri(fig)


def coverage_chart(h: Histogram, lo: float | None, hi: float | None) -> str:
    with _rc():
        fig = _figure(6.0, 3.2)
        ax = fig.add_subplot()
        width = float(h.edges[1] - h.edges[0])
        if lo is not None and hi is not None:
            ax.axvspan(lo, hi, color=KEPT, alpha=0.07, lw=0, label=f"kept range {lo:g}–{hi:g}")
        ax.bar(h.centers, h.series["before"], width=width * 0.92, color=BEFORE, label="before curation")
        ax.bar(h.centers, h.series["after"], width=width * 0.92, color=AFTER, label="after curation")
        ax.set_xlim(0, 1)
        ax.set_xlabel("person coverage (union mask / image area)")
        ax.set_ylabel("images")
        ax.set_title("Coverage")
        ax.legend(loc="upper right", fontsize=8.5)
        return to_svg_uri(fig)


def persons_chart(h: Histogram) -> str:
    with _rc():
        fig = _figure(6.0, 3.2)
        ax = fig.add_subplot()
        x = h.centers
        ax.bar(x - 0.2, h.series["before"], width=0.4, color=BEFORE, label="before curation")
        ax.bar(x + 0.2, h.series["after"], width=0.4, color=AFTER, label="after curation")
        ax.set_xticks(x, [str(int(round(v))) for v in x])
        ax.set_xlabel("persons per image")
        ax.set_ylabel("images")
        ax.set_title("Persons per image")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper right", fontsize=8.5)
        return to_svg_uri(fig)


def splits_chart(sizes: dict[str, int]) -> str:
    with _rc():
        fig = _figure(6.0, 1.1 + 0.42 * len(sizes))
        ax = fig.add_subplot()
        names = list(sizes)
        y = np.arange(len(names))[::-1]
        vals = [sizes[n] for n in names]
        ax.barh(y, vals, color=[SPLIT_COLOURS.get(n, AFTER) for n in names], height=0.6)
        total = max(sum(vals), 1)
        for yi, v in zip(y, vals):
            ax.text(v + max(vals + [1]) * 0.01, yi, f"{v:,}  ({v / total:.0%})", va="center", fontsize=9, color=INK)
        ax.set_yticks(y, names)
        ax.set_xlim(0, max(vals + [1]) * 1.25)
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("images")
        ax.set_title("Split sizes")
        return to_svg_uri(fig)


def coarseness_chart(values: Sequence[float], flagged: Sequence[bool] | None, bins: int = 30) -> str:
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    with _rc():
        fig = _figure(6.0, 3.0)
        ax = fig.add_subplot()
        lo, hi = (float(v[ok].min()), float(v[ok].max())) if ok.any() else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, bins + 1)
        if flagged is None:
            ax.hist(v[ok], bins=edges, color=AFTER)
        else:
            f = np.asarray(flagged, dtype=bool)
            ax.hist([v[ok & ~f], v[ok & f]], bins=edges, stacked=True, color=[BEFORE, DROPPED],
                    label=["not flagged", "flagged"])
            ax.legend(loc="upper right", fontsize=8.5)
        ax.set_xlabel("coarseness score")
        ax.set_ylabel("persons")
        ax.set_title("Coarseness")
        return to_svg_uri(fig)
