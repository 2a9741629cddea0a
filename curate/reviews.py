"""Read review decisions (``image_id,decision,note``), the file ``review pull`` writes."""

from __future__ import annotations

import csv
from pathlib import Path

from portraitkit.errors import UserError

DECISIONS = ("accept", "reject")
HEADER = ["image_id", "decision", "note"]


def read_decisions(path: str | Path) -> dict[int, str]:
    """Map image_id -> decision. Errors name the file, the line and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise UserError(f"{path}: empty file (expected the header {','.join(HEADER)})")
    if [c.strip() for c in rows[0]] != HEADER:
        raise UserError(f"{path}: line 1: expected the header {','.join(HEADER)}, got {','.join(rows[0])}")
    decisions: dict[int, str] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 3:
            raise UserError(f"{path}: line {lineno}: expected 3 fields (image_id,decision,note), got {len(row)}")
        raw_id, decision, _note = (c.strip() for c in row)
        try:
            image_id = int(raw_id)
        except ValueError:
            raise UserError(f"{path}: line {lineno}: field 'image_id': not an integer: {raw_id!r}") from None
        if decision not in DECISIONS:
            raise UserError(f"{path}: line {lineno}: field 'decision': expected accept or reject, got {decision!r}")
        if image_id in decisions:
            raise UserError(f"{path}: line {lineno}: field 'image_id': duplicate decision for image {image_id}")
        decisions[image_id] = decision
    return decisions
