"""The hand labels of real COCO persons (``bench/labels/coco_person_coarseness*.csv``) and their split.

``label_half(annotation_id)`` is THE split (tuning / held-out) every bench and test uses: a salted
SHA-256 of the decimal annotation id, so it is stable, independent of the SHA-1 order the persons
were selected and labelled in (``make_label_sheets.stable_key``), and of which label files exist.
Flag params are chosen on ``tune`` only; ``heldout`` is only ever scored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

LABELS_DIR = Path(__file__).resolve().parent / "labels"
LABEL_GLOB = "coco_person_coarseness*.csv"
SPLIT_SALT = "portraitkit-flag-labels-v1:"
LABELS = ("COARSE", "FINE", "UNSURE")


def label_half(annotation_id: int) -> str:
    """``"tune"`` or ``"heldout"``: the parity of the first byte of SHA-256(salt + decimal id)."""
    digest = hashlib.sha256(f"{SPLIT_SALT}{int(annotation_id)}".encode()).digest()
    return "tune" if digest[0] % 2 == 0 else "heldout"


def load_labels(labels_dir: Path = LABELS_DIR) -> pd.DataFrame:
    """Every label file as one table (``annotation_id, image_id, source, label, note, half``), one row per id.

    An id labelled in two files must carry the same label (else ``ValueError``: the files disagree).
    """
    files = sorted(Path(labels_dir).glob(LABEL_GLOB))
    if not files:
        return pd.DataFrame(columns=["annotation_id", "image_id", "source", "label", "note", "half"])
    df = pd.concat([pd.read_csv(f, dtype={"note": str}) for f in files], ignore_index=True)
    df["label"] = df["label"].astype(str).str.strip().str.upper()
    bad = sorted(set(df["label"]) - set(LABELS))
    if bad:
        raise ValueError(f"{labels_dir}: unknown label(s) {bad}; known: {list(LABELS)}")
    clash = df.groupby("annotation_id")["label"].nunique()
    if (clash > 1).any():
        raise ValueError(f"{labels_dir}: annotation(s) {list(clash[clash > 1].index)} labelled differently in two files")
    df = df.drop_duplicates("annotation_id").sort_values("annotation_id").reset_index(drop=True)
    df["annotation_id"] = df["annotation_id"].astype("int64")
    df["half"] = df["annotation_id"].map(label_half)
    return df
