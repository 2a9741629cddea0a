"""What ``review build --predictions DIR`` reads: a folder of ``<image_id>.png`` masks, or the
``portraitkit evaluate`` output folder (``predictions/<image_id>.png`` + ``per_image.parquet``, whose
``iou``, ``miou`` and ``boundary_iou`` become the samples' ``prediction_iou``, ``prediction_miou`` (mean of the
person and the background IoU) and ``prediction_biou``)."""

from __future__ import annotations

import math
from pathlib import Path

from portraitkit.errors import UserError
from portraitkit.io import read_parquet

SCORE_FIELDS = {"prediction_iou": "iou", "prediction_miou": "miou", "prediction_biou": "boundary_iou"}  # sample field -> per_image column


def read_predictions(folder: Path) -> tuple[Path, dict[int, dict[str, float | None]]]:
    """(folder of the mask PNGs, scores by image id; empty when ``folder`` is a plain mask folder)."""
    folder = Path(folder)
    table = folder / "per_image.parquet"
    if not table.is_file():
        return folder, {}
    pngs = folder / "predictions"
    if not pngs.is_dir():
        raise UserError(f"{folder}: has per_image.parquet but no predictions/ folder (an incomplete evaluate output?)")
    df = read_parquet(table)
    missing = [c for c in ("image_id", *SCORE_FIELDS.values()) if c not in df.columns]
    if missing:
        raise UserError(f"{table}: missing column(s) {', '.join(missing)}")
    scores: dict[int, dict[str, float | None]] = {}
    for row in df.to_dict("records"):
        scores[int(row["image_id"])] = {
            field: (None if row[col] is None or math.isnan(float(row[col])) else float(row[col]))
            for field, col in SCORE_FIELDS.items()
        }
    return pngs, scores
