"""Render the report's sections into one self-contained HTML page (jinja2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import jinja2

from portraitkit.reports.blocks import Kpi, SectionView

TEMPLATES = Path(__file__).parent / "templates"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["short"] = lambda h, n=12: str(h)[:n]
    return env


def render_html(
    *,
    title: str,
    kpis: Sequence[Kpi],
    sections: Sequence[SectionView],
    fingerprint: str,
    version: str,
    sources: Sequence[tuple[str, str, bool]],
    extra: dict[str, Any] | None = None,
) -> str:
    """The page. ``sources``: (stage, path, present) for the header's list of what was read."""
    template = environment().get_template("report.html.j2")
    return template.render(
        title=title,
        kpis=list(kpis),
        sections=list(sections),
        fingerprint=fingerprint,
        version=version,
        sources=list(sources),
        **(extra or {}),
    )
