"""Reading the curate stage's outputs: what every later stage starts from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from portraitkit.curate.split import SPLITS
from portraitkit.errors import UserError
from portraitkit.io import read_json

SPLIT_FILES = tuple(f"{split}.json" for split in SPLITS)

__all__ = ["SPLITS", "SPLIT_FILES", "read_split"]


def read_split(path: str | Path) -> dict[str, Any]:
    """One of curate's split files (train/val/test.json), checked to hold image and annotation lists."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
        data.get("annotations"), list
    ):
        raise UserError(f"{path}: not a COCO file (needs 'images' and 'annotations' lists)")
    return data
