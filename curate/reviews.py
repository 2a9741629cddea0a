"""The review decisions file (``image_id,decision,note``): the one reader and writer.

``review pull`` writes it (``render_decisions``), ``curate --reviews`` and ``review build
--decisions`` read it (``read_decision_rows`` / ``read_decisions``). UTF-8 text (a BOM is
allowed), one header line, one row per image, sorted by image_id when written; notes are
single-line. Every problem is a one-line ``UserError`` naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from portraitkit.errors import UserError
from portraitkit.io import read_text

DECISIONS = ("accept", "reject")
HEADER = ["image_id", "decision", "note"]


def read_decision_rows(path: str | Path) -> dict[int, tuple[str, str]]:
    """Map image_id -> (decision, note). Errors name the file, the line and the field."""
    path = Path(path)
    text = read_text(path)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise UserError(f"{path}: not a CSV file ({exc})") from None
    if not rows:
        raise UserError(f"{path}: empty file (expected the header {','.join(HEADER)})")
    if [c.strip() for c in rows[0]] != HEADER:
        raise UserError(f"{path}: line 1: expected the header {','.join(HEADER)}, got {','.join(rows[0])}")
    decisions: dict[int, tuple[str, str]] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 3:
            raise UserError(f"{path}: line {lineno}: expected 3 fields (image_id,decision,note), got {len(row)}")
        raw_id, decision, note = (c.strip() for c in row)
        try:
            image_id = int(raw_id)
        except ValueError:
            raise UserError(f"{path}: line {lineno}: field 'image_id': not an integer: {raw_id!r}") from None
        if decision not in DECISIONS:
            raise UserError(f"{path}: line {lineno}: field 'decision': expected accept or reject, got {decision!r}")
        if image_id in decisions:
            raise UserError(f"{path}: line {lineno}: field 'image_id': duplicate decision for image {image_id}")
        decisions[image_id] = (decision, note)
    return decisions


def read_decisions(path: str | Path) -> dict[int, str]:
    """Map image_id -> decision (``read_decision_rows`` without the notes)."""
    return {i: d for i, (d, _) in read_decision_rows(path).items()}


def clean_note(note: object) -> str:
    """A note as one line (whitespace runs collapsed); None is empty."""
    return "" if note is None else " ".join(str(note).split())


def render_decisions(rows: dict[int, tuple[str, str]]) -> str:
    """The file's text: the header, then one row per image sorted by image_id."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    for image_id in sorted(rows):
        decision, note = rows[image_id]
        writer.writerow([image_id, decision, clean_note(note)])
    return buf.getvalue()
