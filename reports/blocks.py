"""The report's building blocks: a section is a title and a list of blocks.

The template knows how to draw each block ``kind``; a new section (training, device…)
only builds blocks, it never touches the template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portraitkit.reports.gallery import GalleryItem


@dataclass
class Note:
    text: str
    tone: str = "info"  # info | missing | warn
    kind: str = "note"


@dataclass
class Paragraph:
    text: str
    kind: str = "paragraph"


@dataclass
class Figure:
    src: str
    alt: str
    caption: str = ""
    kind: str = "figure"


@dataclass
class FigureGrid:
    figures: list[Figure]
    kind: str = "figure_grid"


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""
    numeric: list[bool] | None = None  # right-align these columns
    muted_rows: list[bool] | None = None
    kind: str = "table"


@dataclass
class Gallery:
    items: list[GalleryItem]
    title: str = ""
    caption: str = ""
    empty: str = "nothing to show"
    kind: str = "gallery"


@dataclass
class Stats:
    """A row of small labelled numbers."""

    items: list[tuple[str, str]]
    kind: str = "stats"


@dataclass
class Legend:
    """Coloured swatches explaining an overlay: (css colour, shape 'dot'|'box'|'line', label)."""

    items: list[tuple[str, str, str]]
    kind: str = "legend"


@dataclass
class HashList:
    items: list[tuple[str, str]]
    title: str = ""
    empty: str = ""
    kind: str = "hashes"


@dataclass
class Details:
    summary: str
    text: str
    kind: str = "details"


@dataclass
class Fingerprint:
    value: str
    label: str = "dataset fingerprint"
    kind: str = "fingerprint"


@dataclass
class Columns:
    """Blocks side by side: each column is a list of blocks (stacks on narrow screens)."""

    columns: list[list[Any]]
    kind: str = "columns"


@dataclass
class Kpi:
    label: str
    value: str
    sub: str = ""
    href: str = ""


@dataclass
class SectionView:
    id: str
    title: str
    lead: str = ""
    blocks: list[Any] = field(default_factory=list)
    available: bool = True
    nav: str = ""  # short label for the navigation bar (defaults to the title)
