"""Read the stage outputs into a plain data model for the report.

Every part is optional: a stage that has not run (its output folder is absent) leaves its
part as ``None`` and the report shows a short "stage not run" note for it. A stage output
that is present but malformed is a user error naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from portraitkit.errors import UserError
from portraitkit.io import read_json

from portraitkit.annotate.clicks.contract import CONTRACT as CLICKS
from portraitkit.augment.contract import CONTRACT as AUGMENT
from portraitkit.contracts import read_table
from portraitkit.curate.coarseness.contract import CONTRACT as FLAG
from portraitkit.curate.contract import CONTRACT as CURATE
from portraitkit.curate.outputs import SPLITS

PREFERRED_SIGNALS = ("n_vertices", "vertex_density", "hull_gap", "longest_edge_rel", "edge_alignment", "edge_contrast")


@dataclass(frozen=True)
class ReportInputs:
    """Where each stage output lives (paths as given on the command line)."""

    curated: Path = Path("data/curated")
    flags: Path = Path("data/flags")
    clicks: Path = Path("data/clicks")
    augmented: Path = Path("data/augmented")
    images: Path = Path("data/demo/images")
    # roots of the train / evaluate runs, one folder per run (None: not given, the section says so)
    train: Path | None = None
    evaluate: Path | None = None
    export: Path | None = None  # root of the export stage's outputs, one folder per model


@dataclass
class CocoIndex:
    """Images and annotations of the curated split files, by id."""

    images: dict[int, dict[str, Any]] = field(default_factory=dict)
    anns: dict[int, dict[str, Any]] = field(default_factory=dict)
    anns_by_image: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    categories: dict[int, str] = field(default_factory=dict)


@dataclass
class CuratedData:
    path: Path
    manifest: pd.DataFrame
    funnel: list[dict[str, Any]]
    coco: CocoIndex
    split_sizes: dict[str, int]
    identity: dict[str, Any] | None

    @property
    def kept(self) -> pd.DataFrame:
        return self.manifest[self.manifest["kept"].astype(bool)]

    def mask_path(self, image_id: int) -> Path | None:
        p = self.path / "masks" / f"{int(image_id)}.png"
        return p if p.is_file() else None


@dataclass
class FlagsData:
    path: Path
    flags: pd.DataFrame
    images: pd.DataFrame | None
    summary: dict[str, Any] | None

    @property
    def signal_columns(self) -> list[str]:
        """Numeric per-person signals besides the ids and the coarseness score itself."""
        skip = {"annotation_id", "image_id", "split", "coarseness", "flagged", "reasons"}
        cols = [
            c for c in self.flags.columns
            if c not in skip and pd.api.types.is_numeric_dtype(self.flags[c]) and not pd.api.types.is_bool_dtype(self.flags[c])
        ]
        # the signals that explain coarseness best first, then the rest in table order
        preferred = [c for c in PREFERRED_SIGNALS if c in cols]
        return preferred + [c for c in cols if c not in preferred]


@dataclass
class ClicksData:
    path: Path
    clicks: pd.DataFrame
    summary: dict[str, Any] | None


@dataclass
class AugmentedData:
    path: Path
    preview: Path | None
    records: pd.DataFrame | None
    n_variants: int | None
    summary: dict[str, Any] | None = None


@dataclass
class ReportData:
    inputs: ReportInputs
    curated: CuratedData | None
    flags: FlagsData | None
    clicks: ClicksData | None
    augmented: AugmentedData | None

    @property
    def coco(self) -> CocoIndex:
        return self.curated.coco if self.curated is not None else CocoIndex()


def as_list(value: Any) -> list[Any]:
    """Parquet list cells come back as numpy arrays (or None); give plain lists."""
    if value is None:
        return []
    if isinstance(value, float) and np.isnan(value):
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, str):
        return [value] if value else []
    return [value]


def reason_list(value: Any) -> list[str]:
    """Reasons stored as a list or as one ``;``-joined string, as a list of non-empty strings."""
    out: list[str] = []
    for v in as_list(value):
        out += [part.strip() for part in str(v).split(";") if part.strip()]
    return out


def points(value: Any) -> list[tuple[float, float]]:
    """A list of [x, y] pairs (clicks) as float tuples; tolerant of arrays of arrays."""
    out = []
    for p in as_list(value):
        p = as_list(p)
        if len(p) >= 2:
            out.append((float(p[0]), float(p[1])))
    return out


def _read_optional_json(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


def _load_coco(root: Path) -> tuple[CocoIndex, dict[str, int]]:
    index = CocoIndex()
    sizes: dict[str, int] = {}
    for split in SPLITS:
        path = root / f"{split}.json"
        if not path.is_file():
            continue
        coco = read_json(path)
        if not isinstance(coco, dict):
            raise UserError(f"{path}: expected a COCO object")
        imgs = coco.get("images") or []
        sizes[split] = len(imgs)
        for img in imgs:
            index.images[int(img["id"])] = img
        for ann in coco.get("annotations") or []:
            index.anns[int(ann["id"])] = ann
            index.anns_by_image.setdefault(int(ann["image_id"]), []).append(ann)
        for cat in coco.get("categories") or []:
            index.categories[int(cat["id"])] = str(cat.get("name", cat["id"]))
    for anns in index.anns_by_image.values():
        anns.sort(key=lambda a: int(a["id"]))
    return index, sizes


def collect_curated(root: Path) -> CuratedData | None:
    if not CURATE.path(root, "manifest").is_file():
        return None
    manifest = read_table(root, CURATE, "manifest")
    manifest = manifest.sort_values("image_id", kind="stable").reset_index(drop=True)
    funnel_path = root / "funnel.json"
    funnel = _read_optional_json(funnel_path) or []
    if not isinstance(funnel, list) or any(
        not isinstance(r, dict) or not {"rule", "dropped", "remaining"} <= set(r) for r in funnel
    ):
        raise UserError(f"{funnel_path}: expected a list of {{rule, dropped, remaining}} records")
    coco, sizes = _load_coco(root)
    if not sizes and "split" in manifest.columns:
        kept = manifest[manifest["kept"].astype(bool)]
        sizes = {s: int((kept["split"] == s).sum()) for s in SPLITS if (kept["split"] == s).any()}
    identity = _read_optional_json(root / "identity.json")
    return CuratedData(root, manifest, funnel, coco, sizes, identity)


def collect_flags(root: Path) -> FlagsData | None:
    if not FLAG.path(root, "flags").is_file():
        return None
    flags = read_table(root, FLAG, "flags")
    flags = flags.sort_values("annotation_id", kind="stable").reset_index(drop=True)
    images = read_table(root, FLAG, "images") if FLAG.path(root, "images").is_file() else None
    return FlagsData(root, flags, images, _read_optional_json(root / "summary.json"))


def collect_clicks(root: Path) -> ClicksData | None:
    if not CLICKS.path(root, "clicks").is_file():
        return None
    clicks = read_table(root, CLICKS, "clicks")
    order = [c for c in ("strategy", "annotation_id", "set_index") if c in clicks.columns]
    clicks = clicks.sort_values(order, kind="stable").reset_index(drop=True)
    return ClicksData(root, clicks, _read_optional_json(root / "summary.json"))


def collect_augmented(root: Path) -> AugmentedData | None:
    if not root.is_dir():
        return None
    preview = root / "preview.png"
    # the augment stage's declared per-variant table, no guessing of other names
    records = read_table(root, AUGMENT, "variants") if AUGMENT.path(root, "variants").is_file() else None
    n_variants = len(records) if records is not None else None
    if not preview.is_file() and records is None:
        return None
    summary = _read_optional_json(root / "summary.json")
    return AugmentedData(root, preview if preview.is_file() else None, records, n_variants, summary)


def collect(inputs: ReportInputs) -> ReportData:
    """Read every stage output that exists; missing ones are ``None``."""
    return ReportData(
        inputs=inputs,
        curated=collect_curated(Path(inputs.curated)),
        flags=collect_flags(Path(inputs.flags)),
        clicks=collect_clicks(Path(inputs.clicks)),
        augmented=collect_augmented(Path(inputs.augmented)),
    )
