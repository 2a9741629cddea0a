"""Annotators' verdicts -> ``reviews/decisions.csv`` (``image_id,decision,note``), what curate reads.

A sample tagged ``reject`` or ``accept`` in the App becomes one row; its ``note`` field (if any)
the note. Rows are sorted by image_id, notes are single-line, so the file diffs well in git.

Images rejected in an earlier round leave the curated set, so the next review build no longer
has them: by default the rows of an existing ``--out`` for images that are not in the dataset
are carried over, so a decision is never lost by rebuilding. For images that are in the
dataset, the tags are the truth (removing a tag removes the row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portraitkit.curate.reviews import DECISIONS, HEADER, clean_note, read_decision_rows, render_decisions
from portraitkit.errors import UserError
from portraitkit.io import atomic_path
from portraitkit.outputs import check_file_output

__all__ = ["DECISIONS", "HEADER", "PullResult", "decisions_from_dataset", "pull", "read_existing", "render"]


@dataclass
class PullResult:
    rows: int
    from_dataset: int
    carried_over: int
    reject: int
    accept: int


def decisions_from_dataset(ds: Any) -> tuple[set[int], dict[int, tuple[str, str]]]:
    """(image ids in the dataset, image_id -> (decision, note) of the tagged ones)."""
    if not len(ds):
        return set(), {}
    ids = ds.values("image_id")
    tags = ds.values("tags")
    schema = ds.get_field_schema()
    notes = ds.values("note") if "note" in schema else [None] * len(ids)
    present: set[int] = set()
    out: dict[int, tuple[str, str]] = {}
    conflicts = []
    for image_id, sample_tags, note in zip(ids, tags, notes):
        if image_id is None:
            continue
        image_id = int(image_id)
        present.add(image_id)
        decided = sorted(set(sample_tags or []) & set(DECISIONS))
        if len(decided) > 1:
            conflicts.append(image_id)
        elif decided:
            out[image_id] = (decided[0], clean_note(note))
    if conflicts:
        conflicts.sort()
        raise UserError(
            f"dataset {ds.name!r}: image(s) {', '.join(map(str, conflicts[:10]))} tagged both reject and accept; "
            "remove one tag in the App and pull again"
        )
    return present, out


def read_existing(path: Path) -> dict[int, tuple[str, str]]:
    """The rows of an existing decisions file (curate's reader), or none."""
    return read_decision_rows(path) if path.exists() else {}


render = render_decisions  # the one writer of the file (curate.reviews)


def is_decisions_csv(path: Path) -> bool:
    """``path`` starts with the decisions header (a file ``pull`` may replace)."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(256)
    except OSError:
        return False
    return first.rstrip(b"\r\n").lstrip(b"\xef\xbb\xbf") == ",".join(HEADER).encode()


def pull(name: str, out: Path, merge: bool = True) -> PullResult:
    out = Path(out)
    # a file, never a folder; an existing file only when it is a decisions CSV (ours to rewrite)
    check_file_output(out, "review pull", option="--out", owned=is_decisions_csv)
    from portraitkit.annotate.review.database import load_dataset

    previous = read_existing(out) if merge else {}  # validate before touching the database
    ds = load_dataset(name)
    present, decided = decisions_from_dataset(ds)
    rows = {i: v for i, v in previous.items() if i not in present}
    carried = len(rows)
    rows.update(decided)
    text = render(rows)
    if not (out.is_file() and out.read_bytes() == text.encode("utf-8")):
        with atomic_path(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return PullResult(
        rows=len(rows),
        from_dataset=len(decided),
        carried_over=carried,
        reject=sum(1 for d, _ in rows.values() if d == "reject"),
        accept=sum(1 for d, _ in rows.values() if d == "accept"),
    )
