"""The ``report`` stage: stage outputs in, one self-contained HTML page + DVC metrics/plots out.

Outputs (all deterministic: no timestamps, no absolute paths unless given on the command line):

- ``<out>/index.html``: the report, every image and script embedded (opens offline);
- ``<metrics>``: headline numbers as JSON (``dvc metrics show``);
- ``<plots>/*.csv``: the histograms (``dvc plots show``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portraitkit import __version__
from portraitkit.io import write_json
from portraitkit.outputs import check_file_output, check_output, stage_json, stage_output
from portraitkit.params import Params
from portraitkit.reports import charts
from portraitkit.reports.collect import ReportData, ReportInputs, collect
from portraitkit.reports.identity import build_identity
from portraitkit.reports.render import render_html
from portraitkit.reports.sections import SECTIONS, BuildContext, Section, funnel_steps, headline, kpis

INDEX = "index.html"


@dataclass
class ReportResult:
    html: Path
    metrics: Path | None
    plots: Path | None
    headline: dict[str, Any]
    fingerprint: str
    sections: list[tuple[str, bool]]  # (id, available)
    size_bytes: int


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def plot_tables(data: ReportData, params: Params) -> dict[str, str]:
    """CSV text of each DVC plot, by file name."""
    # Every file exists even when its stage has not run (DVC expects declared plots to exist).
    out: dict[str, str] = {
        "coverage_before.csv": _csv(["coverage", "images"], []),
        "coverage_after.csv": _csv(["coverage", "images"], []),
        "persons_before.csv": _csv(["persons", "images"], []),
        "persons_after.csv": _csv(["persons", "images"], []),
        "funnel.csv": _csv(["step", "remaining"], []),
    }
    cur = data.curated
    if cur is None:
        return out
    man, kept = cur.manifest, cur.kept
    if "coverage" in man.columns:
        h = charts.coverage_histogram(man["coverage"], kept["coverage"], params.report.coverage_bins)
        for series in ("before", "after"):
            rows = [[f"{lo:.2f}-{hi:.2f}", int(n)] for lo, hi, n in zip(h.edges[:-1], h.edges[1:], h.series[series])]
            out[f"coverage_{series}.csv"] = _csv(["coverage", "images"], rows)
    if "n_persons" in man.columns:
        h = charts.integer_histogram(man["n_persons"], kept["n_persons"])
        for series in ("before", "after"):
            rows = [[f"{int(round(c)):02d}", int(n)] for c, n in zip(h.centers, h.series[series])]
            out[f"persons_{series}.csv"] = _csv(["persons", "images"], rows)
    source, steps = funnel_steps(data)
    if steps:
        rows = [["00 source", int(source or 0)]] + [
            [f"{i:02d} {s['rule']}", int(s["remaining"])] for i, s in enumerate(steps, start=1)
        ]
        out["funnel.csv"] = _csv(["step", "remaining"], rows)
    return out


def build_report(
    inputs: ReportInputs,
    params: Params,
    out_dir: str | Path,
    metrics_path: str | Path | None = None,
    plots_dir: str | Path | None = None,
    sections: list[Section] | None = None,
) -> ReportResult:
    # every output checked before any work: never an input, another output, or a user's folder / file
    sources = [inputs.curated, inputs.flags, inputs.clicks, inputs.augmented, inputs.images,
               getattr(inputs, "train", None), getattr(inputs, "evaluate", None), getattr(inputs, "export", None)]
    check_output(out_dir, "report", sources + [plots_dir, metrics_path])
    if plots_dir is not None:
        check_output(plots_dir, "report", sources + [out_dir, metrics_path], option="--plots")
    if metrics_path is not None:
        check_file_output(metrics_path, "report", sources + [out_dir, plots_dir], option="--metrics")
    data = collect(inputs)
    folders = {
        str(inputs.curated): Path(inputs.curated),
        str(inputs.flags): Path(inputs.flags),
        str(inputs.clicks): Path(inputs.clicks),
        str(inputs.augmented): Path(inputs.augmented),
    }
    identity = build_identity(params, data.curated.identity if data.curated else None, folders)
    ctx = BuildContext(data, params, identity)
    views = [s.build(ctx) for s in (sections if sections is not None else SECTIONS)]
    numbers = headline(data)
    html = render_html(
        title=params.report.title,
        kpis=kpis(numbers),
        sections=views,
        fingerprint=identity.fingerprint,
        version=__version__,
        sources=[
            ("curate", str(inputs.curated), data.curated is not None),
            ("flag", str(inputs.flags), data.flags is not None),
            ("clicks", str(inputs.clicks), data.clicks is not None),
            ("augment", str(inputs.augmented), data.augmented is not None),
            ("images", str(inputs.images), Path(inputs.images).is_dir()),
        ] + [(stage, str(path), Path(path).is_dir()) for stage, path in (("train", inputs.train), ("evaluate", inputs.evaluate),
                                                                      ("export", inputs.export))
             if path is not None],
    )
    out_dir = Path(out_dir)
    payload = html.encode("utf-8")
    with stage_output(out_dir, "report") as tmp:
        (tmp / INDEX).write_bytes(payload)
    if metrics_path is not None:
        write_json(metrics_path, stage_json("report", numbers))  # its key marks the file as ours
    if plots_dir is not None:
        with stage_output(plots_dir, "report", option="--plots") as tmp:
            for name, text in plot_tables(data, params).items():
                (tmp / name).write_text(text, encoding="utf-8")
    return ReportResult(
        html=out_dir / INDEX,
        metrics=Path(metrics_path) if metrics_path is not None else None,
        plots=Path(plots_dir) if plots_dir is not None else None,
        headline=numbers,
        fingerprint=identity.fingerprint,
        sections=[(v.id, v.available) for v in views],
        size_bytes=len(payload),
    )
