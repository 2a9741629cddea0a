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


# ---------------------------------------------------------------- real COCO persons to score
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
SOURCES = {"coco-mini": "instances.json", "coco-val-single-person": "person_keypoints.json"}


def labelled_folders(work: Path, labels: pd.DataFrame, realdata: Path = REALDATA) -> dict[str, tuple[Path, Path]]:
    """Per source: a flag-stage input folder (``train.json``) with the images of the labelled persons and
    EVERY annotation of those images (any category, crowd included: the occluders), and its images folder.

    Sources whose files are absent are left out.
    """
    import json

    out: dict[str, tuple[Path, Path]] = {}
    for source, fname in SOURCES.items():
        aids = set(labels.loc[labels["source"] == source, "annotation_id"].astype(int))
        src = Path(realdata) / source / fname
        if not aids or not src.exists():
            continue
        d = Path(work) / f"labelled-{source}"
        d.mkdir(parents=True, exist_ok=True)
        coco = json.loads(src.read_text())
        # the images that hold the labelled annotations (by the annotation's own image_id: a label row's
        # image_id may be mistyped, the annotation id is what was labelled)
        ids = {int(a["image_id"]) for a in coco["annotations"] if int(a["id"]) in aids}
        sub = {"images": [im for im in coco["images"] if int(im["id"]) in ids],
               "annotations": [a for a in coco["annotations"] if int(a["image_id"]) in ids],
               "categories": coco["categories"]}
        text = json.dumps(sub, sort_keys=True)
        f = d / "train.json"
        if not f.exists() or f.read_text() != text:
            f.write_text(text)
        out[source] = (d, Path(realdata) / source / "images")
    return out


def score_labelled(work: Path, labels: pd.DataFrame, params, workers: int = 1, realdata: Path = REALDATA) -> pd.DataFrame:
    """The flag stage's scorer (``run_flag``) on the labelled persons: flags.parquet rows joined with their labels."""
    from portraitkit.curate.coarseness.stage import run_flag

    parts = []
    for source, (d, images) in labelled_folders(work, labels, realdata).items():
        out = Path(work) / f"flags-labelled-{source}"
        run_flag(d, images, out, params, 1, workers)
        f = pd.read_parquet(out / "flags.parquet")
        parts.append(f.merge(labels[labels["source"] == source][["annotation_id", "source", "label", "note", "half"]],
                             on="annotation_id", how="inner"))
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True).sort_values("annotation_id").reset_index(drop=True)


def roc_auc(score, positive) -> float:
    """ROC AUC of ``score`` for ``positive`` (ties count half; NaN scores rank lowest); NaN without both classes."""
    import numpy as np

    s = np.nan_to_num(np.asarray(score, np.float64), nan=-1.0)
    y = np.asarray(positive, bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    gt = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(gt / (len(pos) * len(neg)))


def label_metrics(df: pd.DataFrame) -> dict:
    """Precision / recall of ``flagged`` (COARSE positive, UNSURE left out) and ROC AUC of ``coarseness``."""
    sure = df[df["label"].isin(["COARSE", "FINE"])]
    y = (sure["label"] == "COARSE").to_numpy()
    p = sure["flagged"].astype(bool).to_numpy()
    tp, fp, fn = int((y & p).sum()), int((~y & p).sum()), int((y & ~p).sum())
    return {"n": int(len(sure)), "unsure_left_out": int((df["label"] == "UNSURE").sum()), "coarse": int(y.sum()),
            "tp": tp, "fp": fp, "fn": fn,
            "precision": round(tp / (tp + fp), 4) if tp + fp else float("nan"),
            "recall": round(tp / (tp + fn), 4) if tp + fn else float("nan"),
            "auc": round(roc_auc(sure["coarseness"], y), 4),
            "unsure_flagged": int(df.loc[df["label"] == "UNSURE", "flagged"].sum())}
